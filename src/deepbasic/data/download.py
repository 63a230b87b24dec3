"""Where dataset files are looked for, and how a missing one is downloaded safely.

Search order for dataset ``<name>`` (the first folder holding every file wins):

1. ``root`` (the argument), then ``root/<name>``;
2. ``$DEEPBASIC_DATA/<name>``;
3. the user cache ``$XDG_CACHE_HOME/deepbasic/<name>``, or ``~/.cache/deepbasic/<name>`` when
   XDG_CACHE_HOME is unset (or not an absolute path);
4. each folder in :data:`SYSTEM_DATA_DIRS` + ``/<name>``; by default ``/usr/share/datasets/<name>``,
   where Debian's ``dataset-fashion-mnist`` package installs Fashion-MNIST.

Downloads go into the user cache only. :func:`download_file` streams each URL into a temporary
file in the destination folder, checks its checksum, and only then renames it into place
(``os.replace``), so the cache never holds a partial or unverified file. Setting
``DEEPBASIC_MIRROR`` to one or more base URLs (separated by spaces or commas) replaces the
official sources: file ``F`` of dataset ``<name>`` is then fetched from ``<base>/<name>/F``.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request

from deepbasic.data.errors import ChecksumError, DownloadError

ENV_DATA = "DEEPBASIC_DATA"
ENV_MIRROR = "DEEPBASIC_MIRROR"
SYSTEM_DATA_DIRS = ["/usr/share/datasets"]
TIMEOUT_S = 30.0
_CHUNK = 1 << 20


def user_cache_dir(name: str | None = None) -> str:
    """``$XDG_CACHE_HOME/deepbasic[/<name>]``, or ``~/.cache/deepbasic[/<name>]``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "deepbasic")
    return os.path.join(path, name) if name else path


def search_dirs(name: str, root=None) -> list[tuple[str, str]]:
    """The folders to look in for dataset ``name``, in order, as (how we got it, folder) pairs."""
    dirs = []
    if root is not None:
        root = os.path.expanduser(os.fspath(root))
        dirs += [("root", root), ("root", os.path.join(root, name))]
    if os.environ.get(ENV_DATA):
        dirs.append((f"${ENV_DATA}", os.path.join(os.path.expanduser(os.environ[ENV_DATA]), name)))
    dirs.append(("user cache", user_cache_dir(name)))
    dirs += [("system", os.path.join(d, name)) for d in SYSTEM_DATA_DIRS]
    return dirs


def mirror_urls(name: str, filename: str, official: list[str]) -> list[str]:
    """URLs to try for ``filename``: ``$DEEPBASIC_MIRROR`` bases if set, else ``official`` bases."""
    override = os.environ.get(ENV_MIRROR, "").replace(",", " ").split()
    if override:
        return [f"{base.rstrip('/')}/{name}/{filename}" for base in override]
    return [f"{base.rstrip('/')}/{filename}" for base in official]


def file_digest(path, algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes (``md5``, ``sha256``, ...)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, out, algorithm: str, timeout: float) -> str:
    if not url.startswith(("http://", "https://", "file://")):
        raise ValueError(f"unsupported URL scheme: {url}")
    h = hashlib.new(algorithm)
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            h.update(chunk)
            out.write(chunk)
            received += len(chunk)
    if length is not None and length.isdigit() and received != int(length):
        # http.client does not raise when a server hangs up early: compare with the header
        raise DownloadError(f"incomplete download: got {received} of {length} bytes")
    return h.hexdigest()


def download_file(urls, dest, *, md5: str | None = None, sha256: str | None = None,
                  timeout: float = TIMEOUT_S, quiet: bool = False) -> str:
    """Download ``dest`` from the first of ``urls`` that delivers bytes with the right checksum.

    Exactly one of ``md5`` / ``sha256`` (hex) is required. Each try streams into a temporary
    file beside ``dest`` that is renamed onto ``dest`` only once verified, and removed otherwise.
    Raises :class:`ChecksumError` when some mirror answered but never with the right bytes, and
    :class:`DownloadError` when none answered. Returns ``dest``.
    """
    if (md5 is None) == (sha256 is None):
        raise ValueError("download_file: give exactly one of md5= or sha256=")
    algorithm, expected = ("md5", md5) if md5 is not None else ("sha256", sha256)
    dest = os.fspath(dest)
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    failures, mismatches = [], []
    for url in urls:
        if not quiet:
            print(f"deepbasic: downloading {url} -> {dest}", file=sys.stderr)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(dest)}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                got = _fetch(url, out, algorithm, timeout)
            if got == expected.lower():
                os.replace(tmp, dest)
                return dest
            mismatches.append(f"{url}: {algorithm} {got}, expected {expected}")
        except (OSError, ValueError, http.client.HTTPException) as exc:
            failures.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    if mismatches:
        raise ChecksumError(
            f"{dest}: downloaded bytes failed the checksum, so nothing was kept: "
            + "; ".join(mismatches + failures))
    raise DownloadError(f"could not download {os.path.basename(dest)}: " + "; ".join(failures or ["no URLs"]))
