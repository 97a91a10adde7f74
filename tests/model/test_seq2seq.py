"""Seq2SeqTransformer and shift_right: shapes, the causal decoder, greedy generation, errors, learning to sort."""
import numpy as np
import pytest
from mindspore import Tensor

import mhsa_ms as mm


def _model(seed=0, **kwargs):
    mm.seed_everything(seed)
    config = dict(vocab_size=7, max_tokens=6, embed_dim=16, depth=2, num_heads=4)
    return mm.Seq2SeqTransformer(**{**config, **kwargs})


def _tokens(batch, length, vocab, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, size=(batch, length)).astype(np.int32)


def test_shift_right_puts_the_start_token_first():
    targets = np.array([[3, 1, 4], [1, 5, 9]])
    shifted = mm.shift_right(targets, 10)
    assert shifted.dtype == np.int32
    assert shifted.tolist() == [[10, 3, 1], [10, 1, 5]]


@pytest.mark.parametrize("norm_first", [True, False])
def test_seq2seq_shapes_and_attention(norm_first):
    model = _model(norm_first=norm_first)
    source, decoder_inputs = _tokens(3, 6, 7), mm.shift_right(_tokens(3, 4, 7, 1), model.start_token)
    logits, attention = model(Tensor(source), Tensor(decoder_inputs), return_attention=True)
    assert tuple(logits.shape) == (3, 4, 7)
    assert model.start_token == 7
    assert [tuple(w.shape) for w in attention["encoder"]] == [(3, 4, 6, 6)] * 2
    assert [tuple(w.shape) for w in attention["decoder_self"]] == [(3, 4, 4, 4)] * 2
    assert [tuple(w.shape) for w in attention["cross"]] == [(3, 4, 4, 6)] * 2
    for weights in attention["decoder_self"]:  # causal: no weight above the diagonal
        assert not np.triu(weights.asnumpy(), k=1).any()
    np.testing.assert_allclose(attention["cross"][0].asnumpy().sum(-1), 1.0, atol=1e-5)


def test_decoder_outputs_do_not_depend_on_later_decoder_inputs():
    model = _model()
    model.set_train(False)
    source = Tensor(_tokens(2, 6, 7))
    decoder_inputs = mm.shift_right(_tokens(2, 6, 7, 1), model.start_token)
    logits = model(source, Tensor(decoder_inputs)).asnumpy()  # (B, N, V)
    for t in range(5):
        changed = decoder_inputs.copy()
        changed[:, t + 1:] = (changed[:, t + 1:] + 3) % 7  # change every later token
        other = model(source, Tensor(changed)).asnumpy()
        np.testing.assert_allclose(other[:, :t + 1], logits[:, :t + 1], atol=1e-5)
        assert np.abs(other[:, t + 1:] - logits[:, t + 1:]).max() > 1e-4  # later positions do see them


def test_generate_equals_one_teacher_forced_pass_on_its_own_tokens():
    model = _model()
    source = _tokens(4, 6, 7)
    model.set_train(True)
    tokens, step_logits = model.generate(source)
    assert model.training  # restored
    assert tokens.shape == (4, 6) and tokens.dtype == np.int32 and step_logits.shape == (4, 6, 7)
    np.testing.assert_array_equal(tokens, step_logits.argmax(-1))
    model.set_train(False)
    parallel = model(Tensor(source), Tensor(mm.shift_right(tokens, model.start_token))).asnumpy()
    np.testing.assert_allclose(parallel, step_logits, atol=1e-5)
    assert model.generate(source, num_tokens=3)[0].shape == (4, 3)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(vocab_size=1), ValueError, "vocab_size"),
    (dict(max_tokens=0), ValueError, "max_tokens"),
    (dict(depth=0), ValueError, "depth"),
    (dict(embed_dim=10, num_heads=4), ValueError, "embed_dim"),
])
def test_seq2seq_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        _model(**kwargs)


def test_seq2seq_rejects_bad_inputs():
    model = _model()
    with pytest.raises(ValueError, match=r"source must be 2-D \(B, Nk\)"):
        model(Tensor(np.zeros((2, 6, 1), np.int32)), Tensor(np.zeros((2, 6), np.int32)))
    with pytest.raises(ValueError, match=r"decoder_inputs must be 2-D \(B, Nq\)"):
        model(Tensor(np.zeros((2, 6), np.int32)), Tensor(np.zeros((2,), np.int32)))
    with pytest.raises(ValueError, match="max_tokens"):
        model(Tensor(np.zeros((2, 8), np.int32)), Tensor(np.zeros((2, 6), np.int32)))
    with pytest.raises(ValueError, match="num_tokens"):
        model.generate(np.zeros((2, 6), np.int32), num_tokens=7)
    with pytest.raises(TypeError, match="num_tokens"):
        model.generate(np.zeros((2, 6), np.int32), num_tokens=2.0)
    with pytest.raises(ValueError, match=r"targets must be 2-D \(B, N\)"):
        mm.shift_right(np.zeros(3, np.int32), 7)
    with pytest.raises(ValueError, match="start_token"):
        mm.shift_right(np.zeros((1, 3), np.int32), -1)


def test_seq2seq_learns_to_sort_with_aligned_cross_attention():
    length, vocab = 6, 8
    source, targets = mm.sort_task(4096, length, vocab, seed=0)
    test_source, test_targets = mm.sort_task(256, length, vocab, seed=1)
    model = _model(vocab_size=vocab, max_tokens=length, embed_dim=32, depth=1, num_heads=2)
    history = mm.train_steps(model, (source, mm.shift_right(targets, model.start_token), targets), steps=150,
                             batch_size=64, lr=5e-3, warmup_steps=15, progress=False)
    assert np.mean(history["loss"][-10:]) < 0.2 * np.mean(history["loss"][:10])
    tokens, _ = model.generate(test_source)
    assert (tokens == test_targets).mean() >= 0.9
    model.set_train(False)
    _, attention = model(Tensor(test_source), Tensor(mm.shift_right(test_targets, model.start_token)),
                         return_attention=True)
    cross = attention["cross"][0].asnumpy().mean(1)  # (B, Nq, Nk), averaged over heads
    holds_output = test_source[:, None, :] == test_targets[:, :, None]  # (B, Nq, Nk): source j holds y_i
    assert (cross * holds_output).sum(-1).mean() > 1.8 * holds_output.mean()  # more than uniform attention's share
