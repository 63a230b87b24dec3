"""Chapter: looking inside a trained ConvNet: saliency, guided backprop, occlusion, class
visualization by gradient ascent, a fooling image, activations, and nearest neighbours in
feature space against pixel space.

Quick: a ConvNet trained for a few epochs on the 8x8 digits. Full: the chapter's ConvNet on
Fashion-MNIST (the digits when Fashion-MNIST is not on disk).
"""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, on_disk, register

QUICK = dict(dataset="digits", epochs=8, lr=3e-3, batch_size=32, schedule="cosine",
             model_kwargs={"channels": [16, 32]})
FULL = dict(dataset="fashion-mnist", epochs=10, lr=2e-3, batch_size=128, schedule="cosine",
            model_kwargs={"channels": [32, 64]})


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    import numpy as np

    from deepbasic.data import load_dataset
    from deepbasic.train.recipes import load_model, train_classifier
    from deepbasic.visualize import (activations, class_visualization, fooling_image,
                                     guided_backprop, neighbors, occlusion_map, saliency)
    from deepbasic.visualize.figures import (plot_activations, plot_fooling, plot_gradients,
                                             plot_images, plot_neighbors, plot_occlusion,
                                             plot_saliency)

    settings = dict(QUICK if quick or not on_disk() else FULL)
    root = os.path.join(out_dir, "visualize")
    run_dir = os.path.join(root, "run")
    r = train_classifier("convnet", out_dir=run_dir, progress=False, verbose=False, **settings)
    model, _ = load_model(os.path.join(run_dir, "last.safetensors"))
    data = load_dataset(settings["dataset"])
    classes = [str(c) for c in data.classes]
    x = data.test.x[:6].astype(np.float32)
    sal = saliency(model, x)
    plot_saliency(x, sal, os.path.join(root, "saliency.png"))
    plot_gradients(x, guided_backprop(model, x), os.path.join(root, "guided.png"))
    side = x.shape[-1]
    patch = max(2, side // 7)
    drop = occlusion_map(model, x[0], patch=patch, stride=1, per_pixel=True)
    plot_occlusion(x[0], drop, os.path.join(root, "occlusion.png"))
    targets = list(range(min(5, len(classes))))
    images = [class_visualization(model, t, shape=x.shape[1:], steps=60, seed=0).image
              for t in targets]
    plot_images(np.stack(images), os.path.join(root, "classes.png"),
                titles=[classes[t] for t in targets], title="class visualization")
    target = (int(data.test.y[0]) + 1) % len(classes)
    fool = fooling_image(model, x[0], target, lr=0.05, max_steps=300)
    plot_fooling(x[0], fool.image, os.path.join(root, "fooling.png"),
                 labels=(f"{classes[int(data.test.y[0])]}", f"fooled: {classes[fool.predicted]}"))
    plot_activations(activations(model, x[:1]), os.path.join(root, "activations.png"))
    nb = neighbors(model, x[:3], data.train.x[:1000].astype(np.float32), k=5)
    plot_neighbors(x[:3], data.train.x[:1000].astype(np.float32), nb,
                   os.path.join(root, "neighbors.png"))
    same = {space: float(np.mean(data.train.y[:1000][nb[space]] == data.test.y[:3, None]))
            for space in ("feature", "pixel") if space in nb}
    numbers = [
        ("model", f"ConvNet {settings['model_kwargs']['channels']} trained {r['epochs']} epochs "
                  f"on {settings['dataset']}: test accuracy {r['test_accuracy']:.4f}"),
        ("saliency", f"6 test images; the largest gradient is {sal.max():.3g}"),
        ("occlusion", f"a {patch}x{patch} grey patch: the class probability drops by up to "
                      f"{float(drop.max()):.3f}"),
        ("fooling image", f"{classes[int(data.test.y[0])]} -> {classes[target]}: "
                          + (f"fooled after {fool.steps} steps (probability "
                             f"{fool.probability:.3f})" if fool.success else
                             "not fooled within 300 steps")),
    ]
    for space, share in same.items():
        numbers.append((f"nearest neighbours in {space} space of the same class",
                        f"{share:.0%} (5 neighbours of 3 test images among 1,000)"))
    return ChapterResult(
        numbers=numbers,
        figures=[("visualize/saliency.png", "Saliency: |d score / d pixel|, max over channels"),
                 ("visualize/guided.png", "Guided backprop of the predicted class"),
                 ("visualize/occlusion.png", "Occlusion: drop of the class probability where the "
                                             "patch hides the image"),
                 ("visualize/classes.png", "Class visualization by gradient ascent (L2, blur, "
                                           "jitter)"),
                 ("visualize/fooling.png", "A fooling image and its (magnified) difference"),
                 ("visualize/activations.png", "Activations of each ReLU for one image"),
                 ("visualize/neighbors.png", "Nearest neighbours: feature space above, pixel "
                                             "space below")],
    )


register(Chapter(
    key="visualize",
    title="Visualizing what a network learned",
    idea=("Gradients with respect to the input show which pixels a decision depends on "
          "(saliency; guided backprop lets only positive signals through the ReLUs); hiding "
          "parts of the image shows the same by experiment (occlusion); gradient ascent on the "
          "input shows what a class or a neuron responds to, and how few steps fool the network; "
          "neighbours in the last hidden layer are semantic where pixel neighbours are not."),
    command="deepbasic visualize saliency --checkpoint runs/convnet/best.safetensors --index 0 1 2 "
            "--out saliency.png",
    run=run,
))
