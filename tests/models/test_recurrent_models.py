"""RowLSTM (many to one) and CharLM (many to many) with sampling."""
import numpy as np
import pytest

import deepbasic as db
from deepbasic.data.text import CharVocab
from deepbasic.models import build_model
from deepbasic.models.recurrent import CharLM, RowLSTM, sample_text


def test_rowlstm_reads_rows_and_uses_the_last_step():
    db.manual_seed(0)
    m = build_model("rowlstm", (1, 6, 5), 4, hidden=8)
    assert isinstance(m, RowLSTM)
    x = np.random.default_rng(0).random((3, 1, 6, 5)).astype(np.float64)
    xt = db.tensor(x.astype(np.float32))
    s = m(xt)
    assert s.shape == (3, 4)
    # the prediction depends on the last row, and on the first row through the recurrence
    for row in (0, 5):
        y = x.copy()
        y[:, :, row] += 1.0
        assert not np.allclose(m(db.tensor(y.astype(np.float32))).numpy(), s.numpy())
    # the same as running the LSTM by hand on the (N, H, W) rows
    out, (h, c) = m.rnn(db.tensor(x[:, 0].astype(np.float32)))
    assert np.allclose(m.fc(out[:, -1]).numpy(), s.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match=r"expected images \(N, 1, 6, 5\)"):
        m(db.tensor(np.zeros((3, 6, 5), np.float32)))
    with pytest.raises(ValueError, match="unknown recurrent cell"):
        RowLSTM((1, 6, 5), cell="transformer")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_charlm_carries_its_state(cell):
    db.manual_seed(0)
    m = CharLM(7, embed=4, hidden=6, num_layers=2, cell=cell)
    x = db.tensor(np.random.default_rng(0).integers(0, 7, (2, 9)))
    whole, _ = m(x)
    first, state = m(x[:, :4])
    second, _ = m(x[:, 4:], state)
    assert whole.shape == (2, 9, 7)
    assert np.allclose(np.concatenate([first.numpy(), second.numpy()], axis=1), whole.numpy(),
                       atol=1e-5)
    with pytest.raises(ValueError, match=r"character ids \(B, T\)"):
        m(db.tensor(np.zeros((2, 3, 1), np.int64)))


def test_sample_text_is_seeded_and_greedy_at_zero_temperature():
    vocab = CharVocab.from_text("abcab")
    db.manual_seed(1)
    m = CharLM(vocab.size, embed=4, hidden=8, num_layers=1)
    a = sample_text(m, vocab, 20, prime="a", temperature=1.0, seed=3)
    b = sample_text(m, vocab, 20, prime="a", temperature=1.0, seed=3)
    assert a == b and len(a) == 20 and set(a) <= set(vocab.chars) | {vocab.unk_char}
    g1 = sample_text(m, vocab, 10, prime="a", temperature=0, seed=1)
    g2 = sample_text(m, vocab, 10, prime="a", temperature=0, seed=2)
    assert g1 == g2
    assert m.training
    with pytest.raises(ValueError, match="temperature"):
        sample_text(m, vocab, 5, temperature=-1)
    with pytest.raises(ValueError, match="prime"):
        sample_text(m, vocab, 5, prime="")


def test_charlm_learns_a_periodic_text_by_tbptt():
    from deepbasic import nn, optim
    from deepbasic.data.text import batchify
    from deepbasic.train.sequence import SequenceTrainer

    text = "hello world. " * 300
    vocab = CharVocab.from_text(text)
    db.manual_seed(0)
    m = CharLM(vocab.size, embed=8, hidden=32, num_layers=1)
    trainer = SequenceTrainer(m, nn.CrossEntropyLoss(), optim.Adam(m.parameters(), lr=1e-2),
                              seq_len=20, clip_grad_norm=5.0, progress=False, verbose=False)
    ids = vocab.encode(text)
    hist = trainer.fit(batchify(ids[:3000], 8), batchify(ids[3000:], 4), epochs=6)
    assert hist[-1]["val_bpc"] < 0.3 < hist[0]["val_bpc"]
    assert sample_text(m, vocab, 24, prime="hello", temperature=0).startswith(" world. hello")
