"""The quick ConvNet chapter: two runs on digits, their filters, curves and numbers."""
import os
import struct

from deepbasic.report.chapters import CHAPTERS


def _png_size(path):
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def test_quick_chapter(tmp_path):
    import importlib

    importlib.import_module("deepbasic.report.chapter_convnet")
    chapter = next(c for c in CHAPTERS if c.key == "convnet")
    result = chapter.run(str(tmp_path), True)
    numbers = dict(result.numbers)
    assert numbers["setup"].startswith("digits (359 test images), ConvNet channels [16, 32]")
    for label in ("test accuracy without augmentation",
                  "test accuracy with augmentation (random crops)"):
        assert float(numbers[label].split()[0]) > 0.8, (label, numbers[label])
    assert numbers["first layer"] == "16 filters of 1x3x3"
    assert [f for f, _ in result.figures] == [
        "convnet/plain/filters.png", "convnet/augment/filters.png",
        "convnet/plain/curves.png", "convnet/augment/curves.png"]
    for fname, _ in result.figures:
        width, height = _png_size(tmp_path / fname)
        assert width > 150 and height > 150
    for run in ("plain", "augment"):
        assert os.path.exists(tmp_path / "convnet" / run / "last.safetensors")
    assert chapter.command.startswith("deepbasic train convnet")
