"""Downloads end to end against a local http.server on 127.0.0.1: checksums, atomic writes, mirrors."""
import functools
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

import deepbasic.data.registry as registry
from data_helpers import cifar_batches, fake_mnist, write_cifar_archive
from deepbasic.data import (ChecksumError, DatasetNotFoundError, DownloadError, download_file,
                            load_dataset, user_cache_dir)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path.startswith("/short/"):  # promises more bytes than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only ten b")
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www at http://127.0.0.1:<port>; yields (base URL, folder, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(_Handler, directory=str(www)))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www, httpd.requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def _serve_mnist(www, monkeypatch, name="mnist", **kwargs):
    arrays = fake_mnist(www / name, **kwargs)
    sums = {f: _md5(www / name / f) for f in os.listdir(www / name)}
    monkeypatch.setitem(registry.CHECKSUMS, name, sums)
    return arrays, sums


def test_download_with_good_checksums(server, monkeypatch):
    url, www, requests = server
    (x_train, y_train, x_test, y_test), sums = _serve_mnist(www, monkeypatch, n_train=36)
    monkeypatch.setenv("DEEPBASIC_MIRROR", url)
    d = load_dataset("mnist", val_fraction=0.0)
    cache = user_cache_dir("mnist")
    assert sorted(os.listdir(cache)) == sorted(sums)  # the four files, no temporaries
    assert all(_md5(os.path.join(cache, f)) == sums[f] for f in sums)
    assert np.array_equal(d.train.y, y_train) and np.array_equal(d.test.x[:, 0] * 255, x_test)
    assert sorted(requests) == sorted(f"/mnist/{f}" for f in sums)
    load_dataset("mnist")  # now found in the cache: no further requests
    assert len(requests) == 4


def test_bad_checksum_raises_and_keeps_nothing(server, monkeypatch):
    url, www, requests = server
    _, sums = _serve_mnist(www, monkeypatch)
    monkeypatch.setitem(registry.CHECKSUMS, "mnist",
                        {**sums, "train-images-idx3-ubyte.gz": "0" * 32})
    monkeypatch.setenv("DEEPBASIC_MIRROR", url)
    with pytest.raises(ChecksumError, match=r"train-images-idx3-ubyte.gz: downloaded bytes failed the "
                                            r"checksum.*expected 0{32}"):
        load_dataset("mnist")
    assert os.listdir(user_cache_dir("mnist")) == []
    assert requests == ["/mnist/train-images-idx3-ubyte.gz"]


def test_only_missing_files_are_downloaded(server, monkeypatch):
    url, www, requests = server
    _serve_mnist(www, monkeypatch)
    cache = user_cache_dir("mnist")
    fake_mnist(cache)
    os.remove(os.path.join(cache, "t10k-labels-idx1-ubyte.gz"))
    monkeypatch.setenv("DEEPBASIC_MIRROR", url)
    load_dataset("mnist")
    assert requests == ["/mnist/t10k-labels-idx1-ubyte.gz"]


def test_mirrors_are_tried_in_order(server, monkeypatch):
    url, www, requests = server
    _serve_mnist(www, monkeypatch, name="fashion-mnist")
    monkeypatch.setitem(registry.MIRRORS, "fashion-mnist", [f"{url}/missing", f"{url}/fashion-mnist/"])
    d = load_dataset("fashion-mnist")
    assert d.classes[-1] == "Ankle boot"
    assert requests[:2] == ["/missing/train-images-idx3-ubyte.gz",
                            "/fashion-mnist/train-images-idx3-ubyte.gz"]


def test_unreachable_mirror_is_dataset_not_found(server, monkeypatch):
    url, www, requests = server
    monkeypatch.setenv("DEEPBASIC_MIRROR", f"{url}/nothing-here")
    with pytest.raises(DatasetNotFoundError, match=r"download failed: could not download "
                                                   r"train-images-idx3-ubyte.gz.*404") as e:
        load_dataset("mnist")
    assert "DEEPBASIC_DATA=DIR" in str(e.value)
    assert len(requests) == 1  # gave up after the first file
    assert os.listdir(user_cache_dir("mnist")) == []


def test_cut_off_download_leaves_nothing(server, tmp_path):
    url, _, _ = server
    dest = tmp_path / "cache" / "file.bin"
    with pytest.raises(DownloadError, match="short/file.bin: incomplete download: got 10 of 1000 bytes"):
        download_file([f"{url}/short/file.bin"], dest, md5="0" * 32)
    assert os.listdir(tmp_path / "cache") == []


def test_download_file_sha256_and_arguments(server, tmp_path):
    url, www, _ = server
    (www / "blob").write_bytes(b"hello")
    dest = tmp_path / "out" / "blob"
    sha = hashlib.sha256(b"hello").hexdigest()
    assert download_file([f"{url}/blob"], dest, sha256=sha, quiet=True) == str(dest)
    assert dest.read_bytes() == b"hello"
    with pytest.raises(ValueError, match="exactly one of md5= or sha256="):
        download_file([f"{url}/blob"], dest)
    with pytest.raises(DownloadError, match="unsupported URL scheme"):
        download_file(["ftp://127.0.0.1/blob"], tmp_path / "x", md5="0" * 32)


def test_cifar10_download(server, monkeypatch):
    url, www, requests = server
    files, _, _, x_test, y_test = cifar_batches(n_per_batch=5)
    archive = write_cifar_archive(www / "cifar10-src.tar.gz", files)
    (www / "cifar10").mkdir()
    os.replace(archive, www / "cifar10" / "cifar-10-python.tar.gz")
    monkeypatch.setitem(registry.CHECKSUMS, "cifar10",
                        {"cifar-10-python.tar.gz": _md5(www / "cifar10" / "cifar-10-python.tar.gz")})
    monkeypatch.setenv("DEEPBASIC_MIRROR", url)
    d = load_dataset("cifar10")
    assert (len(d.train), len(d.val), len(d.test)) == (23, 2, 5)  # 10% of 25, rounded
    assert np.array_equal(d.test.y, y_test)
    assert os.listdir(user_cache_dir("cifar10")) == ["cifar-10-python.tar.gz"]
    assert requests == ["/cifar10/cifar-10-python.tar.gz"]
