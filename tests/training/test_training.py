"""The training module: loss, schedule, train step, evaluation, confusion matrix, training loop."""
import math

import numpy as np
import pytest
import mindspore
from mindspore import Tensor, nn

import mhsa_ms as mm
from mhsa_ms import data as data_module


def _log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
def test_cross_entropy_matches_numpy(shape):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=shape).astype(np.float32)
    labels = rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int32)
    expected = -np.take_along_axis(_log_softmax(logits.astype(np.float64)), labels[..., None], -1).mean()
    actual = float(mm.cross_entropy(Tensor(logits), Tensor(labels)).asnumpy())
    assert abs(actual - expected) < 1e-5


def test_warmup_cosine_schedule_shape_and_values():
    lrs = mm.warmup_cosine_schedule(0.1, 100, warmup_steps=10, min_lr=0.01)
    assert lrs.shape == (100,) and lrs.dtype == np.float32
    np.testing.assert_allclose(lrs[:10], 0.1 * np.arange(1, 11) / 10, rtol=1e-6)
    assert np.all(np.diff(lrs[9:]) <= 0)  # non-increasing after the warmup
    assert math.isclose(lrs[-1], 0.01, rel_tol=1e-6)
    no_warmup = mm.warmup_cosine_schedule(1.0, 4)
    np.testing.assert_allclose(no_warmup, 0.5 * (1 + np.cos(np.pi * np.arange(1, 5) / 4)), atol=1e-7)


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=0.1, total_steps=0), "total_steps"),
    (dict(lr=0.1, total_steps=5, warmup_steps=5), "warmup_steps"),
    (dict(lr=0.0, total_steps=5), "lr"),
    (dict(lr=0.1, total_steps=5, min_lr=0.2), "min_lr"),
])
def test_warmup_cosine_schedule_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mm.warmup_cosine_schedule(**kwargs)


def test_make_optimizer_decays_matrices_only():
    model = mm.VisionTransformer(**mm.VIT_PRESETS["digits"])
    optimizer = mm.make_optimizer(model, lr=1e-3, total_steps=10, weight_decay=0.05)
    assert {p.name for p in optimizer.parameters} == {p.name for p in model.trainable_params()}
    decays = dict(zip([p.name for p in optimizer.parameters], optimizer.group_weight_decay))
    decayed = sorted(name for name, wd in decays.items() if wd > 0)
    assert set(decays.values()) == {0.0, 0.05}
    expected = sorted(p.name for p in model.trainable_params()
                      if p.ndim >= 2 and p.name not in ("cls_token", "pos_embed"))
    assert decayed == expected
    assert "layers.0.attn.w_q" in decayed and "patch_embed.proj.weight" in decayed


def _dense_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=16).astype(np.int32)
    return x, y


def _fresh_dense():
    mm.seed_everything(0)
    return nn.Dense(4, 3)


def test_train_step_equals_value_and_grad_then_optimizer():
    x, y = _dense_problem()
    model = _fresh_dense()
    optimizer = mm.make_optimizer(model, lr=0.1, total_steps=3)
    step = mm.make_train_step(model, mm.cross_entropy, optimizer)
    reference = _fresh_dense()
    reference_optimizer = mm.make_optimizer(reference, lr=0.1, total_steps=3)

    def forward(inputs, labels):
        return mm.cross_entropy(reference(inputs), labels)

    grad_fn = mindspore.value_and_grad(forward, None, reference_optimizer.parameters)
    for _ in range(3):
        loss = step(x, y)
        reference_loss, grads = grad_fn(Tensor(x), Tensor(y))
        reference_optimizer(grads)
        assert abs(float(loss.asnumpy()) - float(reference_loss.asnumpy())) < 1e-6
    for ours, theirs in zip(model.trainable_params(), reference.trainable_params()):
        np.testing.assert_allclose(ours.asnumpy(), theirs.asnumpy(), atol=1e-6)
    assert model.training


def test_fused_train_step_computes_the_bits_of_the_plain_path():
    """Gradient and optimizer in one graph (no reducer) == jitted gradient, then eager optimizer (a reducer)."""
    x_train, y_train, _, _ = mm.load_digits()
    runs = {}
    for path, reducer in (("fused", None), ("plain", lambda grads: grads)):
        mm.seed_everything(0)
        model = mm.VisionTransformer(**mm.VIT_PRESETS["digits"])
        optimizer = mm.make_optimizer(model, lr=1e-3, total_steps=8, warmup_steps=3, weight_decay=0.05)
        step = mm.make_train_step(model, mm.cross_entropy, optimizer, grad_reducer=reducer)
        losses = [float(step(x_train[i * 32:(i + 1) * 32], y_train[i * 32:(i + 1) * 32]).asnumpy())
                  for i in range(6)]  # (32, 1, 8, 8) images, (32,) labels; the schedule warms up, then decays
        runs[path] = losses, [p.asnumpy() for p in model.trainable_params()]
    assert runs["fused"][0] == runs["plain"][0]
    assert runs["fused"][0][-1] < runs["fused"][0][0]
    for fused, plain in zip(runs["fused"][1], runs["plain"][1]):
        np.testing.assert_array_equal(fused, plain)


def test_train_step_applies_the_grad_reducer():
    x, y = _dense_problem()
    model = _fresh_dense()
    before = [p.asnumpy().copy() for p in model.trainable_params()]
    optimizer = mm.make_optimizer(model, lr=0.1, total_steps=2)
    calls = []

    def zero_grads(grads):  # a "reducer" that cancels every update
        calls.append(len(grads))
        return tuple(g * 0 for g in grads)

    step = mm.make_train_step(model, mm.cross_entropy, optimizer, grad_reducer=zero_grads)
    step(x, y)
    assert calls == [len(before)]
    for value, param in zip(before, model.trainable_params()):
        np.testing.assert_array_equal(value, param.asnumpy())


def test_train_step_with_shards_averages_the_shard_gradients_as_a_reducer_would():
    """shards=2: (g_0 + g_1) x float32(1/2), the arithmetic of DistributedGradReducer over 2 ranks."""
    x, y = _dense_problem()
    model = _fresh_dense()
    optimizer = mm.make_optimizer(model, lr=0.1, total_steps=2)
    seen = []
    step = mm.make_train_step(model, mm.cross_entropy, optimizer, grad_reducer=lambda g: seen.append(g) or g,
                              shards=2)
    reference = _fresh_dense()
    reference_optimizer = mm.make_optimizer(reference, lr=0.1, total_steps=2)

    def forward(inputs, labels):
        return mm.cross_entropy(reference(inputs), labels)

    grad_fn = mindspore.jit(mindspore.value_and_grad(forward, None, reference_optimizer.parameters))
    half = len(x) // 2
    loss = step(x, y)
    (l0, g0), (l1, g1) = (grad_fn(Tensor(x[r * half:(r + 1) * half]), Tensor(y[r * half:(r + 1) * half]))
                          for r in range(2))
    inverse = Tensor(0.5, mindspore.float32)
    for ours, a, b in zip(seen[0], g0, g1):
        np.testing.assert_array_equal(ours.asnumpy(), ((a + b) * inverse).asnumpy())  # the same bits
    assert float(loss.asnumpy()) == float(((l0 + l1) * inverse).asnumpy())
    whole = grad_fn(Tensor(x), Tensor(y))[1]  # the whole batch at once: equal up to summation order
    for ours, g in zip(seen[0], whole):
        np.testing.assert_allclose(ours.asnumpy(), g.asnumpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="the batch size=5 must be divisible by shards=2"):
        step(x[:5], y[:5])
    with pytest.raises(ValueError, match="shards"):
        mm.make_train_step(model, mm.cross_entropy, optimizer, shards=0)


def test_make_train_step_rejects_bad_arguments():
    model = _fresh_dense()
    optimizer = mm.make_optimizer(model, lr=0.1, total_steps=2)
    with pytest.raises(TypeError, match="loss_fn"):
        mm.make_train_step(model, "cross_entropy", optimizer)
    with pytest.raises(TypeError, match="optimizer"):
        mm.make_train_step(model, mm.cross_entropy, "adam")
    step = mm.make_train_step(model, mm.cross_entropy, optimizer)
    with pytest.raises(ValueError, match="labels"):
        step(np.zeros((2, 4), np.float32))


def test_evaluate_matches_numpy_argmax_and_restores_mode():
    x, y = _dense_problem()
    model = _fresh_dense()
    model.set_train(True)
    logits = x @ model.weight.asnumpy().T + model.bias.asnumpy()
    accuracy, predictions = mm.evaluate(model, x, y, batch_size=5)  # 16 = 5 + 5 + 5 + 1
    np.testing.assert_array_equal(predictions, logits.argmax(-1))
    assert accuracy == float((logits.argmax(-1) == y).mean())
    assert model.training
    with pytest.raises(ValueError, match="same number of samples"):
        mm.evaluate(model, x, y[:3])
    with pytest.raises(ValueError, match="batch_size"):
        mm.predict(model, x, batch_size=0)


def test_confusion_matrix_matches_scikit_learn():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    counts = mm.confusion_matrix(y_true, y_pred, 4)
    np.testing.assert_array_equal(counts, confusion_matrix(y_true, y_pred, labels=range(4)))
    assert counts.sum() == 50 and counts.dtype == np.int64


@pytest.mark.parametrize("args, match", [
    (([0, 1], [0], 2), "y_true and y_pred must have the same length, got 2, 1"),
    (([0, 2], [0, 1], 2), "y_true"),
    (([0, 1], [0, -1], 2), "y_pred"),
    (([0, 1], [0, 1], 0), "num_classes"),
])
def test_confusion_matrix_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        mm.confusion_matrix(*args)


def _small_digits():
    data = mm.load_digits()
    return data_module.Digits(data.x_train[:192], data.y_train[:192], data.x_test[:64], data.y_test[:64])


SMALL_VIT = dict(image_size=8, patch_size=4, in_channels=1, num_classes=10, embed_dim=16, depth=1,
                 num_heads=2, mlp_ratio=1.0)
SMALL_RECIPE = dict(epochs=3, batch_size=32, lr=3e-3, weight_decay=0.05, warmup_epochs=1, max_shift=1, seed=0)


def _train(**overrides):
    mm.seed_everything(0)
    model = mm.VisionTransformer(**SMALL_VIT)
    history = mm.train_classifier(model, _small_digits(), progress=False, **{**SMALL_RECIPE, **overrides})
    return model, history


@pytest.fixture(scope="module")
def trained():
    return _train()


def test_train_classifier_learns_and_reports_history(trained):
    model, history = trained
    assert history["epoch"] == [1, 2, 3]
    assert len(history["loss"]) == len(history["test_accuracy"]) == 3
    assert history["loss"][-1] < history["loss"][0]
    assert history["seconds"] > 0 and history["images_per_second"] == pytest.approx(3 * 6 * 32 / history["seconds"])
    assert history["predictions"].shape == (64,)
    assert history["test_accuracy_final"] == history["test_accuracy"][-1] > 0.1  # better than chance


def test_resuming_from_a_checkpoint_gives_the_uninterrupted_weights(trained, tmp_path):
    straight, straight_history = trained

    class Interrupt(Exception):
        pass

    def save_then_stop(epoch, history):
        mindspore.save_checkpoint(model, str(tmp_path / "model.ckpt"))
        mindspore.save_checkpoint(optimizer, str(tmp_path / "optimizer.ckpt"))
        if epoch == 1:
            interrupted_history.update(history)
            raise Interrupt

    mm.seed_everything(0)
    model = mm.VisionTransformer(**SMALL_VIT)
    steps = 192 // 32
    optimizer = mm.make_optimizer(model, 3e-3, 3 * steps, steps, 0.05)
    interrupted_history = {}
    with pytest.raises(Interrupt):
        mm.train_classifier(model, _small_digits(), progress=False, optimizer=optimizer,
                            on_epoch_end=save_then_stop, **SMALL_RECIPE)
    # same seed, same first two epochs: training is deterministic
    assert interrupted_history["loss"] == straight_history["loss"][:2]

    mm.seed_everything(1)  # a different initialisation, overwritten by the checkpoint
    resumed = mm.VisionTransformer(**SMALL_VIT)
    resumed_optimizer = mm.make_optimizer(resumed, 3e-3, 3 * steps, steps, 0.05)
    mindspore.load_param_into_net(resumed, mindspore.load_checkpoint(str(tmp_path / "model.ckpt")))
    mindspore.load_param_into_net(resumed_optimizer, mindspore.load_checkpoint(str(tmp_path / "optimizer.ckpt")))
    history = mm.train_classifier(resumed, _small_digits(), progress=False, optimizer=resumed_optimizer,
                                  start_epoch=2, **SMALL_RECIPE)
    assert history["epoch"] == [3]
    assert history["loss"] == straight_history["loss"][2:]
    for a, b in zip(straight.trainable_params(), resumed.trainable_params()):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


@pytest.mark.parametrize("overrides, match", [
    (dict(epochs=0), "epochs"),
    (dict(start_epoch=3), "start_epoch"),
    (dict(batch_size=512), "batch_size=512 must be at most the number of training samples"),
])
def test_train_classifier_rejects_bad_arguments(overrides, match):
    with pytest.raises(ValueError, match=match):
        _train(**overrides)


def test_train_steps_takes_the_seeded_batches_and_learns():
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    runs = []
    for _ in range(2):
        mindspore.set_seed(0)
        model = nn.Dense(3, 2)
        runs.append(mm.train_steps(model, (x, y), steps=25, batch_size=8, lr=0.05, warmup_steps=2, progress=False))
    assert len(runs[0]["loss"]) == 25 and runs[0]["seconds"] > 0
    assert runs[0]["loss"] == runs[1]["loss"]  # the same seed, the same batches and steps
    assert np.mean(runs[0]["loss"][-5:]) < np.mean(runs[0]["loss"][:5])
    assert (mm.predict(model, x) == y).mean() > 0.8


def test_train_steps_passes_every_input_to_the_model():
    class TwoInputs(nn.Cell):
        def __init__(self):
            super().__init__()
            self.dense = nn.Dense(2, 2)

        def construct(self, a, b):
            return self.dense(a - b)

    a = np.ones((8, 2), np.float32)
    history = mm.train_steps(TwoInputs(), (a, 2 * a, np.zeros(8, np.int32)), steps=3, batch_size=4, lr=0.1,
                             progress=False)
    assert len(history["loss"]) == 3


@pytest.mark.parametrize("overrides, error, match", [
    (dict(arrays="xy"), TypeError, "arrays"),
    (dict(arrays=(np.zeros((4, 2), np.float32),)), ValueError, r"len\(arrays\)"),
    (dict(steps=0), ValueError, "steps"),
    (dict(batch_size=5), ValueError, "batch_size"),
    (dict(progress="yes"), TypeError, "progress"),
])
def test_train_steps_rejects_bad_arguments(overrides, error, match):
    arguments = dict(model=nn.Dense(2, 2), arrays=(np.zeros((4, 2), np.float32), np.zeros(4, np.int32)),
                     steps=2, batch_size=2, lr=0.1)
    with pytest.raises(error, match=match):
        mm.train_steps(**{**arguments, **overrides})
