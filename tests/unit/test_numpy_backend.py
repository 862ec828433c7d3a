"""The NumPy reference backend: its gradient, optimizers and loop, and its .npz export and runtime.
Pure NumPy: no framework needed, a few seconds."""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from edgebench.config import ModelSpec, OptimizerSpec
from edgebench.exporters import ExportContext
from edgebench.exporters.npz import from_numpy, from_numpy_float16
from edgebench.frameworks.numpy_ref import NumpyAdapter, loss_and_grads
from edgebench.measure.parity import tolerance_for
from edgebench.model import initial_weights, macs, softmax_cross_entropy
from edgebench.runtimes.npz import NpzSession

SPEC = ModelSpec(input_size=6, hidden=(5, 4), num_classes=3)


def _weights(spec=SPEC, seed=0):
    """Initial kernels with non-zero biases, as after some training."""
    rng = np.random.default_rng(seed + 100)
    return [(k, rng.normal(0, 0.1, b.shape).astype(np.float32)) for k, b in initial_weights(spec, seed)]


def _data(n=16, spec=SPEC, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, spec.input_size), dtype=np.float32), rng.integers(0, spec.num_classes, n)


def _train(opt, x, y, *, epochs=1, batch_size=None, weights=None, on_step=None, spec=SPEC):
    """Trained adapter, model and history; every epoch visits the samples in their stored order."""
    adapter = NumpyAdapter(threads=1)
    model = adapter.build(spec, weights or _weights(spec))
    order = np.tile(np.arange(len(y)), (epochs, 1))
    history = adapter.train(model, adapter.load_data(x, y), order, batch_size or len(y), opt,
                            on_epoch=lambda rec: None, on_step=on_step)
    return adapter, model, history


def _flat(weights):
    return [a for pair in weights for a in pair]


def test_gradient_matches_central_differences():
    x, y = _data()
    w = [(k.astype(np.float64), b.astype(np.float64)) for k, b in _weights()]
    _, _, grads = loss_and_grads(w, x, y, dtype=np.float64)
    h = 1e-6
    for p, g in zip(_flat(w), _flat(grads)):
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + h
            up = loss_and_grads(w, x, y, dtype=np.float64)[0]
            p[i] = old - h
            down = loss_and_grads(w, x, y, dtype=np.float64)[0]
            p[i] = old
            numeric[i] = (up - down) / (2 * h)
        # Truncation error ~h^2 and rounding ~1e-16/h: both far below 1e-8, while the gradients
        # themselves are ~1e-2, so a wrong term (a missed ReLU mask, batch mean) shows at once.
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)
    assert max(np.abs(g).max() for g in _flat(grads)) > 1e-3  # a real gradient, not zeros


def test_float32_gradient_is_the_float64_one_rounded():
    x, y = _data()
    loss32, logits32, g32 = loss_and_grads(_weights(), x, y)
    loss64, _, g64 = loss_and_grads(_weights(), x, y, dtype=np.float64)
    assert logits32.dtype == np.float32 and all(g.dtype == np.float32 for g in _flat(g32))
    assert loss32 == pytest.approx(loss64, rel=1e-6)
    assert loss64 == pytest.approx(softmax_cross_entropy(logits32, y), rel=1e-6)
    for a, b in zip(_flat(g32), _flat(g64)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)


def test_one_sgd_step_is_w_minus_lr_grad():
    x, y = _data()
    lr = 0.05
    _, _, grads = loss_and_grads(_weights(), x, y)
    adapter, model, _ = _train(OptimizerSpec(name="sgd", learning_rate=lr), x, y)
    for w, w0, g in zip(_flat(adapter.get_weights(model)), _flat(_weights()), _flat(grads)):
        np.testing.assert_allclose(w, w0 - lr * g, rtol=0, atol=1e-7)
        assert np.abs(w - w0).max() > 1e-4  # it moved


def _adam_by_hand(opt, x, y, steps):
    """Adam written out from the formulas, in float64, on the full batch each step."""
    w = [a.astype(np.float64) for a in _flat(_weights())]
    m = [np.zeros_like(a) for a in w]
    v = [np.zeros_like(a) for a in w]
    b1, b2, eps, lr = opt.beta1, opt.beta2, opt.epsilon, opt.learning_rate
    for t in range(1, steps + 1):
        pairs = [(w[i], w[i + 1]) for i in range(0, len(w), 2)]
        grads = _flat(loss_and_grads(pairs, x, y, dtype=np.float64)[2])
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            if opt.epsilon_placement == "aligned":  # Keras
                w[i] = w[i] - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m[i] / (np.sqrt(v[i]) + eps)
            else:  # PyTorch
                w[i] = w[i] - lr / (1 - b1 ** t) * m[i] / (np.sqrt(v[i]) / math.sqrt(1 - b2 ** t) + eps)
    return w


@pytest.mark.parametrize("placement", ["aligned", "native"])
def test_adam_two_steps_follow_the_formula(placement):
    # epsilon 1e-4 against gradients of ~1e-2: the two placements differ by ~10% of an update
    # (~1e-3 here), far above the 1e-6 bound, so this also pins which placement is which.
    opt = OptimizerSpec(learning_rate=0.01, epsilon=1e-4, epsilon_placement=placement)
    other = OptimizerSpec(learning_rate=0.01, epsilon=1e-4,
                          epsilon_placement="native" if placement == "aligned" else "aligned")
    x, y = _data()
    adapter, model, _ = _train(opt, x, y, epochs=2)
    got = _flat(adapter.get_weights(model))
    for a, b in zip(got, _adam_by_hand(opt, x, y, steps=2)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    wrong = max(np.abs(a - b).max() for a, b in zip(got, _adam_by_hand(other, x, y, steps=2)))
    assert wrong > 1e-4


def test_adam_epsilon_placement_effect():
    # After one step m_hat = g and sqrt(v_hat) = |g|: native moves each weight by
    # lr*g/(|g| + eps), aligned by lr*g/(|g| + eps/sqrt(1 - beta2)): a large epsilon makes the
    # aligned (Keras) step visibly smaller, by exactly that ratio.
    lr, eps, b2 = 0.01, 1e-2, 0.999
    x, y = _data()
    g = _flat(loss_and_grads(_weights(), x, y)[2])
    w0 = _flat(_weights())
    moves = {}
    for placement in ("aligned", "native"):
        adapter, model, _ = _train(OptimizerSpec(learning_rate=lr, epsilon=eps, beta2=b2,
                                                 epsilon_placement=placement), x, y)
        moves[placement] = [w - w_init for w, w_init in zip(_flat(adapter.get_weights(model)), w0)]
    # atol: a move is the difference of two float32 weights of up to ~1, so it carries up to one
    # float32 ulp at 1 (1.2e-7) of rounding; the moves themselves are ~1e-4 to 1e-2.
    for gi, native, aligned in zip(g, moves["native"], moves["aligned"]):
        np.testing.assert_allclose(native, -lr * gi / (np.abs(gi) + eps), rtol=1e-4, atol=2e-7)
        np.testing.assert_allclose(aligned, -lr * gi / (np.abs(gi) + eps / math.sqrt(1 - b2)), rtol=1e-4, atol=2e-7)
    total = {k: sum(float(np.abs(m).sum()) for m in v) for k, v in moves.items()}
    assert 0 < total["aligned"] < 0.5 * total["native"]  # eps/sqrt(1-b2) = 0.32 against gradients of ~1e-2
    # Aligned with eps equals native with eps/sqrt(1 - beta2**1) at step 1: the rule's definition.
    _, m2, _ = _train(OptimizerSpec(learning_rate=lr, epsilon=eps / math.sqrt(1 - b2), beta2=b2,
                                    epsilon_placement="native"), x, y)
    for w_native, move, w_init in zip(_flat(m2.weights), moves["aligned"], w0):
        np.testing.assert_allclose(w_native - w_init, move, rtol=1e-4, atol=2e-7)


def _separable(n=300, classes=3, dim=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (classes, dim))
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.normal(0, 1, (n, dim))).astype(np.float32), y


@pytest.mark.parametrize("opt", [OptimizerSpec(name="sgd", learning_rate=0.1), OptimizerSpec(learning_rate=0.01)],
                         ids=["sgd", "adam"])
def test_training_learns_a_separable_problem(opt):
    spec = ModelSpec(input_size=20, hidden=(16,), num_classes=3)
    x, y = _separable()
    w0 = initial_weights(spec, 0)
    before = softmax_cross_entropy(NumpyAdapter(1).predict(NumpyAdapter(1).build(spec, w0), x), y)
    adapter, model, history = _train(opt, x, y, epochs=5, batch_size=32, weights=w0, spec=spec)
    assert [r.epoch for r in history] == [1, 2, 3, 4, 5]
    assert history[-1].loss < 0.5 * history[0].loss
    assert history[-1].accuracy > 0.95
    assert all(r.time_s > 0 for r in history)
    after = softmax_cross_entropy(adapter.predict(model, x), y)
    assert after < 0.2 * before


def test_epoch_figures_come_from_pre_update_logits():
    x, y = _data(n=40)
    loss0, logits0, _ = loss_and_grads(_weights(), x, y)
    _, _, history = _train(OptimizerSpec(learning_rate=0.05), x, y)  # one full-batch step
    assert history[0].loss == pytest.approx(loss0, rel=1e-6)
    assert history[0].accuracy == np.mean(logits0.argmax(axis=1) == y)


def test_same_inputs_give_bit_identical_weights():
    x, y = _separable(n=200, dim=6)
    runs = []
    for _ in range(2):
        adapter, model, history = _train(OptimizerSpec(), x, y, epochs=2, batch_size=16)
        runs.append((_flat(adapter.get_weights(model)), [r.loss for r in history]))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    assert runs[0][1] == runs[1][1]
    assert not np.array_equal(runs[0][0][0], _weights()[0][0])  # trained, not merely copied


def test_on_step_counts_every_step_across_epochs():
    x, y = _data(n=50)
    seen = []
    snapshots = []

    def on_step(step, model):
        seen.append(step)
        snapshots.append(NumpyAdapter(1).get_weights(model)[0][0])

    _, model, _ = _train(OptimizerSpec(), x, y, epochs=2, batch_size=16, on_step=on_step)
    assert seen == list(range(1, 9))  # 50 samples / 16 = 4 batches (the last short), 2 epochs
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(snapshots))  # weights after each step
    assert np.array_equal(snapshots[-1], model.weights[0][0])


def test_build_rejects_weights_of_another_shape():
    with pytest.raises(ValueError, match="kernel shapes"):
        NumpyAdapter(1).build(ModelSpec(input_size=7, hidden=(5, 4), num_classes=3), _weights())


# Export and runtime

EXPORT_SPEC = ModelSpec(input_size=30, hidden=(12, 8), num_classes=5)


def _exported(tmp_path, exporter, name):
    adapter = NumpyAdapter(1)
    model = adapter.build(EXPORT_SPEC, _weights(EXPORT_SPEC))
    x = np.random.default_rng(3).random((64, EXPORT_SPEC.input_size), dtype=np.float32)
    path = tmp_path / name
    exporter(model, path, ExportContext(spec=EXPORT_SPEC, calibration=x[:8]))
    return adapter.predict(model, x), path, x


def test_float32_round_trip_gives_the_adapters_logits(tmp_path):
    ref, path, x = _exported(tmp_path, from_numpy, "model.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    session = NpzSession(path, threads=1)
    out = session.predict(x)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-6
    assert np.abs(session.batch_call(x[:1])() - ref[:1]).max() <= 1e-6  # the timed call computes the same
    assert session.accepts_batch and session.fixed_batch is None
    assert session.io == {"input": {"dtype": "float32"}, "output": {"dtype": "float32"}}
    assert session.version() == np.__version__
    assert session.graph_cost() == {"parameters": EXPORT_SPEC.parameter_count,
                                    "macs_per_sample": macs(EXPORT_SPEC), "dense_layers": 3}
    session.close()
    assert session.layers is None


def test_float16_round_trip_within_the_parity_tolerance(tmp_path):
    ref, path, x = _exported(tmp_path, from_numpy_float16, "model_float16.npz")
    with np.load(path, allow_pickle=False) as z:
        assert {z[k].dtype for k in z.files} == {np.dtype(np.float16)}
        assert len(z.files) == 6
    session = NpzSession(path)
    diff = np.abs(session.predict(x) - ref).max()
    assert 0 < diff <= tolerance_for("float16").max_abs_diff  # rounded, but within the budget
    assert session.graph_cost()["parameters"] == EXPORT_SPEC.parameter_count


def test_export_writes_exactly_the_path_given(tmp_path):
    # np.savez given the name "artifact" would write "artifact.npz".
    _, path, _ = _exported(tmp_path, from_numpy, "artifact")
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]
    assert NpzSession(path).graph_cost()["dense_layers"] == 3


def test_float16_export_refuses_weights_that_overflow(tmp_path):
    model = NumpyAdapter(1).build(SPEC, [(k * 1e6, b) for k, b in _weights()])
    with pytest.raises(ValueError, match="float16"):
        from_numpy_float16(model, tmp_path / "m.npz", None)


def _unpickled(flag: str) -> None:
    Path(flag).write_text("unpickled")


class _Payload:
    """Runs _unpickled when unpickled: proves whether a loader unpickled the file."""

    def __init__(self, flag: Path) -> None:
        self.flag = str(flag)

    def __reduce__(self):
        return _unpickled, (self.flag,)


def test_pickled_object_array_is_refused_unread(tmp_path):
    flag = tmp_path / "flag"
    path = tmp_path / "evil.npz"
    with open(path, "wb") as f:
        np.savez(f, **{"dense_0.kernel": np.array([_Payload(flag)], dtype=object),
                       "dense_0.bias": np.zeros(1, np.float32)})
    with pytest.raises(ValueError, match="evil.npz"):
        NpzSession(path)
    assert not flag.exists()
    # The payload is live: a loader that does unpickle runs it.
    with np.load(path, allow_pickle=True) as z:
        z["dense_0.kernel"]
    assert flag.read_text() == "unpickled"


def _write(path: Path, **arrays) -> Path:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


@pytest.mark.parametrize("case", ["garbage", "truncated", "npy", "wrong-keys", "int-weights", "no-chain", "nan"])
def test_bad_files_raise_a_one_line_value_error(tmp_path, case):
    k, b = np.ones((4, 3), np.float32), np.zeros(3, np.float32)
    path = tmp_path / f"{case}.npz"
    if case == "garbage":
        path.write_bytes(b"this is not a model\n" * 10)
    elif case == "truncated":
        _, good, _ = _exported(tmp_path, from_numpy, "good.npz")
        path.write_bytes(good.read_bytes()[:300])
    elif case == "npy":
        with open(path, "wb") as f:
            np.save(f, k)
    elif case == "wrong-keys":
        _write(path, x_train=k, y_train=b)
    elif case == "int-weights":
        _write(path, **{"dense_0.kernel": k.astype(np.int32), "dense_0.bias": b})
    elif case == "no-chain":
        _write(path, **{"dense_0.kernel": k, "dense_0.bias": b, "dense_1.kernel": k, "dense_1.bias": b})
    else:
        _write(path, **{"dense_0.kernel": k * np.nan, "dense_0.bias": b})
    with pytest.raises(ValueError) as err:
        NpzSession(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
