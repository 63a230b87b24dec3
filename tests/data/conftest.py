"""Every dataset test runs in an isolated environment: HOME and XDG_CACHE_HOME in a temporary
folder, DEEPBASIC_DATA and DEEPBASIC_MIRROR unset and no system data folders, so nothing on the
machine (an installed Fashion-MNIST, a real cache) leaks in and nothing is downloaded from the
internet. Writers of small real-format files are in data_helpers.py.
"""
import pytest

import deepbasic.data.download as download


@pytest.fixture(autouse=True)
def isolated_data_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("DEEPBASIC_DATA", raising=False)
    monkeypatch.delenv("DEEPBASIC_MIRROR", raising=False)
    monkeypatch.setattr(download, "SYSTEM_DATA_DIRS", [])
    return home
