"""COCO-format annotation files: export of the shapes scenes, and loaders for instances and captions.

The two COCO JSON formats used here:

- **instances** (detection / segmentation)::

    {"images": [{"id", "file_name", "height", "width"}, ...],
     "annotations": [{"id", "image_id", "category_id", "bbox": [x, y, w, h], "area",
                      "iscrowd": 0, "segmentation": RLE or polygons}, ...],
     "categories": [{"id", "name", "supercategory"}, ...]}

  ``bbox`` is in pixels with pixel ``i`` covering ``[i, i + 1)``, so a box tight around columns
  ``x0 .. x1`` has ``x = x0`` and ``w = x1 - x0 + 1``.
- **captions** (the classic captioning files)::

    {"images": [{"id", "file_name", ...}], "annotations": [{"id", "image_id", "caption"}, ...]}

Masks are written as run-length encodings (RLE) in COCO's convention: the mask (H, W) is read in
column-major order (down the first column, then the second, ...), and ``counts`` alternates the
lengths of runs of 0s and 1s, starting with 0s (a leading run of length 0 when the first pixel is
1); ``size`` is ``[H, W]``. The *uncompressed* form keeps ``counts`` as a list of ints (pycocotools
reads it with ``frPyObjects``); the *compressed* form packs it into an ASCII string, as
pycocotools' ``mask.encode`` writes it: each count (from the fourth on, minus the count two places
earlier) in 5-bit groups, low bits first, each group + 48 as one character, with bit 0x20 meaning
"more groups follow" and 0x10 the sign in the last group. Both are encoded and decoded here in
NumPy / Python, without pycocotools.

Exported ids: images ``i + 1``, annotations numbered from 1 in order, categories ``label + 1``
(the value in the semantic mask). Files are written atomically.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from deepbasic.data.errors import CorruptFileError
from deepbasic.serialization import atomic_write

# ----------------------------------------------------------------------------------------------
# Run-length encoding
# ----------------------------------------------------------------------------------------------


def mask_to_rle(mask: np.ndarray, compressed: bool = False) -> dict:
    """Encode a binary mask (H, W) as COCO RLE ``{"counts", "size": [H, W]}``.

    compressed: False gives ``counts`` as a list of ints; True as COCO's compressed string.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask_to_rle: expected a mask of shape (H, W), got shape {mask.shape}")
    flat = mask.astype(bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]]))
    if flat.size and flat[0]:
        counts = np.concatenate([[0], counts])
    counts = [int(c) for c in counts]
    return {"counts": compress_counts(counts) if compressed else counts, "size": list(mask.shape)}


def rle_to_mask(rle: dict) -> np.ndarray:
    """Decode COCO RLE (``counts`` a list of ints or a compressed string) to a (H, W) bool mask."""
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"rle_to_mask: expected {{'counts', 'size': [H, W]}}, "
                         f"got {rle!r:.80}") from None
    if isinstance(counts, (str, bytes)):
        counts = decompress_counts(counts)
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() != h * w:
        raise ValueError(f"rle_to_mask: run lengths sum to {int(counts.sum())}, expected H * W = "
                         f"{h} * {w} = {h * w}")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape((h, w), order="F")


def compress_counts(counts) -> str:
    """COCO's string form of RLE counts (as pycocotools' ``rleToString``)."""
    chars = []
    for i, c in enumerate(counts):
        x = int(c) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            group = x & 0x1F
            x >>= 5
            more = x != -1 if group & 0x10 else x != 0
            chars.append(chr((group | (0x20 if more else 0)) + 48))
    return "".join(chars)


def decompress_counts(s) -> list[int]:
    """RLE counts from COCO's compressed string (as pycocotools' ``rleFrString``)."""
    if isinstance(s, bytes):
        s = s.decode("ascii")
    counts, x, k = [], 0, 0
    for ch in s:
        group = ord(ch) - 48
        if not 0 <= group < 64:
            raise ValueError(f"decompress_counts: character {ch!r} is not in COCO's RLE alphabet")
        x |= (group & 0x1F) << (5 * k)
        k += 1
        if group & 0x20:
            continue
        if group & 0x10:
            x -= 1 << (5 * k)            # sign-extend the last group
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
        x, k = 0, 0
    if k:
        raise ValueError("decompress_counts: the string ends in the middle of a count")
    return counts


def polygons_to_mask(polygons, height: int, width: int) -> np.ndarray:
    """Rasterize COCO polygons ``[[x0, y0, x1, y1, ...], ...]`` to a (H, W) bool mask.

    A pixel is inside when its centre ``(col + 0.5, row + 0.5)`` is inside an odd number of the
    polygons' edges' crossings (even-odd rule), computed over the whole grid one edge at a time.
    pycocotools rasterizes differently along the boundary, so the two may differ by edge pixels.
    """
    gx = np.arange(width, dtype=np.float64)[None, :] + 0.5
    gy = np.arange(height, dtype=np.float64)[:, None] + 0.5
    inside = np.zeros((height, width), bool)
    for poly in polygons:
        pts = np.asarray(poly, np.float64).reshape(-1, 2)
        if len(pts) < 3:
            raise ValueError(f"polygons_to_mask: a polygon needs at least 3 points, got {len(pts)}")
        x0, y0 = pts[:, 0], pts[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        crossings = np.zeros((height, width), bool)
        for ax, ay, bx, by in zip(x0, y0, x1, y1):
            if ay == by:
                continue
            spans = (ay > gy) != (by > gy)                      # (H, 1)
            x_cross = ax + (gy - ay) * (bx - ax) / (by - ay)    # (H, 1)
            crossings ^= spans & (gx < x_cross)
        inside |= crossings
    return inside


# ----------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------

def _image_entries(scenes, file_names) -> list[dict]:
    n = len(scenes)
    if file_names is None:
        file_names = [f"{i:06d}.png" for i in range(n)]
    file_names = [str(f) for f in file_names]
    if len(file_names) != n:
        raise ValueError(f"file_names: expected one per scene ({n}), got {len(file_names)}")
    h, w = (int(v) for v in scenes.images.shape[2:])
    return [{"id": i + 1, "file_name": name, "height": h, "width": w}
            for i, name in enumerate(file_names)]


def _info(scenes, what: str) -> dict:
    return {"description": f"deepbasic shapes: {what}", "version": "1.0",
            "options": dict(getattr(scenes, "options", {}))}


def to_coco(scenes, file_names=None, compressed: bool = False) -> dict:
    """The COCO instances dict of ``scenes`` (a :class:`deepbasic.data.shapes.Scenes`).

    One annotation per object: ``bbox`` the visible box, ``area`` its visible pixel count,
    ``segmentation`` the visible instance mask as RLE (uncompressed unless ``compressed``),
    ``iscrowd`` 0, ``category_id`` = label + 1, and ``attributes`` ``{"colour", "size"}``.
    file_names: one per scene (default ``000000.png`` ...).
    """
    images = _image_entries(scenes, file_names)
    annotations = []
    for image, labels, boxes, masks, colours, sizes in zip(
            images, scenes.labels, scenes.boxes, scenes.instance_masks, scenes.colours, scenes.sizes):
        for label, box, mask, colour, size in zip(labels, boxes, masks, colours, sizes):
            annotations.append({
                "id": len(annotations) + 1, "image_id": image["id"], "category_id": int(label) + 1,
                "bbox": [float(v) for v in box], "area": int(np.count_nonzero(mask)), "iscrowd": 0,
                "segmentation": mask_to_rle(mask, compressed=compressed),
                "attributes": {"colour": scenes.colour_names[int(colour)],
                               "size": scenes.size_names[int(size)]},
            })
    categories = [{"id": k + 1, "name": name, "supercategory": "shape"}
                  for k, name in enumerate(scenes.class_names)]
    return {"info": _info(scenes, "instances"), "licenses": [], "images": images,
            "annotations": annotations, "categories": categories}


def to_coco_captions(scenes, file_names=None) -> dict:
    """The COCO captions dict of ``scenes``: every reference caption of each image, canonical
    first (annotation ids numbered from 1 in that order)."""
    images = _image_entries(scenes, file_names)
    pairs = [(image["id"], caption) for image, captions in zip(images, scenes.captions)
             for caption in captions]
    annotations = [{"id": k + 1, "image_id": image_id, "caption": caption}
                   for k, (image_id, caption) in enumerate(pairs)]
    return {"info": _info(scenes, "captions"), "licenses": [], "images": images,
            "annotations": annotations}


def _write_json(obj: dict, path) -> None:
    with atomic_write(os.fspath(path), "w") as f:
        json.dump(obj, f, separators=(",", ":"))


def save_coco(scenes, path, captions_path=None, file_names=None, compressed: bool = False) -> None:
    """Write ``to_coco(scenes)`` to ``path`` and, with ``captions_path``, ``to_coco_captions``
    there; both atomically."""
    _write_json(to_coco(scenes, file_names, compressed), path)
    if captions_path is not None:
        _write_json(to_coco_captions(scenes, file_names), captions_path)


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------

def _read_json(path) -> dict:
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptFileError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path}: expected a JSON object with 'images' and 'annotations', "
                               f"got a JSON {type(data).__name__}")
    for key in ("images", "annotations"):
        if key not in data:
            raise CorruptFileError(f"{path}: missing the top-level key {key!r}")
        if not isinstance(data[key], list):
            raise CorruptFileError(f"{path}: {key!r} must be a list, got {type(data[key]).__name__}")
    return data


def _check_entry(path, entry, where: str, keys: dict) -> None:
    """Check ``entry`` is an object holding ``keys`` (name -> type or tuple of types)."""
    if not isinstance(entry, dict):
        raise CorruptFileError(f"{path}: {where} must be a JSON object, got {entry!r:.60}")
    for key, types in keys.items():
        if key not in entry:
            raise CorruptFileError(f"{path}: {where} has no {key!r} (it has {sorted(entry)})")
        value = entry[key]
        if not isinstance(value, types) or isinstance(value, bool):
            names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
            raise CorruptFileError(f"{path}: {where}: {key!r} must be {names}, got {value!r:.60}")


def _images(path, data) -> dict[int, dict]:
    images = {}
    for i, image in enumerate(data["images"]):
        _check_entry(path, image, f"images[{i}]", {"id": int, "file_name": str})
        if image["id"] in images:
            raise CorruptFileError(f"{path}: images[{i}] repeats image id {image['id']}")
        images[image["id"]] = image
    return images


def _annotation_image(path, images, ann, i) -> int:
    if ann["image_id"] not in images:
        raise CorruptFileError(f"{path}: annotations[{i}] (id {ann.get('id')}) points at image id "
                               f"{ann['image_id']}, which is not in 'images'")
    return ann["image_id"]


_PUNCTUATION = re.compile(r"[^\w\s]|_")


def tokenize_caption(text: str) -> list[str]:
    """Lowercase, delete punctuation, split on whitespace: ``"A dog, running!"`` ->
    ``["a", "dog", "running"]`` (the classic captioning preprocessing; ``"don't"`` -> ``"dont"``)."""
    return _PUNCTUATION.sub("", text.lower()).split()


class CocoCaptions(NamedTuple):
    """A COCO captions file: ``captions`` image id -> its captions (in file order; [] when none)
    and ``file_names`` image id -> file name, both in the file's image order. Unpacks as a pair."""

    captions: dict
    file_names: dict

    def tokenized(self, tokenize=None) -> dict:
        """Image id -> a list of token lists: ``tokenize`` (default :func:`tokenize_caption`)
        applied to each caption."""
        tokenize = tokenize_caption if tokenize is None else tokenize
        return {i: [tokenize(c) for c in cs] for i, cs in self.captions.items()}


def load_coco_captions(path) -> CocoCaptions:
    """Read a COCO-style captions file (see the module docstring); every error names the file.

    Raises :class:`~deepbasic.data.errors.CorruptFileError` for a file that is not JSON, lacks
    ``images`` / ``annotations``, has an image without an int ``id`` or str ``file_name``, repeats
    an image id, has an annotation without an int ``image_id`` or str ``caption``, or points an
    annotation at an image that is not listed.
    """
    data = _read_json(path)
    images = _images(path, data)
    captions = {i: [] for i in images}
    for i, ann in enumerate(data["annotations"]):
        _check_entry(path, ann, f"annotations[{i}]", {"image_id": int, "caption": str})
        captions[_annotation_image(path, images, ann, i)].append(ann["caption"].strip())
    return CocoCaptions(captions, {i: image["file_name"] for i, image in images.items()})


@dataclass(frozen=True, repr=False)
class CocoInstances:
    """A COCO instances file, grouped by image (in the file's image order).

    image_ids, file_names, heights, widths: one per image; class_names and category_ids: the
    categories sorted by id, label ``k`` meaning ``category_ids[k]``; per image (K_i
    annotations): ``labels`` [(K_i,) int64], ``boxes`` [(K_i, 4) float32 x, y, w, h],
    ``iscrowd`` [(K_i,) bool], ``annotation_ids`` [(K_i,) int64, -1 where absent] and
    ``segmentations`` (the raw JSON); :meth:`masks` decodes image i's masks to (K_i, H, W) bool.
    """

    image_ids: list
    file_names: list
    heights: list
    widths: list
    class_names: list
    category_ids: list
    labels: list
    boxes: list
    iscrowd: list
    annotation_ids: list
    segmentations: list

    def __len__(self) -> int:
        return len(self.image_ids)

    def masks(self, i: int) -> np.ndarray:
        """Image i's instance masks (K_i, H, W) bool, from RLE (either form) or polygons."""
        h, w = self.heights[i], self.widths[i]
        out = np.zeros((len(self.segmentations[i]), h, w), bool)
        for k, seg in enumerate(self.segmentations[i]):
            if isinstance(seg, dict):
                m = rle_to_mask(seg)
                if m.shape != (h, w):
                    raise ValueError(f"image id {self.image_ids[i]}: an RLE mask has size "
                                     f"{list(m.shape)}, the image is {[h, w]}")
                out[k] = m
            else:
                out[k] = polygons_to_mask(seg, h, w)
        return out

    def __repr__(self) -> str:
        return (f"CocoInstances(images={len(self)}, annotations="
                f"{sum(len(x) for x in self.labels)}, classes={len(self.class_names)})")


def load_coco_instances(path) -> CocoInstances:
    """Read a COCO instances file (see the module docstring), checking every field used.

    Images need int ``id``, str ``file_name``, int ``height`` and ``width``; annotations int
    ``image_id`` (of a listed image) and ``category_id`` (of a listed category) and a 4-number
    ``bbox``; categories int ``id`` and str ``name``. A missing ``segmentation`` is kept as [].
    """
    data = _read_json(path)
    if not isinstance(data.get("categories"), list):
        raise CorruptFileError(f"{path}: missing the top-level list 'categories'")
    images = _images(path, data)
    for i, image in enumerate(data["images"]):
        _check_entry(path, image, f"images[{i}]", {"height": int, "width": int})
    categories = {}
    for i, cat in enumerate(data["categories"]):
        _check_entry(path, cat, f"categories[{i}]", {"id": int, "name": str})
        if cat["id"] in categories:
            raise CorruptFileError(f"{path}: categories[{i}] repeats category id {cat['id']}")
        categories[cat["id"]] = cat["name"]
    category_ids = sorted(categories)
    label_of = {c: k for k, c in enumerate(category_ids)}
    per_image = {i: [] for i in images}
    for i, ann in enumerate(data["annotations"]):
        _check_entry(path, ann, f"annotations[{i}]", {"image_id": int, "category_id": int,
                                                      "bbox": list})
        image_id = _annotation_image(path, images, ann, i)
        if ann["category_id"] not in label_of:
            raise CorruptFileError(f"{path}: annotations[{i}] has category_id {ann['category_id']}, "
                                   f"which is not in 'categories' ({category_ids})")
        bbox = ann["bbox"]
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                     for v in bbox):
            raise CorruptFileError(f"{path}: annotations[{i}]: bbox must be 4 numbers [x, y, w, h], "
                                   f"got {bbox!r:.60}")
        per_image[image_id].append(ann)

    def column(fn, dtype):
        return [np.array([fn(a) for a in per_image[i]], dtype) for i in images]

    boxes = [np.array([a["bbox"] for a in per_image[i]], np.float32).reshape(-1, 4) for i in images]
    return CocoInstances(
        image_ids=list(images), file_names=[im["file_name"] for im in images.values()],
        heights=[im["height"] for im in images.values()],
        widths=[im["width"] for im in images.values()],
        class_names=[categories[c] for c in category_ids], category_ids=category_ids,
        labels=column(lambda a: label_of[a["category_id"]], np.int64),
        boxes=boxes,
        iscrowd=column(lambda a: bool(a.get("iscrowd", 0)), bool),
        annotation_ids=column(lambda a: a.get("id", -1), np.int64),
        segmentations=[[a.get("segmentation", []) for a in per_image[i]] for i in images],
    )
