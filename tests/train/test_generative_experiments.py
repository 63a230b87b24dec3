"""Generative-model experiments on tiny digits settings: results, PNGs, checkpoints."""
import json
import os

import numpy as np
import pytest

import deepbasic as db

from deepbasic.models import generative as gm
from deepbasic.train import generative as tg

TINY = dict(dataset="digits", epochs=2, train_limit=400, test_limit=200)


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert tg.frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    # 1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2, with the sample moments
    x, y = rng.normal(1.0, 2.0, (5000, 1)), rng.normal(-0.5, 0.5, (5000, 1))
    want = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert tg.frechet_distance(x, y) == pytest.approx(want, rel=1e-9)
    # diagonal covariances: sums over dimensions
    s1, s2 = np.array([1.0, 2.0]), np.array([3.0, 0.5])
    x2 = rng.standard_normal((20000, 2)) * s1
    y2 = rng.standard_normal((20000, 2)) * s2 + 1.0
    assert tg.frechet_distance(x2, y2) == pytest.approx(2 + ((s1 - s2) ** 2).sum(), rel=0.05)


def test_few_labels():
    y = np.repeat(np.arange(3), [5, 2, 7])
    idx = tg.few_labels(y, 3, seed=1)
    assert np.bincount(y[idx]).tolist() == [3, 2, 3] and len(set(idx)) == len(idx)


def test_autoencoder_experiment(tmp_path):
    r = tg.autoencoder_experiment(latent=8, channels=(8, 16), labels_per_class=10,
                                  classifier_epochs=30, out_dir=str(tmp_path), **TINY)
    assert r["labelled_examples"] == 100
    assert 0.1 < r["feature_accuracy"] <= 1 and 0.1 < r["pixel_accuracy"] <= 1
    assert r["history"][-1]["loss"] < r["history"][0]["loss"] and r["test_mse"] < 0.2
    assert os.path.getsize(r["reconstructions_png"]) > 0
    assert json.load(open(tmp_path / "result.json"))["feature_accuracy"] == r["feature_accuracy"]
    model, config = tg.load_generative(r["checkpoint"])
    assert isinstance(model, gm.ConvAutoencoder) and config["latent"] == 8


def test_vae_experiment_and_helpers(tmp_path):
    r = tg.vae_experiment(latent=2, channels=(8, 16), out_dir=str(tmp_path), **TINY)
    assert r["test_elbo"] < 0 and r["test_bits_per_dim"] == pytest.approx(
        -r["test_elbo"] / (64 * np.log(2)))
    for key in ("samples_png", "interpolation_png", "latent_map_png"):
        assert os.path.getsize(r[key]) > 0
    model, config = tg.load_generative(r["checkpoint"])
    assert config["likelihood"] == "bernoulli"
    x = tg.load_images("digits", 10, 10)[2]
    strip = tg.interpolate(model, x[0], x[1], 5)
    assert strip.shape == (5, 1, 8, 8)
    ends = model.decode(db.tensor(tg.encode(model, x[:2]))).numpy()
    np.testing.assert_allclose(strip[[0, -1]], ends, atol=1e-5)
    assert tg.latent_map(model, 4).shape == (16, 1, 8, 8)
    r3 = tg.vae_experiment(latent=3, channels=(4, 8), out_dir=str(tmp_path / "l3"), **TINY)
    assert "latent_map_png" not in r3
    with pytest.raises(ValueError, match="2-D"):
        tg.latent_map(tg.load_generative(r3["checkpoint"])[0])


def test_gan_experiment(tmp_path):
    r = tg.gan_experiment(latent=8, channels=(8, 16), fid_samples=200, classifier_epochs=6,
                          lr=2e-3, out_dir=str(tmp_path), **TINY)
    assert len(r["history"]) == 2 and len(r["sample_pngs"]) == 2
    assert all(np.isfinite(h["frechet"]) and h["frechet"] > 0 for h in r["history"])
    assert r["frechet_test_halves"] < r["history"][-1]["frechet"]
    assert r["classifier_accuracy"] > 0.3
    G, config = tg.load_generative(r["checkpoint"])
    assert isinstance(G, gm.DCGANGenerator) and config["latent"] == 8


def test_pixelcnn_experiment(tmp_path):
    r = tg.pixelcnn_experiment(channels=8, layers=1, first_kernel=5, samples=2,
                               out_dir=str(tmp_path), **TINY)
    assert 0 < r["test_bits_per_dim"] < 1.2 and 0 < r["baseline_bits_per_dim"] < 1
    assert r["sample_s_per_image"] > 0 and os.path.getsize(r["samples_png"]) > 0
    model, _ = tg.load_generative(r["checkpoint"])
    assert isinstance(model, gm.PixelCNN)


def test_bad_settings():
    with pytest.raises(ValueError, match="epochs"):
        tg.vae_experiment(dataset="digits", epochs=0)
    with pytest.raises(ValueError, match="kind"):
        tg.build_model({"kind": "flow", "image_shape": [1, 8, 8]})
