"""``deepbasic generate``: train and sample each model on tiny digits settings; one-line errors."""
import json

import pytest

from deepbasic import cli

TINY = ["--dataset", "digits", "--epochs", "1", "--train-limit", "300", "--test-limit", "100",
        "--no-progress"]


@pytest.fixture
def main():
    """The real command line (cli.COMMAND_MODULES lists deepbasic.commands.generate)."""
    return cli.main


@pytest.mark.parametrize("kind, extra, expect", [
    ("ae", ["--latent", "4", "--channels", "4,8", "--labels-per-class", "5",
            "--classifier-epochs", "5"], "encoder features"),
    ("vae", ["--latent", "2", "--channels", "4,8"], "held-out ELBO"),
    ("gan", ["--latent", "4", "--channels", "4,8", "--fid-samples", "100",
             "--classifier-epochs", "1"], "Frechet distance"),
    ("pixelcnn", ["--channels", "4", "--layers", "1", "--first-kernel", "3", "--samples", "2"],
     "independent pixels"),
    ("pixelrnn", ["--hidden", "4", "--row-kernel", "3", "--left-kernel", "3", "--samples", "2"],
     "PixelRNN"),
])
def test_generate_train_then_sample(kind, extra, expect, main, tmp_path, capsys):
    run = tmp_path / kind
    assert main(["generate", kind, "train", *TINY, *extra, "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert expect in out and "figure:" in out
    assert json.loads((run / "result.json").read_text())["kind"] == kind
    png = tmp_path / f"{kind}.png"
    assert main(["generate", kind, "sample", "--checkpoint", str(run / "model.safetensors"),
                 "--n", "3", "--out", str(png)]) == 0
    assert png.stat().st_size > 0 and str(png) in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["generate", "vae", "sample", "--checkpoint", "/no/such.safetensors", "--out", "x.png"],
     "no such file"),
    (["generate", "ae", "train", "--channels", "4,8,16", *TINY], "--channels takes two widths"),
    (["generate", "vae", "train", "--dataset", "digits", "--epochs", "1", "--channels", "4,8",
      "--train-limit", "20", "--batch-size", "8", "--latent", "2", "--no-progress",
      "--likelihood", "gaussian", "--test-limit", "5", "--seed", "0", "--lr", "1e-3"], None),
])
def test_generate_errors_are_one_line(argv, message, main, capsys):
    rc = main(argv)
    if message is None:  # a valid tiny run, for contrast
        assert rc == 0
        return
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_sample_refuses_another_kind(main, tmp_path, capsys):
    run = tmp_path / "vae"
    assert main(["generate", "vae", "train", *TINY, "--latent", "2", "--channels", "4,8",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["generate", "gan", "sample", "--checkpoint", str(run / "model.safetensors"),
                 "--out", str(tmp_path / "g.png")]) == 2
    assert "holds a vae model" in capsys.readouterr().err
    not_model = tmp_path / "bad.safetensors"
    not_model.write_bytes(b"not a safetensors file")
    assert main(["generate", "vae", "sample", "--checkpoint", str(not_model),
                 "--out", str(tmp_path / "b.png")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
