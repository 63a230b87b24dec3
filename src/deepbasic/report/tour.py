"""``deepbasic tour``: run every registered chapter and write DIR/index.html.

Each chapter section shows its idea, the command that runs it in full, the numbers measured in
this run and its figures. A chapter that fails is reported in its section (with the error) and the
tour goes on.
"""
from __future__ import annotations

import html
import os
import time
import traceback

from deepbasic.report.chapters import CHAPTERS, ChapterResult
from deepbasic.serialization import atomic_write

# Importing a chapter module registers its chapter, in curriculum order.
CHAPTER_MODULES = [
    "deepbasic.report.chapter_knn",
    "deepbasic.report.chapter_linear",
    "deepbasic.report.chapter_optimizers",
    "deepbasic.report.chapter_backprop",
    "deepbasic.report.chapter_mlp",
    "deepbasic.report.chapter_decay",
    "deepbasic.report.chapter_search",
    "deepbasic.report.chapter_ensemble",
    "deepbasic.report.chapter_convnet",
    "deepbasic.report.chapter_architectures",
    "deepbasic.report.chapter_transfer",
    "deepbasic.report.chapter_visualize",
    "deepbasic.report.chapter_charlm",
    "deepbasic.report.chapter_rowlstm",
    "deepbasic.report.chapter_captioning",
    "deepbasic.report.chapter_segmentation",
    "deepbasic.report.chapter_detection",
    "deepbasic.report.chapter_generative",
    "deepbasic.report.chapter_rl",
]


def load_chapters():
    import importlib

    for name in CHAPTER_MODULES:
        importlib.import_module(name)
    return list(CHAPTERS)


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } section { border-top: 1px solid #ddd; padding-top: 1em; margin-top: 2em; }
code, pre { background: #f4f4f4; padding: 0.15em 0.35em; border-radius: 3px; }
pre { padding: 0.7em; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; } figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #555; } .error { color: #a00; }
"""

_IMAGE_CHECK = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-images', (ok ? 'ok' : 'broken') + ':' + imgs.length);
});
"""


def _section(chapter, result: ChapterResult | None, seconds: float, error: str | None) -> str:
    e = html.escape
    parts = [f'<section id="{e(chapter.key)}">', f"<h2>{e(chapter.title)}</h2>",
             f"<p>{e(chapter.idea)}</p>",
             f"<p>Run it in full: <code>{e(chapter.command)}</code></p>"]
    if error:
        parts.append(f'<pre class="error">{e(error)}</pre>')
    if result:
        if result.numbers:
            rows = "".join(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>" for k, v in result.numbers)
            parts.append(f"<table><tr><th>measured</th><th>value</th></tr>{rows}</table>")
        for note in result.notes:
            parts.append(f"<p>{e(note)}</p>")
        for name, caption in result.figures:
            parts.append(f'<figure><img src="{e(name)}" alt="{e(caption)}">'
                         f"<figcaption>{e(caption)}</figcaption></figure>")
    parts.append(f"<p><small>this section took {seconds:.1f} s</small></p></section>")
    return "\n".join(parts)


def run_tour(out_dir: str = "tour", quick: bool = True, only=None, log=print) -> str:
    """Run the chapters (``only``: a list of keys) and write ``out_dir/index.html``; returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    chapters = load_chapters()
    if only:
        unknown = set(only) - {c.key for c in chapters}
        if unknown:
            raise ValueError(f"unknown chapters {sorted(unknown)}: expected some of "
                             f"{[c.key for c in chapters]}")
        chapters = [c for c in chapters if c.key in only]
    sections, start = [], time.perf_counter()
    for chapter in chapters:
        log(f"[tour] {chapter.title} ...")
        t0 = time.perf_counter()
        result, error = None, None
        try:
            result = chapter.run(out_dir, quick)
        except Exception:  # keep going: the report says what failed
            error = traceback.format_exc()
            log(f"[tour] {chapter.key} failed:\n{error}")
        if result is not None:
            for label, value in result.numbers:
                log(f"[tour]   {label}: {value}")
        sections.append(_section(chapter, result, time.perf_counter() - t0, error))
    mode = "quick" if quick else "full"
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>deepbasic tour</title>"
            f"<style>{_STYLE}</style><script>{_IMAGE_CHECK}</script></head><body>"
            f"<h1>deepbasic: the tour</h1><p>Every chapter of the curriculum, run in its "
            f"{mode} version on this machine in {time.perf_counter() - start:.0f} s. Each section "
            f"gives the idea, the command that runs it in full, what was measured and what it "
            f"drew.</p>" + "\n".join(sections) + "</body></html>")
    path = os.path.join(out_dir, "index.html")
    with atomic_write(path, "w") as f:
        f.write(page)
    log(f"[tour] wrote {path}")
    return path
