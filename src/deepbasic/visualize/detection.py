"""Figures for localization, detection and segmentation: boxes with labels, masks as overlays.

    draw_boxes(image, boxes, labels, scores, class_names=names, ax=ax)
    save_detections(images, boxes_list, labels_list, scores_list, "dets.png", class_names=names,
                    true_boxes=true_boxes_list)
    save_masks(images, true_masks, pred_masks, "masks.png", class_names=names)

Conventions, shared with :mod:`deepbasic.vision.boxes`:

* Boxes are ``xyxy`` in continuous pixel coordinates: ``(x1, y1, x2, y2)`` with pixel column ``i``
  covering ``[i, i + 1)``, so the box ``(0, 0, 10, 10)`` outlines the first 10 x 10 pixels (the
  images are drawn with that extent). Convert COCO / shapes ``(x, y, w, h)`` boxes with
  :func:`deepbasic.vision.boxes.xywh_to_xyxy` first (``fmt="xywh"`` does it for you).
* ``labels`` index ``class_names``; class ``k`` always gets colour :func:`class_colour` ``(k)``
  (the same in every figure).
* Semantic masks use the scenes' convention (:mod:`deepbasic.data.shapes`): (H, W) integers,
  0 = background (drawn bare), ``k + 1`` = class ``k``; instance masks are (K, H, W) booleans with
  a label per mask. Masks are drawn as translucent overlays in the class colour, over the image
  shown in grey (so the overlay is not mixed with the objects' own colours).

Images are (3, H, W) or (H, W, 3) (or (H, W) grey) floats in [0, 1].
"""
from __future__ import annotations

import numpy as np

#: A fixed colour per class (RGB in [0, 1]): matplotlib's tab10 colours, class k gets entry
#: k mod 10.
PALETTE = (
    (0.122, 0.467, 0.706), (1.000, 0.498, 0.055), (0.173, 0.627, 0.173), (0.839, 0.153, 0.157),
    (0.580, 0.404, 0.741), (0.549, 0.337, 0.294), (0.890, 0.467, 0.761), (0.498, 0.498, 0.498),
    (0.737, 0.741, 0.133), (0.090, 0.745, 0.812),
)

_BOX_FORMATS = ("xyxy", "xywh")


def class_colour(k: int) -> tuple[float, float, float]:
    """The colour of class ``k`` (an RGB triple in [0, 1]); the same in every figure."""
    return PALETTE[int(k) % len(PALETTE)]


def _numpy(x) -> np.ndarray:
    """A Tensor's, CuPy's or NumPy's (or a list's) values as a NumPy array."""
    from deepbasic import backend
    from deepbasic.tensor import Tensor

    return backend.to_numpy(x.data if isinstance(x, Tensor) else x)


def _hwc(image, where: str) -> np.ndarray:
    """An image as an (H, W, 3) or (H, W) float array in [0, 1]."""
    img = _numpy(image).astype(np.float32)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3):
        raise ValueError(f"{where}: expected an image (3, H, W), (H, W, 3) or (H, W), got shape "
                         f"{np.shape(image)}")
    return np.clip(img, 0.0, 1.0)


def _boxes_xyxy(boxes, fmt: str, where: str) -> np.ndarray:
    if fmt not in _BOX_FORMATS:
        raise ValueError(f"{where}: fmt must be one of {_BOX_FORMATS}, got {fmt!r}")
    b = _numpy(boxes).astype(np.float64)
    if b.size == 0:
        b = b.reshape(0, 4)
    if b.ndim == 1 and b.shape == (4,):
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{where}: boxes must have shape (K, 4), got {b.shape}")
    if fmt == "xywh":
        b = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    return b


def _name(k: int, class_names) -> str:
    k = int(k)
    if class_names is not None and 0 <= k < len(class_names):
        return str(class_names[k])
    return f"class {k}"


def _show(ax, img: np.ndarray) -> None:
    h, w = img.shape[:2]
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1,
              interpolation="nearest", extent=(0, w, h, 0))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()


def draw_boxes(image, boxes, labels, scores=None, class_names=None, ax=None, fmt: str = "xyxy",
               linestyle: str = "-", show_image: bool = True, show_labels: bool = True,
               fontsize: float = 6.5):
    """Draw ``image`` and its boxes on a matplotlib ``ax`` (a new figure's when None); returns ax.

    boxes: (K, 4) in ``fmt`` (``"xyxy"`` default, or ``"xywh"``), pixels; labels: (K,) class
    indices (each box outlined in its class colour, with the class name, and the score when
    ``scores`` (K,) is given, written above it; ``show_labels=False`` leaves the text out);
    linestyle: e.g. ``"--"`` for ground truth; show_image: False draws only the boxes (to add
    them over an image already drawn).
    """
    from deepbasic.train.plots import _pyplot

    b = _boxes_xyxy(boxes, fmt, "draw_boxes")
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(b):
        raise ValueError(f"draw_boxes: {len(b)} boxes but {len(labels)} labels")
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(b):
            raise ValueError(f"draw_boxes: {len(b)} boxes but {len(scores)} scores")
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(3, 3))
    if show_image:
        _show(ax, _hwc(image, "draw_boxes"))
    from matplotlib.patches import Rectangle

    for i, (x1, y1, x2, y2) in enumerate(b):
        colour = class_colour(labels[i])
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour,
                               linewidth=1.4, linestyle=linestyle))
        if not show_labels:
            continue
        text = _name(labels[i], class_names)
        if scores is not None:
            text += f" {scores[i]:.2f}"
        ax.text(x1, y1, text, fontsize=fontsize, color="white", va="bottom", ha="left",
                bbox=dict(facecolor=colour, edgecolor="none", alpha=0.8, pad=0.8), clip_on=True)
    return ax


def mask_overlay(mask, alpha: float = 0.55) -> np.ndarray:
    """An RGBA image (H, W, 4) of a semantic mask (H, W) (0 = background, k + 1 = class k): each
    class pixel in its class colour with opacity ``alpha``, background fully transparent."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask_overlay: expected a semantic mask (H, W), got shape {m.shape}")
    m = m.astype(np.int64)
    table = np.zeros((max(int(m.max(initial=0)), 0) + 1, 4), np.float32)
    for k in range(1, len(table)):
        table[k, :3], table[k, 3] = class_colour(k - 1), alpha
    rgba = table[np.clip(m, 0, None)]
    rgba[m <= 0] = 0.0
    return rgba


def draw_mask(image, mask, ax=None, alpha: float = 0.6, show_image: bool = True,
              grey: bool = True):
    """Draw ``image`` with a semantic mask (H, W) (0 = background, k + 1 = class k) over it as a
    translucent overlay; returns the matplotlib ax. With ``grey`` (default) the image is shown in
    grey under the overlay, so the class colours are not mixed with the objects' own colours."""
    from deepbasic.train.plots import _pyplot

    m = np.asarray(mask)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(3, 3))
    if show_image:
        img = _hwc(image, "draw_mask")
        if img.shape[:2] != m.shape:
            raise ValueError(f"draw_mask: image {img.shape[:2]} and mask {m.shape} differ in size")
        _show(ax, img.mean(axis=-1) if grey and img.ndim == 3 else img)
    h, w = m.shape
    ax.imshow(mask_overlay(m, alpha), interpolation="nearest", extent=(0, w, h, 0))
    return ax


def draw_instance_masks(image, masks, labels, ax=None, alpha: float = 0.6, grey: bool = True):
    """Draw ``image`` with instance masks (K, H, W) bool over it, mask i in the colour of class
    ``labels[i]`` (later masks over earlier ones); returns the matplotlib ax."""
    masks = np.asarray(masks, dtype=bool)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if masks.ndim != 3 or len(masks) != len(labels):
        raise ValueError(f"draw_instance_masks: expected masks (K, H, W) with K labels, got "
                         f"masks {masks.shape} and {len(labels)} labels")
    semantic = np.zeros(masks.shape[1:], np.int64)
    for m, k in zip(masks, labels):
        semantic[m] = k + 1
    return draw_mask(image, semantic, ax=ax, alpha=alpha, grey=grey)


def _legend(fig, class_names, used) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=class_colour(k), edgecolor="none", label=_name(k, class_names))
               for k in sorted(used)]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=7,
                   frameon=False, bbox_to_anchor=(0.5, 0.0))


def save_detections(images, boxes_list, labels_list, scores_list=None, path: str = "detections.png",
                    class_names=None, true_boxes=None, true_labels=None, fmt: str = "xyxy",
                    cols: int = 4, title: str | None = None) -> str:
    """Images in a grid, each with its predicted boxes (solid, class colour, name and score) and,
    when ``true_boxes`` is given, the true boxes (dashed; in their class colour with
    ``true_labels``, else white). Writes a PNG at ``path`` and returns it.

    images: (N, 3, H, W) or (N, H, W, 3); boxes_list: N arrays (K_i, 4) in ``fmt`` (xyxy default);
    labels_list: N arrays (K_i,); scores_list: N arrays (K_i,) or None; true_boxes: N arrays
    (M_i, 4) in the same format, or None.
    """
    from deepbasic.train.plots import _pyplot, _save

    n = len(images)
    for what, seq in (("boxes_list", boxes_list), ("labels_list", labels_list),
                      ("scores_list", scores_list), ("true_boxes", true_boxes),
                      ("true_labels", true_labels)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"save_detections: {n} images but {len(seq)} entries in {what}")
    if n == 0:
        raise ValueError("save_detections: no images to draw")
    plt = _pyplot()
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows + 0.5), squeeze=False)
    used = set()
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        _show(ax, _hwc(images[i], "save_detections"))
        if true_boxes is not None:
            tb = _boxes_xyxy(true_boxes[i], fmt, "save_detections")
            if true_labels is not None:
                tl = np.asarray(true_labels[i], dtype=np.int64).reshape(-1)
                used.update(int(k) for k in tl)
                draw_boxes(None, tb, tl, None, class_names, ax, "xyxy", "--", show_image=False,
                           show_labels=False)
            else:
                from matplotlib.patches import Rectangle

                for x1, y1, x2, y2 in tb:
                    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                                           edgecolor="white", linewidth=1.2, linestyle="--"))
        labels = np.asarray(labels_list[i], dtype=np.int64).reshape(-1)
        used.update(int(k) for k in labels)
        draw_boxes(None, _boxes_xyxy(boxes_list[i], fmt, "save_detections"), labels,
                   None if scores_list is None else scores_list[i], class_names, ax, "xyxy",
                   show_image=False)
    _legend(fig, class_names, used)
    fig.suptitle(title or ("predicted boxes (solid)" + ("" if true_boxes is None
                                                         else ", true boxes (dashed)")),
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path)


def save_masks(images, true_masks, pred_masks=None, path: str = "masks.png", class_names=None,
               max_images: int = 8, title: str | None = None) -> str:
    """One row per image: the image, its true semantic mask and the predicted mask (either may be
    None, not both), each mask a translucent overlay in the class colours, with a legend of the
    classes shown. Writes a PNG at ``path`` and returns it.

    images: (N, 3, H, W) or (N, H, W, 3); true_masks, pred_masks: (N, H, W) ints (0 = background,
    k + 1 = class k, the name ``class_names[k]``); at most ``max_images`` rows are drawn.
    """
    from deepbasic.train.plots import _pyplot, _save

    columns = [(head, None if m is None else np.asarray(m))
               for head, m in (("ground truth", true_masks), ("predicted", pred_masks))]
    columns = [(head, m) for head, m in columns if m is not None]
    n = min(len(images), max_images)
    if n == 0:
        raise ValueError("save_masks: no images to draw")
    if not columns:
        raise ValueError("save_masks: give true_masks, pred_masks or both")
    for head, m in columns:
        if m.ndim != 3 or len(m) != len(images):
            raise ValueError(f"save_masks: expected {head} masks (N, H, W) for {len(images)} "
                             f"images, got shape {m.shape}")
    plt = _pyplot()
    ncols = 1 + len(columns)
    fig, axes = plt.subplots(n, ncols, figsize=(2.2 * ncols, 2.2 * n + 0.5), squeeze=False)
    used = set()
    for i in range(n):
        img = _hwc(images[i], "save_masks")
        _show(axes[i, 0], img)
        for j, (_, m) in enumerate(columns, start=1):
            draw_mask(img, m[i], ax=axes[i, j])
            used.update(int(v) - 1 for v in np.unique(m[i]) if v > 0)
    for j, head in enumerate(["image"] + [head for head, _ in columns]):
        axes[0, j].set_title(head, fontsize=8)
    _legend(fig, class_names, used)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.04 if n > 1 else 0.1, 1, 1))
    return _save(fig, path)
