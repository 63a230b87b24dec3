"""The tour: runs a short version of every chapter and writes an illustrated HTML report."""
from deepbasic.report.chapters import CHAPTERS, Chapter, ChapterResult, register
from deepbasic.report.tour import run_tour
