"""Selective search: class-agnostic region proposals by hierarchical grouping (for R-CNN).

Uijlings, van de Sande, Gevers and Smeulders, "Selective Search for Object Recognition", IJCV 2013.

The idea: objects come at every scale, and a good set of proposals is every region that appears
while an over-segmentation of the image is merged, bottom-up, into the whole image. One grouping
strategy runs as follows.

1. Over-segment the image with Felzenszwalb and Huttenlocher's graph-based method
   (``skimage.segmentation.felzenszwalb``; its ``scale`` is the paper's k, in units of a 0..255
   image) in some colour space. Each segment is an initial region r_i.
2. Describe each region by its size (pixels), its bounding box, a colour histogram C_i (25 bins
   per channel, L1-normalised over all channels) and a texture histogram T_i (10 bins for each of
   8 orientations for each channel, L1-normalised over all of them; see *Texture* below).
3. Neighbours are regions that touch (4-connectivity): found for all regions at once by comparing
   the label image with itself shifted one pixel right and one pixel down.
4. The similarity of neighbours i, j is a weighted sum (weights 0 or 1, chosen by the strategy's
   letters ``C``, ``T``, ``S``, ``F``) of, with A the image area in pixels,

   - colour  s_C = sum_k min(C_i^k, C_j^k)   (histogram intersection, in [0, 1]),
   - texture s_T = sum_k min(T_i^k, T_j^k),
   - size    s_S = 1 - (size_i + size_j) / A   (merge small regions first),
   - fill    s_F = 1 - (size(BB_ij) - size_i - size_j) / A   (BB_ij: the box around both;
     merge regions that fill each other's gaps first).
5. Repeatedly merge the most similar pair (a heap of pair similarities; entries of regions already
   merged away are skipped when popped) into a new region t: size_t = size_i + size_j, box = the
   union, histograms = the size-weighted average (C_t = (size_i C_i + size_j C_j) / size_t, the
   exact histogram of the union), neighbours = those of i and j. Compute t's similarity to each
   of its neighbours (one vectorised expression) and push them. Stop when no pair is left (the
   whole image is one region).

Every region of the hierarchy, the initial ones included, is a proposal.

Diversification and ranking
    A *strategy* is one (colour space, k, similarity) triple; the proposals of several strategies
    are combined. Within a strategy the paper ranks the regions by the hierarchy: the last region
    created (the whole image) has position 1, the one before it position 2, ... and the initial
    regions come last. To mix strategies, each region's position is multiplied by a random number
    in [0, 1) (from ``np.random.default_rng(seed)``, so the ranking is reproducible), all regions
    of all strategies are sorted by that value, and a box that is already in the list is dropped.
    Large regions thus come first, and a box proposed by several strategies tends to rank high.
    The modes follow the paper: ``"single"`` (HSV, k=100, C+T+S+F: 1 strategy), ``"fast"`` (HSV and
    Lab, k in {50, 100}, C+T+S+F and T+S+F: 8 strategies) and ``"quality"`` (HSV, Lab, rgI, H and
    I, k in {50, 100, 150, 300}, C+T+S+F, T+S+F, F and S: 80 strategies).

Colour spaces
    Every space is scaled to [0, 1] per channel so that one histogram binning and one Felzenszwalb
    ``scale`` fit all: ``rgb``; ``hsv`` (skimage's rgb2hsv); ``lab`` (L / 100, (a + 128) / 255,
    (b + 128) / 255); ``rgi`` (normalised r = R / (R + G + B), g = G / (R + G + B) and the
    intensity (R + G + B) / 3); ``h`` (the hue of HSV alone) and ``i`` (the intensity alone). The
    one-channel spaces give 25 colour bins and 80 texture bins per region.

Texture (our choice, after the paper)
    Gaussian derivatives with sigma = 1 of each channel, gx = dG/dx * I and gy = dG/dy * I
    (``scipy.ndimage.gaussian_filter`` with ``order``), steered to 8 orientations
    theta_o = o * 45 degrees, o = 0..7: r_o = max(0, cos(theta_o) gx + sin(theta_o) gy). The
    half-wave rectification keeps opposite orientations apart (a dark-to-light edge and a
    light-to-dark edge of the same direction are different texture), so the 8 orientations carry
    8 different responses. Each channel's responses are divided by their largest value in the
    image (so they lie in [0, 1]) and binned into 10 equal bins. A flat region puts all its mass
    in bin 0 of every orientation; an edge or a texture spreads it.

Vectorisation
    Features of all initial regions come from one ``np.bincount`` each: the flat index
    ``label * D + channel_bin`` over every pixel (and channel, and orientation) counts the
    histograms of all regions at once; boxes come from ``np.minimum.reduceat`` /
    ``np.maximum.reduceat`` over pixels sorted by label. The merge loop is sequential by nature
    (each merge changes the next choice); it does O(neighbours) vectorised work per merge.

Boxes
    Proposals are ``(x1, y1, x2, y2)`` float32 in pixels with an exclusive end: a region whose
    pixels span columns ``c0 .. c1`` and rows ``r0 .. r1`` gives ``(c0, r0, c1 + 1, r1 + 1)``, so
    ``x2 - x1`` is the width (pixel ``i`` covers ``[i, i + 1)``, the convention of
    :mod:`deepbasic.data.shapes`' ``(x, y, w, h)`` boxes: ``x2 = x + w``).

CPU only: a CuPy array or a Tensor on the GPU is copied to the host first.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

COLOUR_BINS = 25
TEXTURE_ORIENTATIONS = 8
TEXTURE_BINS = 10
TEXTURE_SIGMA = 1.0

#: Colour spaces and their number of channels.
COLOUR_SPACES = {"rgb": 3, "hsv": 3, "lab": 3, "rgi": 3, "h": 1, "i": 1}
SIMILARITY_LETTERS = "CTSF"

#: The paper's diversification strategies: colour spaces x Felzenszwalb k x similarities.
MODES = {
    "single": dict(colour_spaces=("hsv",), scales=(100,), similarities=("CTSF",)),
    "fast": dict(colour_spaces=("hsv", "lab"), scales=(50, 100), similarities=("CTSF", "TSF")),
    "quality": dict(colour_spaces=("hsv", "lab", "rgi", "h", "i"), scales=(50, 100, 150, 300),
                    similarities=("CTSF", "TSF", "F", "S")),
}

#: Felzenszwalb's smoothing (the paper's 0.8) and smallest segment in pixels (our default for small
#: images: the paper's min_size = k suits ~500 x 375 photographs, not 64 x 64 scenes).
DEFAULT_SIGMA = 0.8
DEFAULT_MIN_SIZE = 20


@dataclass(frozen=True)
class Strategy:
    """One grouping strategy.

    colour_space: a key of :data:`COLOUR_SPACES`; scale: Felzenszwalb's k (a 0..255 image's units:
    larger gives fewer, larger initial regions); similarity: letters of ``"CTSF"`` (colour,
    texture, size, fill), each a term of weight 1; sigma: Felzenszwalb's Gaussian smoothing;
    min_size: Felzenszwalb's smallest segment in pixels (None: the ``min_size`` given to
    :func:`selective_search`).
    """

    colour_space: str = "hsv"
    scale: float = 100.0
    similarity: str = "CTSF"
    sigma: float = DEFAULT_SIGMA
    min_size: int | None = None

    def __post_init__(self):
        if self.colour_space not in COLOUR_SPACES:
            raise ValueError(f"Strategy: unknown colour space {self.colour_space!r}; expected one "
                             f"of {', '.join(COLOUR_SPACES)}")
        _similarity_weights(self.similarity)
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"Strategy: scale must be a positive number, got {self.scale!r}")
        if not (np.isfinite(self.sigma) and self.sigma >= 0):
            raise ValueError(f"Strategy: sigma must be >= 0, got {self.sigma!r}")
        if self.min_size is not None:
            _check_int(self.min_size, "Strategy: min_size", 1)


def make_strategies(colour_spaces=("hsv",), scales=(100,), similarities=("CTSF",),
                    sigma: float = DEFAULT_SIGMA, min_size: int | None = None) -> list[Strategy]:
    """Every combination of the colour spaces, Felzenszwalb scales and similarities, as a list of
    :class:`Strategy` (colour space outermost, similarity innermost)."""
    return [Strategy(cs, float(k), sim, float(sigma), min_size)
            for cs in colour_spaces for k in scales for sim in similarities]


def mode_strategies(mode: str) -> list[Strategy]:
    """The strategies of a mode of :data:`MODES`: ``"single"`` (1), ``"fast"`` (8) or
    ``"quality"`` (80)."""
    if mode not in MODES:
        raise ValueError(f"selective_search: unknown mode {mode!r}; expected one of "
                         f"{', '.join(repr(m) for m in MODES)}")
    return make_strategies(**MODES[mode])


# ----------------------------------------------------------------------------------------------
# Input checking and colour spaces
# ----------------------------------------------------------------------------------------------

def _check_int(value, name, lowest):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lowest:
        raise ValueError(f"{name} must be an integer >= {lowest}, got {value!r}")
    return int(value)


def _similarity_weights(similarity: str) -> tuple[bool, bool, bool, bool]:
    if (not isinstance(similarity, str) or not similarity
            or any(c not in SIMILARITY_LETTERS for c in similarity)
            or len(set(similarity)) != len(similarity)):
        raise ValueError(f"similarity must be distinct letters of {SIMILARITY_LETTERS!r} (colour, "
                         f"texture, size, fill), e.g. 'CTSF'; got {similarity!r}")
    return tuple(c in similarity for c in SIMILARITY_LETTERS)


def as_hwc_image(image, where: str = "selective_search") -> np.ndarray:
    """Check an RGB image and return it as (H, W, 3) float64 in [0, 1].

    image: (3, H, W) or (H, W, 3) floating array (NumPy, CuPy or a Tensor) with values in [0, 1];
    (3, H, 3) is read as channels-first.
    """
    from deepbasic.backend import to_numpy
    from deepbasic.tensor import Tensor

    data = image.data if isinstance(image, Tensor) else image
    try:
        arr = to_numpy(data)
    except Exception as err:   # noqa: BLE001 - anything that is not an array
        raise TypeError(f"{where}: image must be an array, got {type(image).__name__}") from err
    if arr.ndim != 3 or 3 not in (arr.shape[0], arr.shape[-1]):
        raise ValueError(f"{where}: image must be (3, H, W) or (H, W, 3) RGB, got shape "
                         f"{tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.floating):
        hint = " (divide a uint8 image by 255)" if arr.dtype == np.uint8 else ""
        raise TypeError(f"{where}: image must be a floating array with values in [0, 1], got "
                        f"dtype {arr.dtype}{hint}")
    if arr.shape[0] == 3:
        arr = arr.transpose(1, 2, 0)
    height, width = arr.shape[:2]
    if height < 2 or width < 2:
        raise ValueError(f"{where}: image must be at least 2 x 2 pixels, got {height} x {width}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: image has NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"{where}: image values must lie in [0, 1], got min {lo:.4g}, max "
                         f"{hi:.4g}")
    return np.clip(arr, 0.0, 1.0, out=arr)


def convert_colour(rgb: np.ndarray, space: str) -> np.ndarray:
    """rgb (H, W, 3) float in [0, 1] -> (H, W, C) float64 in [0, 1] in a colour space of
    :data:`COLOUR_SPACES` (see the module docstring for each space's scaling)."""
    if space not in COLOUR_SPACES:
        raise ValueError(f"convert_colour: unknown colour space {space!r}; expected one of "
                         f"{', '.join(COLOUR_SPACES)}")
    rgb = np.asarray(rgb, np.float64)
    if space == "rgb":
        out = rgb
    elif space in ("hsv", "h"):
        from skimage.color import rgb2hsv

        out = rgb2hsv(rgb)
        if space == "h":
            out = out[..., :1]
    elif space == "lab":
        from skimage.color import rgb2lab

        lab = rgb2lab(rgb)
        out = np.stack([lab[..., 0] / 100.0, (lab[..., 1] + 128.0) / 255.0,
                        (lab[..., 2] + 128.0) / 255.0], axis=-1)
    else:
        total = rgb.sum(axis=-1, keepdims=True)
        intensity = total / 3.0
        if space == "i":
            out = intensity
        else:
            safe = np.where(total > 0, total, 1.0)
            chroma = np.where(total > 0, rgb[..., :2] / safe, 1.0 / 3.0)
            out = np.concatenate([chroma, intensity], axis=-1)
    return np.clip(out, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# Region features (all regions at once)
# ----------------------------------------------------------------------------------------------

def texture_bins(image: np.ndarray) -> np.ndarray:
    """Texture bin of every pixel, channel and orientation: image (H, W, C) in [0, 1] ->
    (C, 8, H, W) int64 in 0..9 (rectified steered Gaussian derivatives, see the module
    docstring)."""
    from scipy.ndimage import gaussian_filter

    chans = np.moveaxis(np.asarray(image, np.float64), -1, 0)                  # (C, H, W)
    gy = np.stack([gaussian_filter(c, TEXTURE_SIGMA, order=(1, 0)) for c in chans])
    gx = np.stack([gaussian_filter(c, TEXTURE_SIGMA, order=(0, 1)) for c in chans])
    theta = np.arange(TEXTURE_ORIENTATIONS) * (2 * np.pi / TEXTURE_ORIENTATIONS)
    resp = (np.cos(theta)[None, :, None, None] * gx[:, None]
            + np.sin(theta)[None, :, None, None] * gy[:, None])                 # (C, 8, H, W)
    np.maximum(resp, 0.0, out=resp)
    peak = resp.reshape(len(chans), -1).max(axis=1)
    resp /= np.where(peak > 0, peak, 1.0)[:, None, None, None]
    return np.minimum((resp * TEXTURE_BINS).astype(np.int64), TEXTURE_BINS - 1)


def _histograms(labels_flat: np.ndarray, n: int, bins: np.ndarray, nbins: int) -> np.ndarray:
    """L1-normalised histograms of all regions from one bincount.

    labels_flat: (P,) region of each pixel; bins: (G, P) bin in 0..nbins-1 of each pixel for each
    of G histogram groups (channels, or channel x orientation). Returns (n, G * nbins) float64,
    each row summing to 1.
    """
    groups = bins.shape[0]
    index = (labels_flat[None, :] * (groups * nbins)
             + np.arange(groups)[:, None] * nbins + bins.reshape(groups, -1))
    hist = np.bincount(index.ravel(), minlength=n * groups * nbins).reshape(n, groups * nbins)
    return hist / hist.sum(axis=1, keepdims=True)


class Regions(NamedTuple):
    """Features of the initial regions (n of them).

    sizes: (n,) int64 pixels; boxes: (n, 4) int64 ``(c0, r0, c1, r1)`` inclusive pixel bounds;
    colour: (n, C * 25) float64; texture: (n, C * 80) float64 (rows L1-normalised);
    pairs: (E, 2) int64 neighbour pairs ``i < j``, sorted.
    """

    sizes: np.ndarray
    boxes: np.ndarray
    colour: np.ndarray
    texture: np.ndarray
    pairs: np.ndarray


def region_features(image: np.ndarray, labels: np.ndarray, tex_bins: np.ndarray | None = None
                    ) -> Regions:
    """Sizes, boxes, colour and texture histograms and neighbour pairs of every region.

    image: (H, W, C) float in [0, 1] (the colour space the strategy works in); labels: (H, W) int
    region of each pixel, 0 .. n-1, every label present; tex_bins: :func:`texture_bins` of the
    image (computed when not given).
    """
    height, width, chans = image.shape
    flat = labels.ravel().astype(np.int64)
    n = int(flat.max()) + 1
    sizes = np.bincount(flat, minlength=n)
    if np.any(sizes == 0):
        raise ValueError("region_features: labels must be 0 .. n-1 with every label present")
    # Boxes: sort pixels by region, then min / max over each region's run.
    order = np.argsort(flat, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rows, cols = np.divmod(order, width)
    boxes = np.stack([np.minimum.reduceat(cols, starts), np.minimum.reduceat(rows, starts),
                      np.maximum.reduceat(cols, starts), np.maximum.reduceat(rows, starts)], 1)
    colour_bins = np.minimum((image * COLOUR_BINS).astype(np.int64), COLOUR_BINS - 1)
    colour = _histograms(flat, n, np.moveaxis(colour_bins, -1, 0).reshape(chans, -1), COLOUR_BINS)
    if tex_bins is None:
        tex_bins = texture_bins(image)
    texture = _histograms(flat, n, tex_bins.reshape(chans * TEXTURE_ORIENTATIONS, -1),
                          TEXTURE_BINS)
    return Regions(sizes.astype(np.int64), boxes.astype(np.int64), colour, texture,
                   neighbour_pairs(labels))


def neighbour_pairs(labels: np.ndarray) -> np.ndarray:
    """Pairs of regions that touch (4-connectivity): labels (H, W) int -> (E, 2) int64 ``i < j``,
    unique and sorted, from the label image compared with itself shifted right and down."""
    labels = np.asarray(labels, np.int64)
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    diff = a != b
    lo, hi = np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])
    n = int(labels.max()) + 1
    codes = np.unique(lo * n + hi)
    return np.stack([codes // n, codes % n], axis=1)


# ----------------------------------------------------------------------------------------------
# Hierarchical grouping
# ----------------------------------------------------------------------------------------------

class Hierarchy(NamedTuple):
    """The regions of one hierarchical grouping, in the order they were created.

    boxes: (R, 4) int64 ``(c0, r0, c1, r1)`` inclusive pixel bounds, the n initial regions first,
    then one per merge (R = 2n - 1 when the neighbour graph is connected); sizes: (R,) int64;
    merges: (R - n, 2) int64, the two regions merged into region ``n + m``.
    """

    boxes: np.ndarray
    sizes: np.ndarray
    merges: np.ndarray


def hierarchical_grouping(regions: Regions, image_area: int, similarity: str = "CTSF"
                          ) -> Hierarchy:
    """Merge the most similar neighbours until one region is left (Uijlings et al., Alg. 1).

    regions: :func:`region_features` of the initial regions; image_area: H * W pixels;
    similarity: letters of ``"CTSF"`` (see the module docstring for each term).
    """
    use_c, use_t, use_s, use_f = _similarity_weights(similarity)
    n = len(regions.sizes)
    cap = 2 * n - 1
    sizes = np.zeros(cap, np.int64)
    boxes = np.zeros((cap, 4), np.int64)
    colour = np.zeros((cap, regions.colour.shape[1]))
    texture = np.zeros((cap, regions.texture.shape[1]))
    sizes[:n], boxes[:n] = regions.sizes, regions.boxes
    colour[:n], texture[:n] = regions.colour, regions.texture
    area = float(image_area)

    def similarities(i, js):
        """Similarity of region(s) i to regions js: (len(js),) float64."""
        s = np.zeros(len(js))
        if use_c:
            s += np.minimum(colour[i], colour[js]).sum(axis=-1)
        if use_t:
            s += np.minimum(texture[i], texture[js]).sum(axis=-1)
        if use_s:
            s += 1.0 - (sizes[i] + sizes[js]) / area
        if use_f:
            lo = np.minimum(boxes[i, :2], boxes[js, :2])
            hi = np.maximum(boxes[i, 2:], boxes[js, 2:])
            box_area = np.prod(hi - lo + 1, axis=-1)
            s += 1.0 - (box_area - sizes[i] - sizes[js]) / area
        return s

    pairs = regions.pairs
    neighbours: list[set[int]] = [set() for _ in range(cap)]
    for i, j in pairs.tolist():
        neighbours[i].add(j)
        neighbours[j].add(i)
    # Heap of (-similarity, i, j): pop gives the most similar pair (ties: smallest ids).
    first = similarities(pairs[:, 0], pairs[:, 1]) if len(pairs) else np.zeros(0)
    heap = list(zip((-first).tolist(), pairs[:, 0].tolist(), pairs[:, 1].tolist()))
    heapq.heapify(heap)
    alive = np.zeros(cap, bool)
    alive[:n] = True
    merges = []
    t = n
    while heap:
        _, i, j = heapq.heappop(heap)
        if not (alive[i] and alive[j]):
            continue   # stale: one of them was merged already
        sizes[t] = sizes[i] + sizes[j]
        boxes[t, :2] = np.minimum(boxes[i, :2], boxes[j, :2])
        boxes[t, 2:] = np.maximum(boxes[i, 2:], boxes[j, 2:])
        colour[t] = (sizes[i] * colour[i] + sizes[j] * colour[j]) / sizes[t]
        texture[t] = (sizes[i] * texture[i] + sizes[j] * texture[j]) / sizes[t]
        alive[i] = alive[j] = False
        alive[t] = True
        merges.append((i, j))
        around = (neighbours[i] | neighbours[j]) - {i, j}
        neighbours[i] = neighbours[j] = set()
        for k in around:
            neighbours[k] -= {i, j}
            neighbours[k].add(t)
        neighbours[t] = around
        if around:
            ks = np.fromiter(sorted(around), np.int64, len(around))
            for s, k in zip((-similarities(t, ks)).tolist(), ks.tolist()):
                heapq.heappush(heap, (s, k, t))
        t += 1
    return Hierarchy(boxes[:t].copy(), sizes[:t].copy(),
                     np.array(merges, np.int64).reshape(-1, 2))


def segment(image: np.ndarray, scale: float, sigma: float = DEFAULT_SIGMA,
            min_size: int = DEFAULT_MIN_SIZE) -> np.ndarray:
    """Felzenszwalb-Huttenlocher over-segmentation: image (H, W, C) float in [0, 1] -> (H, W)
    int64 labels 0 .. n-1 (every label present)."""
    from skimage.segmentation import felzenszwalb

    labels = felzenszwalb(image, scale=float(scale), sigma=float(sigma), min_size=int(min_size),
                          channel_axis=-1)
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Selective search
# ----------------------------------------------------------------------------------------------

def selective_search(image, mode: str = "fast", min_size: int = DEFAULT_MIN_SIZE,
                     max_proposals: int | None = None, min_box_size: int = 1, seed: int = 0,
                     strategies=None) -> np.ndarray:
    """Region proposals of one image by selective search (Uijlings et al. 2013).

    image: (3, H, W) or (H, W, 3) float in [0, 1] (RGB); mode: ``"single"``, ``"fast"`` or
    ``"quality"`` (the paper's diversification strategies, see :data:`MODES`); min_size:
    Felzenszwalb's smallest initial segment in pixels (for strategies that do not set their own);
    max_proposals: keep at most this many of the top-ranked boxes (None: all); min_box_size: drop
    boxes narrower or shorter than this many pixels (1 keeps every box); seed: the random factor of
    the ranking; strategies: a list of :class:`Strategy` to use instead of the mode's.

    Returns (P, 4) float32 ``(x1, y1, x2, y2)`` boxes (exclusive end: ``x2 - x1`` is the width),
    distinct, best-ranked first (hierarchy position times a seeded random factor, see the module
    docstring).
    """
    rgb = as_hwc_image(image)
    min_size = _check_int(min_size, "selective_search: min_size", 1)
    min_box_size = _check_int(min_box_size, "selective_search: min_box_size", 1)
    if max_proposals is not None:
        max_proposals = _check_int(max_proposals, "selective_search: max_proposals", 0)
    seed = _check_int(seed, "selective_search: seed", 0)
    if strategies is None:
        strategies = mode_strategies(mode)
    else:
        strategies = list(strategies)
        if not strategies or not all(isinstance(s, Strategy) for s in strategies):
            raise ValueError("selective_search: strategies must be a non-empty list of Strategy")
    height, width = rgb.shape[:2]
    rng = np.random.default_rng(seed)
    converted, textures, segmented = {}, {}, {}
    all_boxes, all_rank = [], []
    for strategy in strategies:
        space = strategy.colour_space
        if space not in converted:
            converted[space] = convert_colour(rgb, space)
            textures[space] = texture_bins(converted[space])
        seg_key = (space, strategy.scale, strategy.sigma, strategy.min_size or min_size)
        if seg_key not in segmented:   # strategies differing only in similarity share it
            labels = segment(converted[space], strategy.scale, strategy.sigma, seg_key[3])
            segmented[seg_key] = region_features(converted[space], labels, textures[space])
        hierarchy = hierarchical_grouping(segmented[seg_key], height * width, strategy.similarity)
        count = len(hierarchy.sizes)
        position = np.arange(count, 0, -1, dtype=np.float64)   # last created -> 1
        all_rank.append(position * rng.random(count))
        all_boxes.append(hierarchy.boxes)
    boxes = np.concatenate(all_boxes)
    order = np.argsort(np.concatenate(all_rank), kind="stable")
    boxes = boxes[order]
    _, first = np.unique(boxes, axis=0, return_index=True)
    boxes = boxes[np.sort(first)]                                  # distinct, in rank order
    xyxy = np.concatenate([boxes[:, :2], boxes[:, 2:] + 1], axis=1)
    wh = xyxy[:, 2:] - xyxy[:, :2]
    xyxy = xyxy[(wh >= min_box_size).all(axis=1)]
    if max_proposals is not None:
        xyxy = xyxy[:max_proposals]
    return xyxy.astype(np.float32)


def selective_search_batch(images, **options) -> list[np.ndarray]:
    """:func:`selective_search` of each image of a batch: images (N, 3, H, W) or a sequence of
    images -> list of N (P_i, 4) float32 xyxy arrays (options as for :func:`selective_search`)."""
    return [selective_search(image, **options) for image in images]
