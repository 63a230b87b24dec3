"""The quick versions of the kNN and linear tour chapters run and write their figures."""
import os

import pytest


@pytest.mark.parametrize("module", ["chapter_knn", "chapter_linear"])
def test_quick_chapter(module, tmp_path):
    import importlib

    from deepbasic.report.chapters import CHAPTERS

    importlib.import_module(f"deepbasic.report.{module}")
    key = module.split("_", 1)[1]
    chapter = next(c for c in CHAPTERS if c.key == key)
    result = chapter.run(str(tmp_path), True)
    assert result.numbers and result.figures
    for fname, _ in result.figures:
        assert os.path.getsize(tmp_path / fname) > 1000
