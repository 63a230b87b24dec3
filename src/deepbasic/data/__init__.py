"""Datasets and their file formats, in plain NumPy.

``load_dataset(name)`` returns :class:`DatasetSplits` — ``train``, ``val`` and ``test``
:class:`Split` objects with ``x`` float32 (N, C, H, W) in [0, 1] and ``y`` int64 (N,) — plus the
class names. ``DataLoader`` (in :mod:`deepbasic.data.loader`) turns a split into minibatches.

Formats, each read by a small module of its own:

- **digits** — scikit-learn's bundled 1,797 8x8 images with pixel values 0..16 (divided by 16).
- **MNIST / Fashion-MNIST** — four IDX files (:mod:`deepbasic.data.idx`): a 4-byte magic
  number (0x00 0x00, a type byte, ndim), ndim big-endian uint32 sizes, then the values.
  Images are uint8 (N, 28, 28) (divided by 255), labels uint8 (N,). Usually gzip-compressed.
- **CIFAR-10** — the "python version" archive of seven pickled dicts (:mod:`deepbasic.data.cifar`),
  each batch holding uint8 data (N, 3072) = 3 x 32 x 32 per row (divided by 255) and a label
  list. Pickles are read by a restricted unpickler (:mod:`deepbasic.data.safepickle`) that runs
  nothing from the file.
- **text** — character-level language-model data (:mod:`deepbasic.data.text`): a corpus on
  every machine (the Python standard library's own source), ``CharVocab``, and (B, L)
  parallel streams cut into truncated-BPTT chunks.
- **shapes** — synthetic scenes of coloured shapes with boxes, masks and captions, generated
  on the fly (:mod:`deepbasic.data.shapes`); exported to, and COCO annotation files read
  from, the COCO JSON formats by :mod:`deepbasic.data.coco`.

Where files are looked for, and how missing ones are downloaded (checksummed, written
atomically into ``~/.cache/deepbasic/<name>``): :mod:`deepbasic.data.download`.
"""
from deepbasic.data.coco import load_coco_captions, load_coco_instances, save_coco, to_coco
from deepbasic.data.download import download_file, search_dirs, user_cache_dir
from deepbasic.data.errors import (
    ChecksumError,
    CorruptFileError,
    DatasetNotFoundError,
    DownloadError,
    UnsafeFileError,
)
from deepbasic.data.idx import read_idx, write_idx
from deepbasic.data.registry import KNOWN_DATASETS, load_dataset
from deepbasic.data.safepickle import safe_loads
from deepbasic.data.shapes import (Scene, Scenes, export_dataset, generate_scenes,
                                   single_object_dataset)
from deepbasic.data.splits import DatasetSplits, Split, stratified_split
from deepbasic.data.text import (CharVocab, batchify, default_corpus, load_text, split_text,
                                 tbptt_chunks)

__all__ = [
    "ChecksumError", "CorruptFileError", "DataLoader", "DatasetNotFoundError", "DatasetSplits",
    "DownloadError", "KNOWN_DATASETS", "Split", "UnsafeFileError", "download_file",
    "load_dataset", "read_idx", "safe_loads", "search_dirs", "stratified_split",
    "user_cache_dir", "write_idx",
    # synthetic shapes scenes and COCO files (deepbasic.data.shapes, deepbasic.data.coco)
    "Scene", "Scenes", "export_dataset", "generate_scenes", "single_object_dataset",
    "load_coco_captions", "load_coco_instances", "save_coco", "to_coco",
    # character-level text for language models (deepbasic.data.text)
    "CharVocab", "batchify", "default_corpus", "load_text", "split_text", "tbptt_chunks",
]


def __getattr__(name):
    # DataLoader yields Tensors, so it needs the autograd core; import it only when asked for,
    # keeping ``deepbasic.data``'s file readers importable on their own.
    if name == "DataLoader":
        from deepbasic.data.loader import DataLoader

        return DataLoader
    raise AttributeError(f"module 'deepbasic.data' has no attribute {name!r}")
