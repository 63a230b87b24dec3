"""The chapter registry: each chapter of the curriculum registers how to run its short version.

A chapter's ``run(out_dir, quick)`` trains or computes what it demonstrates and returns a
:class:`ChapterResult`: measured numbers, figures (PNG files written into ``out_dir``) and notes.
Later chapters add themselves with :func:`register`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class ChapterResult:
    numbers: list = field(default_factory=list)   # [(label, value as text)]
    figures: list = field(default_factory=list)   # [(file name inside out_dir, caption)]
    notes: list = field(default_factory=list)     # extra sentences


@dataclass
class Chapter:
    key: str
    title: str
    idea: str                      # the idea in a sentence or two
    command: str                   # the command that runs it in full
    run: Callable[[str, bool], ChapterResult]


CHAPTERS: list[Chapter] = []


def register(chapter: Chapter) -> Chapter:
    """Add a chapter to the tour (replacing one with the same key)."""
    CHAPTERS[:] = [c for c in CHAPTERS if c.key != chapter.key]
    CHAPTERS.append(chapter)
    return chapter


def on_disk(dataset: str = "fashion-mnist") -> bool:
    """Whether ``dataset`` loads without downloading (full chapters fall back to the bundled
    digits when it does not)."""
    from deepbasic.data import load_dataset
    from deepbasic.data.errors import DatasetNotFoundError

    try:
        load_dataset(dataset, download=False)
    except DatasetNotFoundError:
        return False
    return True
