"""safetensors reading/writing (checked against the reference package) and atomic writes."""
import os
import struct

import numpy as np
import pytest
import safetensors.numpy as st

from deepbasic import nn
from deepbasic.serialization import (
    SafetensorsError,
    atomic_write,
    load_file,
    load_state_dict,
    save_file,
    save_state_dict,
)


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "w": rng.standard_normal((3, 4)).astype(np.float32),
        "b": rng.standard_normal(5),
        "n": np.arange(6, dtype=np.int64).reshape(2, 3),
        "scalar": np.array(2.5, dtype=np.float32),
        "mask": np.array([True, False]),
    }


def test_round_trip_with_metadata(tmp_path):
    path = tmp_path / "a.safetensors"
    save_file(_arrays(), path, metadata={"k": "v"})
    tensors, meta = load_file(path)
    assert meta == {"k": "v"}
    for k, v in _arrays().items():
        assert tensors[k].dtype == v.dtype and np.array_equal(tensors[k], v)


def test_reference_package_reads_ours_and_we_read_its(tmp_path):
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    save_file(_arrays(), ours)
    loaded = st.load_file(str(ours))
    for k, v in _arrays().items():
        assert np.array_equal(loaded[k], v)
    st.save_file(_arrays(), str(theirs), metadata={"format": "np"})
    tensors, meta = load_file(theirs)
    assert meta == {"format": "np"}
    for k, v in _arrays().items():
        assert np.array_equal(tensors[k], v)


def test_corrupt_files_are_clear_errors(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"abc")
    with pytest.raises(SafetensorsError, match="too short"):
        load_file(path)
    path.write_bytes(struct.pack("<Q", 10_000) + b"{}")
    with pytest.raises(SafetensorsError, match="header length"):
        load_file(path)
    good = tmp_path / "good.safetensors"
    save_file({"w": np.zeros((4, 4), np.float32)}, good)
    path.write_bytes(good.read_bytes()[:-8])  # truncated data
    with pytest.raises(SafetensorsError, match="'w'"):
        load_file(path)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write(b"partial")
            raise RuntimeError("crash in the middle")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]  # no temp file left behind


def test_module_state_dict_through_safetensors(tmp_path):
    a = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    b = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    save_state_dict(a, tmp_path / "m.safetensors")
    load_state_dict(b, tmp_path / "m.safetensors")
    for (k, v), (k2, v2) in zip(a.state_dict().items(), b.state_dict().items()):
        assert k == k2 and np.array_equal(v, v2)
