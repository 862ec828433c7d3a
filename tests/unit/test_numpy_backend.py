"""The NumPy reference backend: every layer's forward (against loop-by-loop references written
here) and gradient (against central differences), BatchNorm's statistics, dropout masks, the
optimizers and loop, and the .npz export and runtime. Pure NumPy: no framework needed, seconds."""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgebench import models
from edgebench.config import OptimizerSpec
from edgebench.exporters import ExportContext
from edgebench.exporters.npz import from_numpy, from_numpy_float16
from edgebench.frameworks import numpy_ref
from edgebench.frameworks.numpy_ref import NumpyAdapter, dropout_masks, forward, loss_and_grads
from edgebench.models import weights as W
from edgebench.models import zoo
from edgebench.models.layers import (Add, AvgPool2D, BatchNorm, Conv2D, Dense, DepthwiseConv2D, Dropout, Flatten,
                                     GlobalAveragePooling, MaxPool2D, ReLU, ReLU6)
from edgebench.models.network import Network
from edgebench.models.network import from_description as network_from_description
from edgebench.runtimes.npz import NpzSession

NET = zoo.mlp((6,), 3, (5, 4))  # dense_0 (6, 5), dense_1 (5, 4), dense_2 (4, 3)


def _weights(net=NET, seed=0):
    """Initial kernels with non-zero biases, gammas and betas, as after some training."""
    rng = np.random.default_rng(seed + 100)
    out = W.initial(net, seed)
    for arrays in out.values():
        for k in ("bias", "beta"):
            if k in arrays:
                arrays[k] = rng.normal(0, 0.1, arrays[k].shape).astype(np.float32)
        if "gamma" in arrays:
            arrays["gamma"] = rng.uniform(0.5, 1.5, arrays["gamma"].shape).astype(np.float32)
    return out


def _data(n=16, net=NET, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, *net.input_shape), dtype=np.float32), rng.integers(0, net.num_classes, n)


def _train(opt, x, y, *, epochs=1, batch_size=None, weights=None, on_step=None, net=NET):
    """Trained adapter, model and history; every epoch visits the samples in their stored order."""
    adapter = NumpyAdapter(threads=1)
    model = adapter.build(net, weights or _weights(net))
    order = np.tile(np.arange(len(y)), (epochs, 1))
    history = adapter.train(model, adapter.load_data(x, y), order, batch_size or len(y), opt,
                            on_epoch=lambda rec: None, on_step=on_step)
    return adapter, model, history


def _keys(weights):
    return [(layer, k) for layer in sorted(weights) for k in sorted(weights[layer])]


def _flat(weights, trainable_only=False):
    return [weights[layer][k] for layer, k in _keys(weights)
            if not trainable_only or k in ("kernel", "bias", "gamma", "beta")]


def _xent(logits, y) -> float:
    """Mean softmax cross-entropy in float64, written independently of the backend."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))


def _numeric(net, w, x, y, h=1e-6, **kw):
    """Central differences of the float64 training-mode loss for every trainable array."""
    out = {}
    for layer, k in _keys(w):
        if k not in ("kernel", "bias", "gamma", "beta"):
            continue
        p = w[layer][k]
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + h
            up = loss_and_grads(net, w, x, y, dtype=np.float64, **kw)[0]
            p[i] = old - h
            down = loss_and_grads(net, w, x, y, dtype=np.float64, **kw)[0]
            p[i] = old
            numeric[i] = (up - down) / (2 * h)
        out.setdefault(layer, {})[k] = numeric
    return out


def _as64(weights):
    return {layer: {k: a.astype(np.float64) for k, a in arrays.items()} for layer, arrays in weights.items()}


# MLP: gradient, optimizers, loop

def test_gradient_matches_central_differences():
    x, y = _data()
    w = _as64(_weights())
    _, _, grads = loss_and_grads(NET, w, x, y, dtype=np.float64)
    numeric = _numeric(NET, w, x, y)
    assert _keys(grads) == _keys(numeric)
    for layer, k in _keys(grads):
        # Truncation error ~h^2 and rounding ~1e-16/h: both far below 1e-8, while the gradients
        # themselves are ~1e-2, so a wrong term (a missed ReLU mask, batch mean) shows at once.
        np.testing.assert_allclose(grads[layer][k], numeric[layer][k], rtol=1e-6, atol=1e-8)
    assert max(np.abs(g).max() for g in _flat(grads)) > 1e-3  # a real gradient, not zeros


def test_float32_gradient_is_the_float64_one_rounded():
    x, y = _data()
    loss32, logits32, g32 = loss_and_grads(NET, _weights(), x, y)
    loss64, _, g64 = loss_and_grads(NET, _weights(), x, y, dtype=np.float64)
    assert logits32.dtype == np.float32 and all(g.dtype == np.float32 for g in _flat(g32))
    assert loss32 == pytest.approx(loss64, rel=1e-6)
    assert loss64 == pytest.approx(_xent(logits32, y), rel=1e-6)
    for a, b in zip(_flat(g32), _flat(g64)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)


def test_one_sgd_step_is_w_minus_lr_grad():
    x, y = _data()
    lr = 0.05
    _, _, grads = loss_and_grads(NET, _weights(), x, y)
    adapter, model, _ = _train(OptimizerSpec(name="sgd", learning_rate=lr), x, y)
    for w, w0, g in zip(_flat(adapter.get_weights(model)), _flat(_weights()), _flat(grads)):
        np.testing.assert_allclose(w, w0 - lr * g, rtol=0, atol=1e-7)
        assert np.abs(w - w0).max() > 1e-4  # it moved


def _adam_by_hand(opt, x, y, steps):
    """Adam written out from the formulas, in float64, on the full batch each step."""
    w = _as64(_weights())
    keys = _keys(w)
    m = {key: 0.0 for key in keys}
    v = {key: 0.0 for key in keys}
    b1, b2, eps, lr = opt.beta1, opt.beta2, opt.epsilon, opt.learning_rate
    for t in range(1, steps + 1):
        grads = loss_and_grads(NET, w, x, y, dtype=np.float64)[2]
        for layer, k in keys:
            g = grads[layer][k]
            m[layer, k] = b1 * m[layer, k] + (1 - b1) * g
            v[layer, k] = b2 * v[layer, k] + (1 - b2) * g * g
            if opt.epsilon_placement == "aligned":  # Keras
                step = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m[layer, k] / (np.sqrt(v[layer, k]) + eps)
            else:  # PyTorch
                step = lr / (1 - b1 ** t) * m[layer, k] / (np.sqrt(v[layer, k]) / math.sqrt(1 - b2 ** t) + eps)
            w[layer][k] = w[layer][k] - step
    return _flat(w)


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
    g = _flat(loss_and_grads(NET, _weights(), x, y)[2])
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
    net = zoo.mlp((20,), 3, (16,))
    x, y = _separable()
    w0 = W.initial(net, 0)
    before = _xent(NumpyAdapter(1).predict(NumpyAdapter(1).build(net, w0), x), y)
    adapter, model, history = _train(opt, x, y, epochs=5, batch_size=32, weights=w0, net=net)
    assert [r.epoch for r in history] == [1, 2, 3, 4, 5]
    assert history[-1].loss < 0.5 * history[0].loss
    assert history[-1].accuracy > 0.95
    assert all(r.time_s > 0 for r in history)
    after = _xent(adapter.predict(model, x), y)
    assert after < 0.2 * before


def test_epoch_figures_come_from_pre_update_logits():
    x, y = _data(n=40)
    loss0, logits0, _ = loss_and_grads(NET, _weights(), x, y)
    _, _, history = _train(OptimizerSpec(learning_rate=0.05), x, y)  # one full-batch step
    assert history[0].loss == pytest.approx(loss0, rel=1e-6)
    assert history[0].loss == pytest.approx(_xent(logits0, y), rel=1e-6)
    assert history[0].accuracy == np.mean(logits0.argmax(axis=1) == y)


def test_same_inputs_give_bit_identical_weights():
    net = zoo.mlp((6,), 3, (5, 4))
    x, y = _separable(n=200, dim=6)
    runs = []
    for _ in range(2):
        adapter, model, history = _train(OptimizerSpec(), x, y, epochs=2, batch_size=16, net=net)
        runs.append((_flat(adapter.get_weights(model)), [r.loss for r in history]))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    assert runs[0][1] == runs[1][1]
    assert not np.array_equal(runs[0][0][0], _flat(_weights())[0])  # trained, not merely copied


def test_on_step_counts_every_step_across_epochs():
    x, y = _data(n=50)
    seen = []
    snapshots = []

    def on_step(step, model):
        seen.append(step)
        snapshots.append(NumpyAdapter(1).get_weights(model)["dense_0"]["kernel"])

    _, model, _ = _train(OptimizerSpec(), x, y, epochs=2, batch_size=16, on_step=on_step)
    assert seen == list(range(1, 9))  # 50 samples / 16 = 4 batches (the last short), 2 epochs
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(snapshots))  # weights after each step
    assert np.array_equal(snapshots[-1], model.weights["dense_0"]["kernel"])


def test_build_rejects_weights_that_do_not_fit():
    other = zoo.mlp((7,), 3, (5, 4))
    with pytest.raises(ValueError, match=r"dense_0.*kernel.*\(6, 5\).*\(7, 5\)"):
        NumpyAdapter(1).build(other, _weights())
    missing = _weights()
    del missing["dense_1"]
    with pytest.raises(ValueError, match="dense_1"):
        NumpyAdapter(1).build(NET, missing)


def test_the_builtin_mlp_takes_images_flat_or_shaped():
    net = models.build("mlp", (28, 28, 1), 10)
    assert net.input_shape == (784,) and net == zoo.mlp((784,), 10, (64,))
    adapter = NumpyAdapter(1)
    w = W.initial(net, 0)
    model = adapter.build(net, w)
    x = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    expected = np.maximum(x @ w["dense_0"]["kernel"] + w["dense_0"]["bias"], 0) @ w["dense_1"]["kernel"]
    np.testing.assert_allclose(adapter.predict(model, x), expected, rtol=1e-5, atol=1e-6)
    assert adapter.versions() == {"numpy": np.__version__}


# Every layer type: forward against loops written here

def _pads_by_hand(n, k, s):
    """TensorFlow's 'same' rule, written out: out = ceil(n/s), odd extra pad at the end."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _loop_conv(x, kernel, bias, stride, pads, depthwise=False):
    x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw = kernel.shape[:2]
    n, hp, wp, c = x.shape
    ho, wo = (hp - kh) // stride[0] + 1, (wp - kw) // stride[1] + 1
    cout = c * kernel.shape[3] if depthwise else kernel.shape[3]
    out = np.zeros((n, ho, wo, cout))
    for b, i, j in itertools.product(range(n), range(ho), range(wo)):
        win = x[b, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw, :]
        if depthwise:
            for ch, m in itertools.product(range(c), range(kernel.shape[3])):
                out[b, i, j, ch * kernel.shape[3] + m] = np.sum(win[:, :, ch] * kernel[:, :, ch, m])
        else:
            for o in range(cout):
                out[b, i, j, o] = np.sum(win * kernel[:, :, :, o])
    return out + (0 if bias is None else bias)


def _loop_pool(x, pool, stride, how):
    n, h, w, c = x.shape
    ho, wo = (h - pool[0]) // stride[0] + 1, (w - pool[1]) // stride[1] + 1
    out = np.zeros((n, ho, wo, c))
    for b, i, j, ch in itertools.product(range(n), range(ho), range(wo), range(c)):
        win = x[b, i * stride[0]:i * stride[0] + pool[0], j * stride[1]:j * stride[1] + pool[1], ch]
        out[b, i, j, ch] = win.max() if how == "max" else win.mean()
    return out


def _head(features, w):
    """Flatten channels-last (C order of NHWC), then the dense head."""
    return features.reshape(len(features), -1) @ w["out"]["kernel"] + w["out"]["bias"]


def _bn(x, mean, var, w, eps):
    return (x - mean) / np.sqrt(var + eps) * w["gamma"] + w["beta"]


def _case_net(shape, layers, classes=3):
    return Network("case", tuple(layers) + (Flatten("flat"), Dense("out", classes)), shape, classes)


FORWARD_CASES = {
    # name: (input shape, layers before the head, the same computed with the loops above)
    "conv-same-strided-odd-pad": ((5, 6, 2), [Conv2D("c", 3, kernel=3, stride=2, padding="same", activation="relu")],
                                  lambda x, w: np.maximum(_loop_conv(x, w["c"]["kernel"], w["c"]["bias"], (2, 2),
                                                                     ((1, 1), (0, 1))), 0)),
    "conv-valid-relu6": ((5, 6, 2), [Conv2D("c", 2, kernel=(2, 3), stride=(1, 2), padding="valid",
                                            activation="relu6")],
                         lambda x, w: np.clip(_loop_conv(x, w["c"]["kernel"], w["c"]["bias"], (1, 2),
                                                         ((0, 0), (0, 0))), 0, 6)),
    "conv-explicit-pads-no-bias": ((4, 4, 1), [Conv2D("c", 2, kernel=3, stride=2, padding=((0, 2), (1, 0)),
                                                      use_bias=False)],
                                   lambda x, w: _loop_conv(x, w["c"]["kernel"], None, (2, 2), ((0, 2), (1, 0)))),
    "depthwise-m2": ((5, 5, 2), [DepthwiseConv2D("c", kernel=3, stride=2, padding="same", multiplier=2)],
                     lambda x, w: _loop_conv(x, w["c"]["kernel"], w["c"]["bias"], (2, 2), ((1, 1), (1, 1)),
                                             depthwise=True)),
    "maxpool": ((5, 5, 2), [MaxPool2D("p")], lambda x, w: _loop_pool(x, (2, 2), (2, 2), "max")),
    "maxpool-overlapping": ((7, 6, 2), [MaxPool2D("p", pool=3, stride=2)],
                            lambda x, w: _loop_pool(x, (3, 3), (2, 2), "max")),
    "avgpool": ((5, 4, 2), [AvgPool2D("p", pool=(2, 3), stride=1)], lambda x, w: _loop_pool(x, (2, 3), (1, 1), "avg")),
    "gap": ((3, 4, 2), [GlobalAveragePooling("g")], lambda x, w: x.mean(axis=(1, 2))),
    "batchnorm-inference": ((3, 3, 2), [BatchNorm("bn", epsilon=1e-3)],
                            lambda x, w: _bn(x, w["bn"]["moving_mean"], w["bn"]["moving_variance"], w["bn"], 1e-3)),
    "relu": ((3, 3, 2), [ReLU("r")], lambda x, w: np.where(x > 0, x, 0)),
    "relu6": ((3, 3, 2), [ReLU6("r")], lambda x, w: np.where(x > 6, 6, np.where(x > 0, x, 0))),
    "residual-add": ((3, 3, 2), [ReLU("r"), Add("a", other="input")], lambda x, w: np.where(x > 0, x, 0) + x),
    "dropout-inference": ((3, 3, 2), [Dropout("d", rate=0.5)], lambda x, w: x),
    "dense-relu": ((6,), [Dense("d", 4, activation="relu")],
                   lambda x, w: np.maximum(x @ w["d"]["kernel"] + w["d"]["bias"], 0)),
}


def _case_weights(net, seed=0):
    w = _as64(_weights(net, seed))
    rng = np.random.default_rng(seed + 7)
    for arrays in w.values():
        if "moving_mean" in arrays:
            arrays["moving_mean"] = rng.normal(0, 1, arrays["moving_mean"].shape)
            arrays["moving_variance"] = rng.uniform(0.2, 3, arrays["moving_variance"].shape)
    return w


@pytest.mark.parametrize("case", FORWARD_CASES)
def test_each_layer_forward_matches_a_loop(case):
    shape, layers, by_hand = FORWARD_CASES[case]
    net = _case_net(shape, layers)
    w = _case_weights(net)
    x = np.random.default_rng(2).normal(0, 4, (3, *shape))  # wide enough to pass 6 and 0
    got = forward(net, w, x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _head(by_hand(x, w), w), rtol=1e-12, atol=1e-12)


def test_same_padding_puts_the_odd_pad_at_the_bottom_right():
    conv = Conv2D("c", 3, kernel=3, stride=2, padding="same")
    assert conv.pads((5, 6, 2)) == (_pads_by_hand(5, 3, 2), _pads_by_hand(6, 3, 2)) == ((1, 1), (0, 1))


def test_flatten_is_channels_last():
    # A dense kernel row r must meet feature (h, w, c) with r = (h*W + w)*C + c.
    net = _case_net((2, 3, 2), [], classes=12)
    w = {"out": {"kernel": np.eye(12), "bias": np.zeros(12)}}
    x = np.arange(12.0).reshape(1, 2, 3, 2)
    got = forward(net, w, x)[0]
    for h, col, c in itertools.product(range(2), range(3), range(2)):
        assert got[(h * 3 + col) * 2 + c] == x[0, h, col, c]


def test_batchnorm_training_mode_uses_the_biased_batch_statistics():
    net = _case_net((3, 3, 2), [BatchNorm("bn", epsilon=1e-3)])
    w = _case_weights(net)
    x = np.random.default_rng(3).normal(1, 2, (4, 3, 3, 2))
    flat = x.reshape(-1, 2)
    mean = flat.sum(axis=0) / len(flat)
    var = ((flat - mean) ** 2).sum(axis=0) / len(flat)  # biased: / count
    np.testing.assert_allclose(forward(net, w, x, training=True), _head(_bn(x, mean, var, w["bn"], 1e-3), w),
                               rtol=1e-12, atol=1e-12)
    # Inference mode uses the running statistics instead: a different answer here.
    eval_mode = _head(_bn(x, w["bn"]["moving_mean"], w["bn"]["moving_variance"], w["bn"], 1e-3), w)
    np.testing.assert_allclose(forward(net, w, x), eval_mode, rtol=1e-12, atol=1e-12)
    assert np.abs(forward(net, w, x, training=True) - eval_mode).max() > 0.1


# Every layer type: gradients against central differences

PRE = Conv2D("pre", 2, kernel=3, padding="same")  # a trainable layer before the one under test:
# its kernel's gradient is right only if the tested layer passes the right gradient back
GRAD_CASES = {
    "conv-same-strided-odd-pad": ((5, 6, 2), [PRE, Conv2D("c", 3, kernel=3, stride=2, padding="same",
                                                          activation="relu")]),
    "conv-valid-strided": ((5, 6, 2), [PRE, Conv2D("c", 2, kernel=(2, 3), stride=(1, 2), padding="valid")]),
    "conv-explicit-pads-no-bias": ((4, 4, 1), [PRE, Conv2D("c", 2, kernel=3, stride=2, padding=((0, 2), (1, 0)),
                                                           use_bias=False)]),
    "depthwise-m2": ((5, 5, 2), [PRE, DepthwiseConv2D("c", kernel=3, stride=2, padding="same", multiplier=2,
                                                      activation="relu6")]),
    "depthwise-valid-no-bias": ((5, 4, 2), [PRE, DepthwiseConv2D("c", kernel=(3, 2), padding="valid",
                                                                 use_bias=False)]),
    "maxpool": ((5, 5, 2), [PRE, MaxPool2D("p")]),
    "maxpool-overlapping": ((7, 6, 2), [PRE, MaxPool2D("p", pool=3, stride=2)]),
    "avgpool": ((5, 4, 2), [PRE, AvgPool2D("p", pool=(2, 3), stride=1)]),
    "gap": ((3, 4, 2), [PRE, GlobalAveragePooling("g")]),
    "batchnorm-image": ((3, 4, 2), [PRE, BatchNorm("bn", momentum=0.8, epsilon=1e-3)]),
    "batchnorm-vector": ((6,), [Dense("d", 4), BatchNorm("bn")]),
    "residual-add": ((4, 4, 2), [PRE, Conv2D("c", 2, kernel=3, padding="same", use_bias=False),
                                 BatchNorm("bn"), Add("a", other="pre"), ReLU("r")]),
    "relu": ((3, 3, 2), [PRE, ReLU("r")]),
    "relu6": ((3, 3, 2), [PRE, ReLU6("r")]),
    "flatten-dense": ((3, 3, 2), [PRE, Flatten("f"), Dense("d", 4, activation="relu")]),
    "dense-relu6": ((6,), [Dense("d", 5, activation="relu6")]),
    "dropout": ((3, 3, 2), [PRE, Dropout("drop", rate=0.5)]),
}


@pytest.mark.parametrize("case", GRAD_CASES)
def test_each_layer_gradient_matches_central_differences(case):
    shape, layers = GRAD_CASES[case]
    net = _case_net(shape, layers)
    w = _case_weights(net)
    rng = np.random.default_rng(4)
    # Inputs wide enough that ReLU6 clips on both sides somewhere; random reals keep every ReLU
    # and max away from a kink by far more than the step h.
    x, y = rng.normal(0, 8, (5, *shape)), rng.integers(0, 3, 5)
    loss, _, grads = loss_and_grads(net, w, x, y, dtype=np.float64)
    assert loss == pytest.approx(_xent(forward(net, w, x, training=True), y), rel=1e-12)
    numeric = _numeric(net, w, x, y)
    assert _keys(grads) == _keys(numeric) and grads.keys() == {n.layer.name for n in net.nodes if n.params}
    for layer, k in _keys(grads):
        np.testing.assert_allclose(grads[layer][k], numeric[layer][k], rtol=1e-5, atol=1e-8,
                                   err_msg=f"{case}: {layer}.{k}")
    # Every array really gets a gradient (no layer silently cut off), except a bias right before
    # a training-mode BatchNorm: subtracting the batch mean cancels it exactly.
    cancelled = {net.nodes[i - 1].layer.name for i, n in enumerate(net.nodes) if isinstance(n.layer, BatchNorm)
                 and n.inputs[0] == net.nodes[i - 1].layer.name}
    for layer, k in _keys(grads):
        if k == "bias" and layer in cancelled:
            assert np.abs(grads[layer][k]).max() < 1e-12, case
        else:
            assert np.abs(grads[layer][k]).max() > 1e-4, f"{case}: {layer}.{k}"


def test_relu6_cases_clip_on_both_sides():
    # The ReLU6 gradient checks above only mean something if some inputs pass 6 and some are < 0:
    # the clipped layers' inputs, recomputed here from the same weights and inputs.
    x = np.random.default_rng(4).normal(0, 8, (5, 3, 3, 2))
    w = _case_weights(_case_net(*GRAD_CASES["relu6"]))
    pre = _loop_conv(x, w["pre"]["kernel"], w["pre"]["bias"], (1, 1), ((1, 1), (1, 1)))
    x = np.random.default_rng(4).normal(0, 8, (5, 6))
    w = _case_weights(_case_net(*GRAD_CASES["dense-relu6"]))
    dense = x @ w["d"]["kernel"] + w["d"]["bias"]
    for z in (pre, dense):
        assert (z > 6).mean() > 0.05 and (z < 0).mean() > 0.05 and ((z > 0) & (z < 6)).mean() > 0.05


def test_maxpool_gradient_goes_to_the_first_of_tied_maxima():
    net = _case_net((2, 4, 1), [MaxPool2D("p")])
    node = net.nodes[0]
    x = np.array([[1.0, 3.0], [3.0, 0.0]])  # window 1: 3 at (0, 1) and (1, 0); window 2 below
    x = np.concatenate([x, np.array([[5.0, 5.0], [5.0, 5.0]])], axis=1).reshape(1, 2, 4, 1)
    out, cache = numpy_ref._maxpool_forward(node, {}, x)
    assert out.ravel().tolist() == [3.0, 5.0]
    dx, _ = numpy_ref._maxpool_backward(node, {}, np.array([[[[10.0], [20.0]]]]), cache, True)
    expected = np.zeros((2, 4))
    expected[0, 1] = 10.0  # first in row-major order: (0, 1) before (1, 0)
    expected[0, 2] = 20.0  # all four tie: the top-left one
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


# BatchNorm running statistics, dropout masks, train vs eval

def test_batchnorm_running_statistics_follow_the_keras_rule():
    momentum, eps = 0.8, 1e-3
    net = _case_net((3, 3, 2), [BatchNorm("bn", momentum=momentum, epsilon=eps)])
    x, y = _data(n=8, net=net, seed=5)
    x = x * 3 + 1
    adapter, model, _ = _train(OptimizerSpec(name="sgd", learning_rate=0.1), x, y, epochs=2, batch_size=4, net=net)
    mean, var = np.zeros(2), np.ones(2)  # the initial running statistics
    for batch in (x[:4], x[4:], x[:4], x[4:]):  # two epochs in stored order
        flat = batch.astype(np.float64).reshape(-1, 2)
        mu = flat.mean(axis=0)
        mean = momentum * mean + (1 - momentum) * mu
        var = momentum * var + (1 - momentum) * ((flat - mu) ** 2).mean(axis=0)  # biased
    got = adapter.get_weights(model)["bn"]
    np.testing.assert_allclose(got["moving_mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(got["moving_variance"], var, rtol=1e-5)
    assert got["moving_mean"].dtype == np.float32
    # The same rule with the unbiased variance (36/35 of the biased one) lands far outside rtol.
    unbiased = np.ones(2)
    for batch in (x[:4], x[4:], x[:4], x[4:]):
        unbiased = momentum * unbiased + (1 - momentum) * batch.reshape(-1, 2).var(axis=0, ddof=1)
    assert np.abs(got["moving_variance"] / unbiased - 1).min() > 1e-3
    # And the running statistics are not trained: not among the gradients.
    assert set(loss_and_grads(net, model.weights, x, y)[2]["bn"]) == {"gamma", "beta"}


def test_predict_uses_running_statistics_and_no_dropout():
    net = _case_net((4, 4, 2), [PRE, BatchNorm("bn"), ReLU("r"), Dropout("drop", rate=0.5)])
    x, y = _data(n=12, net=net, seed=6)
    adapter, model, _ = _train(OptimizerSpec(learning_rate=0.01), x, y, epochs=3, batch_size=4, net=net)
    w = _as64(adapter.get_weights(model))
    pre = _loop_conv(x.astype(np.float64), w["pre"]["kernel"], w["pre"]["bias"], (1, 1), ((1, 1), (1, 1)))
    bn = _bn(pre, w["bn"]["moving_mean"], w["bn"]["moving_variance"], w["bn"], 1e-5)
    expected = _head(np.maximum(bn, 0), w)
    np.testing.assert_allclose(adapter.predict(model, x), expected, rtol=1e-4, atol=1e-5)
    # Training mode differs: batch statistics and a dropout mask.
    assert np.abs(forward(net, w, x, training=True) - expected).max() > 1e-2


def test_dropout_masks_are_the_documented_draw():
    rate = 0.3
    net = _case_net((3, 3, 2), [Dropout("d1", rate=rate), ReLU("r"), Dropout("d0", rate=0.0),
                                Dropout("d2", rate=0.5)])
    masks = dropout_masks(net, 4, seed_for_step=7)
    assert set(masks) == {"d1", "d2"}  # rate 0 is the identity: no mask
    rng = np.random.default_rng(np.random.SeedSequence([7]))
    u1, u2 = rng.random((4, 3, 3, 2)), rng.random((4, 3, 3, 2))  # in network order
    np.testing.assert_array_equal(masks["d1"], np.where(u1 >= rate, np.float32(1 / (1 - rate)), 0))
    np.testing.assert_array_equal(masks["d2"], np.where(u2 >= 0.5, np.float32(2.0), 0))
    assert masks["d1"].dtype == np.float32
    assert not np.array_equal(dropout_masks(net, 4, 8)["d1"], masks["d1"])  # a new step, a new mask


def test_training_applies_step_masks_and_accepts_fed_ones():
    net = _case_net((3, 3, 2), [PRE, Dropout("drop", rate=0.5)])
    x, y = _data(n=6, net=net, seed=8)
    lr = 0.1
    # One full-batch SGD step = w - lr * the gradient under dropout_masks(net, 6, step 1).
    g = loss_and_grads(net, _weights(net), x, y, masks=dropout_masks(net, 6, 1))[2]
    g_other = loss_and_grads(net, _weights(net), x, y, masks=dropout_masks(net, 6, 2))[2]
    adapter, model, _ = _train(OptimizerSpec(name="sgd", learning_rate=lr), x, y, net=net)
    got = adapter.get_weights(model)
    np.testing.assert_allclose(got["out"]["kernel"], _weights(net)["out"]["kernel"] - lr * g["out"]["kernel"],
                               rtol=0, atol=1e-7)
    assert np.abs(g["out"]["kernel"] - g_other["out"]["kernel"]).max() > 1e-3  # the mask matters
    # A twin check can feed its own masks: all ones train exactly as a rate-0 network does.
    plain = _case_net((3, 3, 2), [PRE, Dropout("drop", rate=0.0)])
    a2 = NumpyAdapter(1)
    fed = a2.build(net, _weights(net))
    fed.masks_for_step = lambda step, batch: {"drop": np.ones((batch, 3, 3, 2), np.float32)}
    order = np.tile(np.arange(6), (2, 1))
    a2.train(fed, (x, y), order, 3, OptimizerSpec(), lambda r: None)
    _, ref, _ = _train(OptimizerSpec(), x, y, epochs=2, batch_size=3, net=plain, weights=_weights(net))
    for a, b in zip(_flat(a2.get_weights(fed)), _flat(ref.weights)):
        np.testing.assert_array_equal(a, b)


# Training a residual CNN

def _blobs(n=96, size=8, seed=0):
    """Three classes: a bright 3x3 blob in the top-left, centre or bottom-right, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 0.3, (n, size, size, 1))
    for i, c in enumerate(y):
        at = (0, 3, 5)[c]
        x[i, at:at + 3, at:at + 3, 0] += 2
    return x.astype(np.float32), y


RESIDUAL = Network("tiny-res", (
    Conv2D("c1", 4, kernel=3, padding="same", activation="relu"),
    Conv2D("c2", 4, kernel=3, padding="same", use_bias=False), BatchNorm("bn2"),
    Add("add", other="c1"), ReLU("relu"),
    MaxPool2D("pool"), DepthwiseConv2D("dw", kernel=2, padding="valid", multiplier=2, activation="relu6"),
    GlobalAveragePooling("gap"), Dropout("drop", rate=0.1), Dense("logits", 3),
), (8, 8, 1), 3)


def test_a_tiny_residual_cnn_learns():
    x, y = _blobs()
    w0 = W.initial(RESIDUAL, 0)
    adapter = NumpyAdapter(1)
    before = _xent(adapter.predict(adapter.build(RESIDUAL, w0), x), y)
    adapter, model, history = _train(OptimizerSpec(learning_rate=0.02), x, y, epochs=8, batch_size=16,
                                     weights=w0, net=RESIDUAL)
    assert history[-1].loss < 0.5 * history[0].loss
    after = _xent(adapter.predict(model, x), y)
    assert after < 0.5 * before
    assert np.mean(adapter.predict(model, x).argmax(axis=1) == y) > 0.9
    assert not np.array_equal(model.weights["bn2"]["moving_mean"], w0["bn2"]["moving_mean"])


def test_residual_training_is_deterministic():
    x, y = _blobs(n=40)
    runs = []
    for _ in range(2):
        adapter, model, history = _train(OptimizerSpec(), x, y, epochs=2, batch_size=16, net=RESIDUAL,
                                         weights=W.initial(RESIDUAL, 1))
        runs.append((_flat(adapter.get_weights(model)), [r.loss for r in history]))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    assert runs[0][1] == runs[1][1]
    assert not np.array_equal(runs[0][0][0], _flat(W.initial(RESIDUAL, 1))[0])


def test_residual_gradient_matches_central_differences():
    # The whole tiny network at once: the DAG's accumulation (c1 feeds c2 and the Add).
    x, y = _blobs(n=6, seed=3)
    w = _case_weights(RESIDUAL)
    kw = {"masks": dropout_masks(RESIDUAL, 6, 3, np.float64)}
    _, _, grads = loss_and_grads(RESIDUAL, w, x, y, dtype=np.float64, **kw)
    numeric = _numeric(RESIDUAL, w, x, y, **kw)
    for layer, k in _keys(grads):
        np.testing.assert_allclose(grads[layer][k], numeric[layer][k], rtol=1e-5, atol=1e-8, err_msg=f"{layer}.{k}")


# Export and runtime

EXPORT_NET = zoo.mlp((30,), 5, (12, 8))


def _exported(tmp_path, exporter, name, net=EXPORT_NET, train=False):
    adapter = NumpyAdapter(1)
    model = adapter.build(net, _weights(net))
    x = np.random.default_rng(3).random((64, *net.input_shape), dtype=np.float32)
    if train:  # a few steps, so that BatchNorm's running statistics are not the initial ones
        y = np.random.default_rng(4).integers(0, net.num_classes, 64)
        adapter.train(model, (x, y), np.arange(64)[None], 16, OptimizerSpec(learning_rate=0.01), lambda r: None)
    path = tmp_path / name
    exporter(model, path, ExportContext(network=net, calibration=x[:8]))
    return adapter.predict(model, x), path, x, adapter.get_weights(model)


def test_float32_round_trip_gives_the_adapters_logits(tmp_path):
    ref, path, x, w = _exported(tmp_path, from_numpy, "model.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    session = NpzSession(path, threads=1)
    out = session.predict(x)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-6
    h = np.maximum(np.maximum(x @ w["dense_0"]["kernel"] + w["dense_0"]["bias"], 0) @ w["dense_1"]["kernel"]
                   + w["dense_1"]["bias"], 0)
    np.testing.assert_allclose(out, h @ w["dense_2"]["kernel"] + w["dense_2"]["bias"], rtol=1e-5, atol=1e-6)
    assert np.abs(session.batch_call(x[:1])() - ref[:1]).max() <= 1e-6  # the timed call computes the same
    assert session.accepts_batch and session.fixed_batch is None
    assert session.io == {"input": {"dtype": "float32"}, "output": {"dtype": "float32"}}
    assert session.version() == np.__version__
    assert session.graph_cost() == {"parameters": 30 * 12 + 12 + 12 * 8 + 8 + 8 * 5 + 5,
                                    "macs_per_sample": 30 * 12 + 12 * 8 + 8 * 5, "dense_layers": 3,
                                    "conv_layers": 0}
    session.close()
    assert session.network is None and session.weights is None


def test_the_file_holds_the_network_as_json(tmp_path):
    _, path, _, w = _exported(tmp_path, from_numpy, "model.npz")
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {f"{layer}.{k}" for layer, k in _keys(w)} | {"__network__"}
        raw = z["__network__"]
        assert raw.dtype == np.uint8
        assert json.loads(raw.tobytes().decode()) == json.loads(json.dumps(EXPORT_NET.describe()))
        assert np.array_equal(z["dense_1.kernel"], w["dense_1"]["kernel"])


def _rounded_to_float16(weights):
    return {layer: {k: a.astype(np.float16).astype(np.float32) for k, a in arrays.items()}
            for layer, arrays in weights.items()}


def _check_float16(ref, path, x, w, net):
    """The float16 file computes what the adapter computes with float16-rounded weights (the only
    change), which moves the logits a little: by more than 0, by less than 1% of their range."""
    out = NpzSession(path).predict(x)
    rounded = NumpyAdapter(1)
    np.testing.assert_allclose(out, rounded.predict(rounded.build(net, _rounded_to_float16(w)), x),
                               rtol=0, atol=1e-5)
    diff = np.abs(out - ref).max()
    assert 0 < diff <= 0.01 * (ref.max() - ref.min())


def test_float16_round_trip_is_the_rounded_weights(tmp_path):
    ref, path, x, w = _exported(tmp_path, from_numpy_float16, "model_float16.npz")
    with np.load(path, allow_pickle=False) as z:
        assert {z[k].dtype for k in z.files if k != "__network__"} == {np.dtype(np.float16)}
        assert len(z.files) == 7
        np.testing.assert_array_equal(z["dense_0.kernel"], w["dense_0"]["kernel"].astype(np.float16))
    _check_float16(ref, path, x, w, EXPORT_NET)
    assert NpzSession(path).graph_cost()["parameters"] == 30 * 12 + 12 + 12 * 8 + 8 + 8 * 5 + 5


SMALL_RESNET = zoo.resnet8((12, 12, 1), 4)


@pytest.mark.parametrize("net, convs, denses", [(zoo.lenet5((28, 28, 1), 10), 2, 3), (SMALL_RESNET, 9, 1),
                                                (zoo.dscnn((12, 12, 1), 4, filters=8, blocks=2), 5, 1)],
                         ids=["lenet5", "resnet8-12x12", "dscnn-small"])
def test_cnn_round_trip_gives_the_adapters_logits(tmp_path, net, convs, denses):
    ref, path, x, w = _exported(tmp_path, from_numpy, "model.npz", net=net, train=True)
    session = NpzSession(path)
    out = session.predict(x)
    assert out.shape == (64, net.num_classes) and out.dtype == np.float32
    assert np.abs(out - ref).max() <= 1e-5
    assert np.abs(ref).max() > 1e-2  # real logits, not zeros
    np.testing.assert_array_equal(session.predict(x.reshape(64, -1)), out)  # flat input, same answer
    np.testing.assert_allclose(forward(net, w, x), ref, rtol=0, atol=1e-5)  # float64 agrees too
    cost = session.graph_cost()
    assert cost == {"parameters": sum(a.size for a in _flat(w)), "macs_per_sample": net.macs_per_sample,
                    "dense_layers": denses, "conv_layers": convs}


def test_float16_cnn_round_trip_is_the_rounded_weights(tmp_path):
    ref, path, x, w = _exported(tmp_path, from_numpy_float16, "m16.npz", net=SMALL_RESNET, train=True)
    _check_float16(ref, path, x, w, SMALL_RESNET)


@pytest.mark.parametrize("name", sorted(models.BUILTIN))
def test_network_description_round_trips(name):
    net = models.build(name, (28, 28, 1), 10)
    again = network_from_description(json.loads(json.dumps(net.describe())))
    assert again == net and again.describe() == net.describe()


def test_export_writes_exactly_the_path_given(tmp_path):
    # np.savez given the name "artifact" would write "artifact.npz".
    _, path, _, _ = _exported(tmp_path, from_numpy, "artifact")
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]
    assert NpzSession(path).graph_cost()["dense_layers"] == 3


def test_float16_export_refuses_weights_that_overflow(tmp_path):
    w = _weights()
    w["dense_1"]["kernel"] = w["dense_1"]["kernel"] * 1e6
    model = NumpyAdapter(1).build(NET, w)
    with pytest.raises(ValueError, match=r"dense_1\.kernel.*float16"):
        from_numpy_float16(model, tmp_path / "m.npz", None)


def _unpickled(flag: str) -> None:
    Path(flag).write_text("unpickled")


class _Payload:
    """Runs _unpickled when unpickled: proves whether a loader unpickled the file."""

    def __init__(self, flag: Path) -> None:
        self.flag = str(flag)

    def __reduce__(self):
        return _unpickled, (self.flag,)


@pytest.mark.parametrize("key", ["dense_0.kernel", "__network__"])
def test_pickled_object_array_is_refused_unread(tmp_path, key):
    flag = tmp_path / "flag"
    path = tmp_path / "evil.npz"
    net = zoo.mlp((1,), 1, ())
    arrays = {"dense_0.kernel": np.zeros((1, 1), np.float32), "dense_0.bias": np.zeros(1, np.float32),
              "__network__": np.frombuffer(json.dumps(net.describe()).encode(), np.uint8)}
    arrays[key] = np.array([_Payload(flag)], dtype=object)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ValueError, match="evil.npz"):
        NpzSession(path)
    assert not flag.exists()
    # The payload is live: a loader that does unpickle runs it.
    with np.load(path, allow_pickle=True) as z:
        z[key]
    assert flag.read_text() == "unpickled"


def _write(path: Path, **arrays) -> Path:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _good_arrays():
    net = zoo.mlp((4,), 3, ())  # one dense layer: dense_0 (4, 3)
    return net, {"dense_0.kernel": np.ones((4, 3), np.float32), "dense_0.bias": np.zeros(3, np.float32),
                 "__network__": np.frombuffer(json.dumps(net.describe()).encode(), np.uint8)}


def _description(**change):
    net, _ = _good_arrays()
    d = json.loads(json.dumps(net.describe()))
    for key, value in change.items():
        if key.startswith("layer_"):
            d["layers"][0][key[len("layer_"):]] = value
        else:
            d[key] = value
    return np.frombuffer(json.dumps(d).encode(), np.uint8)


BAD = {
    "no-network": lambda a: a.pop("__network__"),
    "network-not-json": lambda a: a.update(__network__=np.frombuffer(b"{not json", np.uint8)),
    "network-not-utf8": lambda a: a.update(__network__=np.frombuffer(b"\xff\xfe\x00", np.uint8)),
    "network-wrong-dtype": lambda a: a.update(__network__=a["__network__"].astype(np.int32)),
    "network-a-list": lambda a: a.update(__network__=np.frombuffer(b"[1, 2]", np.uint8)),
    "unknown-layer-type": lambda a: a.update(__network__=_description(layer_type="Lambda")),
    "unknown-layer-field": lambda a: a.update(__network__=_description(layer_code="import os")),
    "bad-layer-value": lambda a: a.update(__network__=_description(layer_units=-3)),
    "wrong-output-shape": lambda a: a.update(__network__=_description(layer_output_shape=[7])),
    "wrong-classes": lambda a: a.update(__network__=_description(num_classes=4)),
    "bad-input-shape": lambda a: a.update(__network__=_description(input_shape=["x"])),
    "missing-array": lambda a: a.pop("dense_0.bias"),
    "extra-array": lambda a: a.update(x_train=np.zeros(3, np.float32)),
    "wrong-shape": lambda a: a.update(**{"dense_0.kernel": np.ones((3, 4), np.float32)}),
    "int-weights": lambda a: a.update(**{"dense_0.kernel": np.ones((4, 3), np.int32)}),
    "nan": lambda a: a.update(**{"dense_0.kernel": np.full((4, 3), np.nan, np.float32)}),
}


@pytest.mark.parametrize("case", ["garbage", "truncated", "npy", *BAD])
def test_bad_files_raise_a_one_line_value_error(tmp_path, case):
    path = tmp_path / f"{case}.npz"
    if case == "garbage":
        path.write_bytes(b"this is not a model\n" * 10)
    elif case == "truncated":
        _, good, _, _ = _exported(tmp_path, from_numpy, "good.npz")
        path.write_bytes(good.read_bytes()[:300])
    elif case == "npy":
        with open(path, "wb") as f:
            np.save(f, np.ones((4, 3), np.float32))
    else:
        _, arrays = _good_arrays()
        BAD[case](arrays)
        _write(path, **arrays)
    with pytest.raises(ValueError) as err:
        NpzSession(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message


def test_the_good_file_behind_the_bad_cases_loads(tmp_path):
    # So each bad case above fails for its own reason, not because the base file was wrong.
    _, arrays = _good_arrays()
    session = NpzSession(_write(tmp_path / "good.npz", **arrays))
    np.testing.assert_array_equal(session.predict(np.ones((2, 4), np.float32)), np.full((2, 3), 4.0, np.float32))
