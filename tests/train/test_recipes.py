"""Complete training recipes: the augmentation of deepbasic train --augment."""
import pytest


def test_augmentation_crops_and_flips_images_but_not_digits():
    from deepbasic.data.transforms import RandomCrop, RandomHorizontalFlip
    from deepbasic.train.recipes import augmentation

    steps = augmentation((1, 28, 28), "fashion-mnist").transforms
    assert isinstance(steps[0], RandomCrop) and steps[0].size == (28, 28)
    assert steps[0].padding == 4 and isinstance(steps[1], RandomHorizontalFlip)
    assert augmentation((3, 32, 32), "cifar10").transforms[0].padding == 4
    digits = augmentation((1, 8, 8), "digits").transforms
    assert len(digits) == 1 and digits[0].padding == 1  # a mirrored digit is another symbol
    with pytest.raises(ValueError, match=r"needs images \(C, H, W\)"):
        augmentation((64,), "digits")
