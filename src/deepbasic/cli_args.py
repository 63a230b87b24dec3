"""Shared pieces of the command line: one-line errors and validated argument types.

A command module (see ``COMMAND_MODULES`` in :mod:`deepbasic.cli`) defines
``register(subparsers)``, adds its parser with these types, and raises :class:`CLIError` for a
user mistake found later; the ``deepbasic`` command prints it as one line and exits with 2.
"""
from __future__ import annotations

import argparse


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump): ``deepbasic train: error: ... (see --help)``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number_type(kind, accept, expected: str):
    """An argparse type: parse with ``kind`` (int or float), keep values where ``accept`` holds."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


positive_int = number_type(int, lambda v: v > 0, "a positive integer")
non_negative_int = number_type(int, lambda v: v >= 0, "a non-negative integer")
positive_float = number_type(float, lambda v: v > 0, "a positive number")
non_negative_float = number_type(float, lambda v: v >= 0, "a non-negative number")
probability = number_type(float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")


def hidden_sizes(text: str) -> tuple:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths like 256,128, got {text!r}"
        ) from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected positive layer widths like 256,128, got {text!r}")
    return sizes
