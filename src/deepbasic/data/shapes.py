"""Shapes: seeded synthetic scenes of coloured shapes with full ground truth.

One generator feeds several chapters: image captioning now, and classification + localization,
detection and segmentation later. Each scene is a small RGB image (default 64 x 64) on a
textured, noisy background holding 1 .. ``max_objects`` shapes, and comes with

- ``labels`` (K,) int64: the class of each object (index into ``class_names``), in drawing order;
- ``boxes`` (K, 4) float32: ``(x, y, w, h)`` in pixels of the *visible* part of each object, the
  tightest box around its visible pixels (column ``x`` .. ``x + w - 1``, row ``y`` .. ``y + h - 1``;
  COCO's convention, where pixel ``i`` covers ``[i, i + 1)``);
- ``instance_masks`` (K, H, W) bool: the visible pixels of each object;
- ``mask`` (H, W) uint8: the semantic mask, 0 = background, ``label + 1`` for an object (later
  objects drawn over earlier ones);
- ``colours`` and ``sizes`` (K,) int64: the attributes (indices into ``colour_names`` and
  ``size_names``), plus ``extents`` (K,) float32 (the drawn size in pixels) and ``centres`` (K, 2)
  float32 (the centre ``(cx, cy)`` of each whole shape, occluded or not);
- ``captions``: reference captions, canonical first (the grammar is below).

Drawing
    Every shape is a boolean mask computed on the grid of pixel centres ``(col + 0.5, row + 0.5)``
    in one vectorized expression (no loop over pixels). The ``extent`` s is the side of the
    shape's bounding square: circle of diameter s, square of side s, upward triangle of base and
    height s, diamond of diagonal s, plus sign with arms s long and s/3 thick, and ellipse s wide
    and 0.55 s tall. A named size picks s uniformly from a range of fractions of the image side
    (:data:`SIZE_RANGES`; the ranges do not overlap). Whole shapes lie inside the image. Objects
    are drawn in order, later over earlier; a placement that would leave an earlier object less
    than ``min_visible`` (default half) of its pixels visible is resampled, and a scene whose
    objects cannot all be placed is drawn again.

Background
    A random grey level with a slight colour cast, plus ``texture`` times a smooth pattern (the
    mean of three random sinusoidal gratings, 1 to 4 cycles per image), plus Gaussian pixel noise
    of standard deviation ``noise`` over the whole image (objects too), clipped to [0, 1].

Randomness
    Scene ``i`` of ``generate_scenes(n, seed)`` is drawn by ``np.random.default_rng([seed, i])``,
    so it is the same whatever ``n`` (the first 100 of 1000 scenes are the 100 scenes of
    ``n=100``), and the layout (objects, positions, ground truth, captions) is drawn before the
    background, so changing ``noise`` or ``texture`` changes the pixels but not the layout.

Caption grammar (canonical)
    Objects are ordered left to right by the centre of their visible box (ties by the centre's
    row, then drawing order). Each is described as ``a <size> <colour> <shape>``; consecutive
    objects A, B (B the right one: dx = B.cx - A.cx >= 0, dy = B.cy - A.cy, rows growing down)
    are joined by ``left of`` when dx >= |dy|, otherwise by ``above`` when dy > 0 (A higher up)
    and ``below`` when dy < 0::

        a small red circle left of a large blue square above a small green triangle

    meaning "A left of B" and "B above C". The scene's ordering and relations are unambiguous:
    a scene where consecutive centres are closer than ``relation_margin`` in x, or where
    ``| dx - |dy| |`` is below it, is drawn again. Alternative references (for BLEU), after the
    canonical one and without repeats: the same with ``to the left of``; the objects listed right
    to left with the relations seen from the other side (``right of``, ``below``, ``above``), with
    ``right of`` and with ``to the right of``; and the objects joined by ``and``. All lowercase,
    space-separated, no punctuation; the words are :data:`CAPTION_VOCABULARY` (24 of them).
"""
from __future__ import annotations

import functools
import inspect
import os
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

CLASS_NAMES = ("circle", "square", "triangle", "diamond", "cross", "ellipse")

#: Named colours and their RGB values in [0, 1] (each object jitters its own copy slightly).
COLOURS = {
    "red": (0.90, 0.12, 0.10),
    "green": (0.10, 0.75, 0.20),
    "blue": (0.15, 0.30, 0.95),
    "yellow": (0.95, 0.88, 0.10),
    "purple": (0.60, 0.18, 0.80),
    "cyan": (0.10, 0.85, 0.90),
}
COLOUR_NAMES = tuple(COLOURS)

#: Named sizes: the range of the extent (bounding square side) as a fraction of min(H, W).
SIZE_RANGES = {"small": (0.14, 0.20), "medium": (0.24, 0.30), "large": (0.34, 0.42)}
SIZE_NAMES = tuple(SIZE_RANGES)
DEFAULT_SIZES = ("small", "large")

RELATION_WORDS = ("left", "right", "of", "above", "below", "to", "the", "and")
#: Every word any caption can hold (whatever the options), sorted.
CAPTION_VOCABULARY = tuple(sorted({"a", *CLASS_NAMES, *COLOUR_NAMES, *SIZE_NAMES, *RELATION_WORDS}))

_ELLIPSE_ASPECT = 0.55
_CROSS_THICKNESS = 1.0 / 3.0
_PLACEMENT_TRIES = 30
_SCENE_TRIES = 200
_MIN_SIDE = 16


# ----------------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates: X (1, W) = col + 0.5 and Y (H, 1) = row + 0.5, float32."""
    x = (np.arange(width, dtype=np.float32) + 0.5)[None, :]
    y = (np.arange(height, dtype=np.float32) + 0.5)[:, None]
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def shape_mask(shape: str, centre, extent: float, image_size) -> np.ndarray:
    """The pixels of one whole shape: (H, W) bool, True where a pixel's centre is inside it.

    shape: a name in :data:`CLASS_NAMES`; centre: ``(cx, cy)`` in pixels (x = column, y = row);
    extent: the side s of the shape's bounding square in pixels; image_size: ``(H, W)`` or an int.
    """
    height, width = _image_size(image_size)
    gx, gy = _grid(height, width)
    dx, dy = gx - np.float32(centre[0]), gy - np.float32(centre[1])   # (1, W), (H, 1)
    r = np.float32(extent / 2.0)
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return (np.abs(dx) <= r) & (np.abs(dy) <= r)
    if shape == "triangle":   # apex at (cx, cy - r), base from (cx - r, cy + r) to (cx + r, cy + r)
        return (dy <= r) & (2 * np.abs(dx) <= dy + r)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    if shape == "cross":
        t = r * np.float32(_CROSS_THICKNESS)
        ax, ay = np.abs(dx), np.abs(dy)
        return ((ax <= r) & (ay <= t)) | ((ay <= r) & (ax <= t))
    if shape == "ellipse":
        ry = r * np.float32(_ELLIPSE_ASPECT)
        return (dx / r) ** 2 + (dy / ry) ** 2 <= 1
    raise ValueError(f"shape_mask: unknown shape {shape!r}; expected one of {', '.join(CLASS_NAMES)}")


def tight_box(mask: np.ndarray) -> np.ndarray:
    """The tightest ``(x, y, w, h)`` box around a mask's True pixels: mask (H, W) -> (4,) float32.

    Column ``x`` .. ``x + w - 1`` and row ``y`` .. ``y + h - 1`` hold every True pixel. An empty
    mask gives ``(0, 0, 0, 0)``.
    """
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if cols.size == 0:
        return np.zeros(4, np.float32)
    return np.array([cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1], np.float32)


def _image_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        h = w = int(image_size)
    else:
        try:
            h, w = (int(v) for v in image_size)
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or a pair (H, W), got {image_size!r}") from None
    if h < _MIN_SIDE or w < _MIN_SIDE:
        raise ValueError(f"size must be at least {_MIN_SIDE} x {_MIN_SIDE} pixels, got {h} x {w}")
    return h, w


def _background(rng: np.random.Generator, height: int, width: int, texture: float) -> np.ndarray:
    """(3, H, W) float32: a grey level with a slight colour cast plus ``texture`` x gratings."""
    grey = rng.uniform(0.15, 0.45)
    cast = rng.uniform(0.85, 1.15, 3)
    image = np.empty((3, height, width), np.float32)
    image[:] = (grey * cast)[:, None, None]
    if texture > 0:
        gx, gy = _grid(height, width)
        pattern = np.zeros((height, width), np.float32)
        for _ in range(3):
            angle, cycles = rng.uniform(0, 2 * np.pi), rng.uniform(1, 4)
            phase = rng.uniform(0, 2 * np.pi)
            kx = np.float32(2 * np.pi * cycles * np.cos(angle) / width)
            ky = np.float32(2 * np.pi * cycles * np.sin(angle) / height)
            pattern += np.sin(kx * gx + ky * gy + np.float32(phase))
        tint = rng.uniform(0.5, 1.0, 3).astype(np.float32)
        image += np.float32(texture / 3) * tint[:, None, None] * pattern
    return image


# ----------------------------------------------------------------------------------------------
# Captions
# ----------------------------------------------------------------------------------------------

def _relation(a, b) -> str:
    """The relation "A <rel> B" for visible-box centres a, b with b.x >= a.x."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    if dx >= abs(dy):
        return "left of"
    return "above" if dy > 0 else "below"


_OPPOSITE = {"left of": "right of", "above": "below", "below": "above"}


def _left_to_right(boxes: np.ndarray) -> np.ndarray:
    """Object order by visible-box centre x, then centre y, then drawing order: (K,) int64."""
    cx, cy = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
    return np.lexsort((np.arange(len(boxes)), cy, cx))


def _relations_clear(boxes: np.ndarray, margin: float) -> bool:
    """True when the caption's order and relations do not hinge on less than ``margin`` pixels."""
    if len(boxes) < 2 or margin <= 0:
        return True
    centres = (boxes[:, :2] + boxes[:, 2:] / 2)[_left_to_right(boxes)]
    d = np.diff(centres, axis=0)
    return bool(np.all(d[:, 0] >= margin) and np.all(np.abs(d[:, 0] - np.abs(d[:, 1])) >= margin))


def scene_captions(labels, colours, sizes, boxes, class_names=CLASS_NAMES,
                   colour_names=COLOUR_NAMES, size_names=SIZE_NAMES) -> list[str]:
    """Reference captions of a scene, canonical first (the grammar is in the module docstring).

    labels, colours, sizes: (K,) int indices into the name lists; boxes: (K, 4) visible
    ``(x, y, w, h)``. Returns a list of distinct lowercase captions.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        raise ValueError("scene_captions: a scene needs at least one object, got 0")
    order = _left_to_right(boxes)
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    phrases = [f"a {size_names[sizes[i]]} {colour_names[colours[i]]} {class_names[labels[i]]}"
               for i in order]
    relations = [_relation(centres[a], centres[b]) for a, b in zip(order[:-1], order[1:])]

    def chain(words, rels):
        out = [words[0]]
        for rel, w in zip(rels, words[1:]):
            out += [rel, w]
        return " ".join(out)

    canonical = chain(phrases, relations)
    backwards = chain(phrases[::-1], [_OPPOSITE[r] for r in relations[::-1]])
    references = [
        canonical,
        canonical.replace("left of", "to the left of"),
        backwards,
        backwards.replace("right of", "to the right of"),
        " and ".join(phrases),
    ]
    return list(dict.fromkeys(references))


# ----------------------------------------------------------------------------------------------
# Scenes
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class Scene:
    """One scene and its ground truth (K objects, in drawing order; see the module docstring).

    image: (3, H, W) float32 in [0, 1]; labels, colours, sizes: (K,) int64; boxes: (K, 4) float32
    visible ``(x, y, w, h)``; instance_masks: (K, H, W) bool visible pixels; mask: (H, W) uint8
    semantic mask (0 = background, label + 1); extents: (K,) float32 pixels; centres: (K, 2)
    float32 ``(cx, cy)`` of the whole shapes; captions: references, canonical first.
    """

    image: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    mask: np.ndarray
    instance_masks: np.ndarray
    colours: np.ndarray
    sizes: np.ndarray
    extents: np.ndarray
    centres: np.ndarray
    captions: list[str]
    class_names: tuple[str, ...] = CLASS_NAMES
    colour_names: tuple[str, ...] = COLOUR_NAMES
    size_names: tuple[str, ...] = SIZE_NAMES

    @property
    def caption(self) -> str:
        """The canonical caption."""
        return self.captions[0]

    @property
    def num_objects(self) -> int:
        return len(self.labels)

    def describe(self) -> list[str]:
        """``"<size> <colour> <shape>"`` of each object, in drawing order."""
        return [f"{self.size_names[s]} {self.colour_names[c]} {self.class_names[k]}"
                for k, c, s in zip(self.labels, self.colours, self.sizes)]

    def __repr__(self) -> str:
        return f"Scene({self.image.shape[1]}x{self.image.shape[2]}, {self.caption!r})"


@dataclass(frozen=True, repr=False)
class Scenes:
    """A batch of n scenes: ``images`` (n, 3, H, W) float32 in [0, 1], ``masks`` (n, H, W) uint8,
    and per-scene lists (scene i has K_i objects): ``labels`` [(K_i,) int64], ``boxes``
    [(K_i, 4) float32], ``instance_masks`` [(K_i, H, W) bool], ``colours`` / ``sizes``
    [(K_i,) int64], ``extents`` [(K_i,) float32], ``centres`` [(K_i, 2) float32], ``captions``
    [list of str, canonical first]. ``scenes[i]`` is a :class:`Scene`; ``scenes[a:b]`` a
    :class:`Scenes`. ``options`` records how they were generated.
    """

    images: np.ndarray
    masks: np.ndarray
    labels: list
    boxes: list
    instance_masks: list
    colours: list
    sizes: list
    extents: list
    centres: list
    captions: list
    class_names: tuple[str, ...]
    colour_names: tuple[str, ...]
    size_names: tuple[str, ...]
    options: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Scenes(self.images[index], self.masks[index], self.labels[index],
                          self.boxes[index], self.instance_masks[index], self.colours[index],
                          self.sizes[index], self.extents[index], self.centres[index],
                          self.captions[index], self.class_names, self.colour_names,
                          self.size_names, dict(self.options))
        i = range(len(self))[index]
        return Scene(self.images[i], self.labels[i], self.boxes[i], self.masks[i],
                     self.instance_masks[i], self.colours[i], self.sizes[i], self.extents[i],
                     self.centres[i], self.captions[i], self.class_names, self.colour_names,
                     self.size_names)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def canonical_captions(self) -> list[str]:
        """The canonical caption of each scene: a list of n strings."""
        return [c[0] for c in self.captions]

    @property
    def num_objects(self) -> np.ndarray:
        """(n,) int64: objects per scene."""
        return np.array([len(k) for k in self.labels], np.int64)

    @property
    def vocabulary(self) -> list[str]:
        """The words these scenes' captions can use (given their names), sorted."""
        return sorted({"a", *self.class_names, *self.colour_names, *self.size_names, *RELATION_WORDS})

    def __repr__(self) -> str:
        h, w = self.images.shape[2:] if self.images.ndim == 4 else (0, 0)
        return (f"Scenes(n={len(self)}, size={h}x{w}, objects={int(self.num_objects.sum())}, "
                f"classes={len(self.class_names)})")


def _names(given, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    if given is None:
        return known
    names = (given,) if isinstance(given, str) else tuple(given)
    unknown = [n for n in names if n not in known]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"{what} must be distinct names from {', '.join(known)}; got {list(names)}")
    return names


def _check_options(min_objects, max_objects, noise, texture, min_visible, colour_jitter,
                   relation_margin):
    for name, value in (("min_objects", min_objects), ("max_objects", max_objects)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f"need 1 <= min_objects <= max_objects, got min_objects={min_objects}, "
                         f"max_objects={max_objects}")
    if max_objects > 8:
        raise ValueError(f"max_objects must be at most 8 (they must fit, each partly visible), "
                         f"got {max_objects}")
    for name, value in (("noise", noise), ("texture", texture), ("colour_jitter", colour_jitter),
                        ("relation_margin", relation_margin)):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
    if not 0 <= min_visible <= 1:
        raise ValueError(f"min_visible must be in [0, 1], got {min_visible!r}")


def _layout(rng, k, height, width, cfg):
    """Draw and place k objects (attributes, extent, colour, position).

    Returns a dict of per-object lists (labels, colours, sizes, extents, centres, rgb, full and
    visible masks), or None when an object found no place leaving the others ``min_visible``.
    """
    side = min(height, width)
    shapes, colours, sizes = cfg["classes"], cfg["colours"], cfg["sizes"]
    out = {key: [] for key in ("labels", "colours", "sizes", "extents", "centres", "rgb", "full",
                               "visible", "areas")}
    for _ in range(k):
        label = int(rng.integers(len(shapes)))
        colour = int(rng.integers(len(colours)))
        size = int(rng.integers(len(sizes)))
        lo, hi = SIZE_RANGES[sizes[size]]
        extent = float(rng.uniform(lo, hi) * side)
        jitter = cfg["colour_jitter"] * rng.uniform(-1, 1, 3)
        rgb = np.clip(np.asarray(COLOURS[colours[colour]]) + jitter, 0, 1).astype(np.float32)
        r = extent / 2
        for _ in range(_PLACEMENT_TRIES):
            centre = (float(rng.uniform(r, width - r)), float(rng.uniform(r, height - r)))
            m = shape_mask(shapes[label], centre, extent, (height, width))
            if all(np.count_nonzero(v & ~m) >= cfg["min_visible"] * a
                   for v, a in zip(out["visible"], out["areas"])):
                break
        else:
            return None
        for v in out["visible"]:
            v &= ~m
        for key, value in (("labels", label), ("colours", colour), ("sizes", size),
                           ("extents", extent), ("centres", centre), ("rgb", rgb), ("full", m),
                           ("visible", m.copy()), ("areas", int(np.count_nonzero(m)))):
            out[key].append(value)
    if min(np.count_nonzero(v) for v in out["visible"]) == 0:
        return None
    return out


def _one_scene(rng, height, width, cfg) -> Scene:
    """Draw one scene: the layout first (resampled until valid), then background and noise."""
    lo, hi = cfg["min_objects"], cfg["max_objects"]
    margin = cfg["relation_margin"] * min(height, width)
    k = int(rng.integers(lo, hi + 1))   # drawn once: retrying it would favour fewer objects
    for _ in range(_SCENE_TRIES):
        placed = _layout(rng, k, height, width, cfg)
        if placed is None:
            continue
        boxes = np.stack([tight_box(v) for v in placed["visible"]])
        if _relations_clear(boxes, margin):
            break
    else:
        raise RuntimeError(
            f"generate_scenes: could not place {k} objects with min_visible="
            f"{cfg['min_visible']} and relation_margin={cfg['relation_margin']} in "
            f"{_SCENE_TRIES} tries; use fewer objects, smaller sizes or a larger image")
    image = _background(rng, height, width, cfg["texture"])
    semantic = np.zeros((height, width), np.uint8)
    for label, m, rgb in zip(placed["labels"], placed["full"], placed["rgb"]):
        image[:, m] = rgb[:, None]
        semantic[m] = label + 1
    if cfg["noise"] > 0:
        image += np.float32(cfg["noise"]) * rng.standard_normal(image.shape, dtype=np.float32)
    np.clip(image, 0, 1, out=image)
    labels = np.array(placed["labels"], np.int64)
    colours, sizes = np.array(placed["colours"], np.int64), np.array(placed["sizes"], np.int64)
    captions = scene_captions(labels, colours, sizes, boxes, cfg["classes"], cfg["colours"],
                              cfg["sizes"])
    return Scene(image, labels, boxes, semantic, np.stack(placed["visible"]), colours, sizes,
                 np.array(placed["extents"], np.float32),
                 np.array(placed["centres"], np.float32).reshape(-1, 2), captions,
                 cfg["classes"], cfg["colours"], cfg["sizes"])


def _config(size, min_objects, max_objects, num_objects, classes, colours, sizes, noise, texture,
            min_visible, colour_jitter, relation_margin) -> tuple[int, int, dict]:
    """Check the options of :func:`generate_scenes`; returns ``(H, W, cfg)``."""
    if num_objects is not None:
        min_objects = max_objects = num_objects
    _check_options(min_objects, max_objects, noise, texture, min_visible, colour_jitter,
                   relation_margin)
    height, width = _image_size(size)
    cfg = dict(classes=_names(classes, CLASS_NAMES, "classes"),
               colours=_names(colours, COLOUR_NAMES, "colours"),
               sizes=_names(sizes, SIZE_NAMES, "sizes"),
               min_objects=int(min_objects), max_objects=int(max_objects), noise=float(noise),
               texture=float(texture), min_visible=float(min_visible),
               colour_jitter=float(colour_jitter), relation_margin=float(relation_margin))
    return height, width, cfg


def generate_scenes(n: int, seed: int = 0, size=64, min_objects: int = 1, max_objects: int = 3,
                    num_objects: int | None = None, classes=None, colours=None,
                    sizes=DEFAULT_SIZES, noise: float = 0.03, texture: float = 0.1,
                    min_visible: float = 0.5, colour_jitter: float = 0.04,
                    relation_margin: float = 0.04) -> Scenes:
    """Generate n scenes with their ground truth (see the module docstring for every field).

    n: how many; seed: scene i comes from ``default_rng([seed, i])``; size: image side, or
    ``(H, W)`` (at least 16); min_objects .. max_objects: objects per scene, uniform (or
    ``num_objects`` for exactly that many; 1 gives single-object scenes); classes, colours,
    sizes: the names to draw from (defaults: all classes and colours, ``("small", "large")``;
    labels index into the names given, in their order); noise: std of Gaussian pixel noise;
    texture: amplitude of the background pattern; min_visible: the least fraction of each
    object's pixels left visible by the objects drawn over it; colour_jitter: the largest change
    of each RGB channel from the named colour; relation_margin: the least gap, as a fraction of
    the image side, that the caption's order and relations may hinge on (0 allows any).

    Returns :class:`Scenes` with images (n, 3, H, W) float32 in [0, 1] and masks (n, H, W) uint8.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    _check_seed(seed)
    height, width, cfg = _config(size, min_objects, max_objects, num_objects, classes, colours,
                                 sizes, noise, texture, min_visible, colour_jitter, relation_margin)
    scenes = [_one_scene(np.random.default_rng([int(seed), i]), height, width, cfg)
              for i in range(int(n))]
    images = (np.stack([s.image for s in scenes]) if scenes
              else np.zeros((0, 3, height, width), np.float32))
    masks = (np.stack([s.mask for s in scenes]) if scenes
             else np.zeros((0, height, width), np.uint8))
    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}
    options.update(seed=int(seed), size=[height, width])
    return Scenes(images, masks, [s.labels for s in scenes], [s.boxes for s in scenes],
                  [s.instance_masks for s in scenes], [s.colours for s in scenes],
                  [s.sizes for s in scenes], [s.extents for s in scenes],
                  [s.centres for s in scenes], [s.captions for s in scenes], cfg["classes"],
                  cfg["colours"], cfg["sizes"], options)


def generate_scene(seed: int = 0, index: int = 0, **options) -> Scene:
    """Scene ``index`` of ``generate_scenes(n, seed, **options)`` (the same for any n > index),
    drawn on its own."""
    _check_seed(seed)
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or index < 0:
        raise ValueError(f"generate_scene: index must be a non-negative integer, got {index!r}")
    bound = inspect.signature(generate_scenes).bind(0, seed, **options)
    bound.apply_defaults()
    args = {k: v for k, v in bound.arguments.items() if k not in ("n", "seed")}
    height, width, cfg = _config(**args)
    return _one_scene(np.random.default_rng([int(seed), int(index)]), height, width, cfg)


def _check_seed(seed):
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


class SingleObjectData(NamedTuple):
    """Single-object scenes for classification + localization.

    images: (n, 3, H, W) float32 in [0, 1]; labels: (n,) int64 class indices; boxes: (n, 4)
    float32 ``(x, y, w, h)`` tight around the object's pixels (the whole object: nothing covers it).
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray


def single_object_dataset(n: int, seed: int = 0, size=64, **options) -> SingleObjectData:
    """n single-object scenes as arrays ``(images, labels, boxes)``; ``options`` as for
    :func:`generate_scenes` (classes, colours, sizes, noise, texture, colour_jitter)."""
    for key in ("min_objects", "max_objects", "num_objects"):
        if key in options:
            raise TypeError(f"single_object_dataset: {key} is fixed at 1")
    scenes = generate_scenes(n, seed=seed, size=size, num_objects=1, **options)
    labels = np.array([k[0] for k in scenes.labels], np.int64)
    boxes = (np.stack([b[0] for b in scenes.boxes]) if len(scenes) else np.zeros((0, 4), np.float32))
    return SingleObjectData(scenes.images, labels, boxes)


# ----------------------------------------------------------------------------------------------
# Export: PNGs + COCO JSON
# ----------------------------------------------------------------------------------------------

def _write_png(path: str, array: np.ndarray) -> None:
    """Write a uint8 (H, W) or (H, W, 3) array as a PNG, atomically (Pillow, else matplotlib)."""
    from deepbasic.serialization import atomic_write

    with atomic_write(path) as f:
        try:
            from PIL import Image
        except ImportError:
            import matplotlib.image

            if array.ndim == 2:   # matplotlib would colour-map a 2-D array; keep the values
                array = np.repeat(array[:, :, None], 3, axis=2)
            matplotlib.image.imsave(f, array, format="png")
        else:
            Image.fromarray(array).save(f, format="PNG")


def export_dataset(directory, n: int, seed: int = 0, **options) -> Scenes:
    """Generate n scenes and save them as a dataset folder; returns the scenes.

    Writes ``images/000000.png`` ... (RGB, 8 bits), ``masks/000000.png`` ... (8-bit grey, the
    semantic mask values: 0 = background, label + 1), ``instances.json`` (COCO instances, with
    uncompressed RLE masks) and ``captions.json`` (COCO captions, every reference). Image ids are
    ``i + 1``. Every file is written atomically. ``options`` as for :func:`generate_scenes`.
    """
    from deepbasic.data.coco import save_coco

    scenes = generate_scenes(n, seed=seed, **options)
    directory = os.fspath(directory)
    names = [f"{i:06d}.png" for i in range(len(scenes))]
    pixels = np.round(scenes.images.transpose(0, 2, 3, 1) * 255).astype(np.uint8)
    for name, rgb, mask in zip(names, pixels, scenes.masks):
        _write_png(os.path.join(directory, "images", name), rgb)
        _write_png(os.path.join(directory, "masks", name), mask)
    save_coco(scenes, os.path.join(directory, "instances.json"),
              captions_path=os.path.join(directory, "captions.json"),
              file_names=[f"images/{name}" for name in names])
    return scenes


#: seeds of the train, validation and test scenes made by :func:`scene_splits`
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}


def scene_splits(train: int, val: int, test: int, size=64, generator=None, **options) -> dict:
    """Train, validation and test :class:`Scenes` of ``train``, ``val`` and ``test`` scenes,
    drawn with the seeds of ``SPLIT_SEEDS`` (0, 1, 2), so no test scene is ever trained on.
    generator: ``generate_scenes`` (the default) or ``single_object_dataset`` (then the sets are
    :class:`SingleObjectData`); ``options`` are passed to it. Returns ``{"train": ..., "val":
    ..., "test": ...}``."""
    counts = {"train": train, "val": val, "test": test}
    for name, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"scene_splits: {name} must be a positive number of scenes, got {n!r}")
    generator = generate_scenes if generator is None else generator
    return {name: generator(int(n), seed=SPLIT_SEEDS[name], size=size, **options)
            for name, n in counts.items()}
