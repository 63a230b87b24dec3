"""Search spaces: sampling stays in range, grids are evenly (log-)spaced, bad ranges are refused."""
import math

import numpy as np
import pytest

from deepbasic.tune.space import (Choice, IntUniform, LogUniform, Uniform, check_space,
                                  describe_space, grid_configs, grid_counts, narrow_space,
                                  sample_config, space_from_dict)


def test_uniform_samples_in_range_and_grid_includes_ends():
    d = Uniform(-1.0, 3.0)
    rng = np.random.default_rng(0)
    xs = np.array([d.sample(rng) for _ in range(2000)])
    assert xs.min() >= -1.0 and xs.max() <= 3.0
    assert abs(xs.mean() - 1.0) < 0.1
    assert d.grid(5) == [-1.0, 0.0, 1.0, 2.0, 3.0]
    assert d.grid(1) == [1.0]


def test_log_uniform_is_uniform_in_log_space():
    d = LogUniform(1e-4, 1e-1)
    rng = np.random.default_rng(1)
    xs = np.array([d.sample(rng) for _ in range(4000)])
    assert xs.min() >= 1e-4 and xs.max() <= 1e-1
    decades = np.histogram(np.log10(xs), bins=[-4, -3, -2, -1])[0] / len(xs)
    assert np.allclose(decades, 1 / 3, atol=0.03)   # each decade equally likely
    assert np.allclose(d.grid(4), [1e-4, 1e-3, 1e-2, 1e-1], rtol=1e-12)
    assert math.isclose(d.grid(1)[0], math.sqrt(1e-4 * 1e-1))


def test_int_uniform_and_choice():
    rng = np.random.default_rng(2)
    d = IntUniform(2, 5)
    values = {d.sample(rng) for _ in range(200)}
    assert values == {2, 3, 4, 5} and all(isinstance(v, int) for v in values)
    assert d.grid(4) == [2, 3, 4, 5] and d.grid(10) == [2, 3, 4, 5] and d.size == 4
    w = IntUniform(16, 512, log=True)
    assert w.grid(3) == [16, 91, 512]
    assert all(16 <= w.sample(rng) <= 512 for _ in range(200))
    c = Choice(["relu", "tanh", "gelu"])
    assert {c.sample(rng) for _ in range(100)} == {"relu", "tanh", "gelu"}
    assert c.grid(2) == ["relu", "gelu"] and c.grid(9) == ["relu", "tanh", "gelu"]


@pytest.mark.parametrize("make, message", [
    (lambda: Uniform(1.0, 1.0), "low must be < high"),
    (lambda: Uniform(2.0, 1.0), "low must be < high"),
    (lambda: LogUniform(0.0, 1.0), "log scale needs low > 0"),
    (lambda: LogUniform(-1e-3, 1.0), "log scale needs low > 0"),
    (lambda: Uniform(0.0, float("inf")), "finite"),
    (lambda: Choice([]), "at least one option"),
    (lambda: Choice([1, 1]), "listed twice"),
    (lambda: IntUniform(1, 1), "low must be < high"),
])
def test_bad_dimensions_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make, message", [
    (lambda: Uniform("a", 1.0), "low must be a number"),
    (lambda: IntUniform(1.5, 3), "low must be an integer"),
    (lambda: Choice("abc"), "list of options"),
    (lambda: check_space({"lr": [1e-3, 1e-2]}), r"Choice\(\[...\]\)"),
    (lambda: check_space({}), "non-empty dict"),
])
def test_bad_types_raise_type_error(make, message):
    with pytest.raises(TypeError, match=message):
        make()


def test_grid_size_errors():
    with pytest.raises(ValueError, match="positive integer"):
        Uniform(0, 1).grid(0)
    with pytest.raises(ValueError, match="budget must be a positive integer"):
        grid_counts({"a": Uniform(0, 1)}, 0)


@pytest.mark.parametrize("dims, budget, counts", [
    (2, 16, [4, 4]),
    (2, 20, [5, 4]),      # not a square: the first axis gets a fifth point
    (2, 17, [4, 4]),      # 5 x 4 would be 20 > 17
    (3, 16, [4, 2, 2]),   # 2 x 2 x 2 = 8, grown axis by axis to 16
    (3, 17, [4, 2, 2]),
    (2, 7, [3, 2]),       # 6 grid points, 1 left over
    (3, 27, [3, 3, 3]),
    (1, 7, [7]),
    (2, 1, [1, 1]),
])
def test_grid_counts(dims, budget, counts):
    space = {f"x{i}": Uniform(0, 1) for i in range(dims)}
    assert grid_counts(space, budget) == counts
    assert len(grid_configs(space, budget)) == math.prod(counts) <= budget


def test_grid_counts_respect_small_choices():
    space = {"lr": LogUniform(1e-4, 1e-1), "act": Choice(["relu", "tanh"])}
    assert grid_counts(space, 16) == [8, 2]
    configs = grid_configs(space, 16)
    assert len(configs) == 16 and len({c["lr"] for c in configs}) == 8


def test_narrow_shrinks_around_values():
    space = {"lr": LogUniform(1e-5, 1e-1), "wd": Uniform(0.0, 1.0), "act": Choice(["a", "b", "c"]),
             "width": IntUniform(10, 100)}
    top = [{"lr": 1e-3, "wd": 0.4, "act": "b", "width": 50},
           {"lr": 3e-3, "wd": 0.5, "act": "c", "width": 60}]
    new = narrow_space(space, top, margin=0.1)
    assert 1e-5 < new["lr"].low < 1e-3 and 3e-3 < new["lr"].high < 1e-1
    assert math.isclose(math.log10(new["lr"].low), -3 - 0.4)   # 10% of 4 decades
    assert math.isclose(new["wd"].low, 0.3) and math.isclose(new["wd"].high, 0.6)
    assert new["act"].options == ["b", "c"]
    assert (new["width"].low, new["width"].high) == (41, 69)
    edge = LogUniform(1e-5, 1e-1).narrow([1e-5], margin=0.1)   # clipped to the current range
    assert edge.low == 1e-5 and math.isclose(edge.high, 10 ** -4.6)


def test_sample_config_is_seeded_and_space_round_trips():
    space = {"lr": LogUniform(1e-4, 1e-1), "h": Choice([(64,), (128, 64)]), "n": IntUniform(1, 9)}
    a = [sample_config(space, np.random.default_rng(5)) for _ in range(3)]
    b = [sample_config(space, np.random.default_rng(5)) for _ in range(3)]
    assert a == b and list(a[0]) == ["lr", "h", "n"]
    assert space_from_dict(describe_space(space)) == space
