"""The errors the dataset layer raises, so callers can tell "missing" from "damaged" from "hostile".

- :class:`DatasetNotFoundError` (a ``FileNotFoundError``): the files are nowhere we looked and
  could not be downloaded; the message lists where we looked and how to get them.
- :class:`CorruptFileError` (a ``ValueError``): a file is there but is not what its format says
  (wrong magic number, truncated payload, counts that disagree); the message names the file.
- :class:`ChecksumError` (a ``CorruptFileError``): a download did not match its published checksum.
- :class:`UnsafeFileError` (a ``ValueError``): a file asked for something we refuse to do, such as
  a pickle naming a global other than the few needed to rebuild a plain array, or an archive
  member with an absolute or ``..`` path. Nothing in the file was run or written.
"""
from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files were not found in any search location and were not downloaded."""


class CorruptFileError(ValueError):
    """A data file is damaged or is not in the format expected; the message names the file."""


class ChecksumError(CorruptFileError):
    """Downloaded bytes did not match the published checksum; nothing was kept."""


class UnsafeFileError(ValueError):
    """A data file asked for something refused for safety (nothing in it was executed)."""


class DownloadError(ConnectionError):
    """Every mirror failed to deliver a file (network error, HTTP error)."""
