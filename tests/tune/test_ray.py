"""The Ray backend against a local Ray instance started here, and the error without Ray."""
import sys

import pytest

from deepbasic.tune import LogUniform, RayBackend, random_search
from deepbasic.tune.trial import synthetic_objective

SPACE = {"lr": LogUniform(1e-5, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2)}


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_matches_serial_and_records_failures(ray_local):
    # lr = 0 makes synthetic_objective raise: that trial must come back failed, the rest scored
    space = dict(SPACE)
    serial = random_search(synthetic_objective, space, 6, seed=0, backend="serial")
    on_ray = random_search(synthetic_objective, space, 6, seed=0, backend="ray")
    assert [t.config for t in on_ray.trials] == [t.config for t in serial.trials]
    assert on_ray.scores() == serial.scores()
    assert on_ray.backend.startswith("RayBackend")
    assert ray_local.is_initialized()   # a Ray the caller started is left running

    broken = random_search(lambda c: synthetic_objective({**c, "lr": 0.0}) if c["lr"] > 1e-2
                           else synthetic_objective(c), space, 6, seed=0, backend="ray")
    assert [t.ok for t in broken.trials] == [t.config["lr"] <= 1e-2 for t in broken.trials]
    assert all("ValueError: lr must be > 0" in t.error for t in broken.failed)


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)   # `import ray` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'deepbasic\[tune\]'.*pip install ray"):
        RayBackend()
    with pytest.raises(ImportError, match="pip install ray"):
        random_search(synthetic_objective, SPACE, 2, backend="ray")
