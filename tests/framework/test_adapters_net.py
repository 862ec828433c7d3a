"""The PyTorch and JAX (Flax + Optax) adapters on every layer type: for the built-in models and a
small network made to hit the traps (depthwise multiplier 2, an odd-size strided 'same' conv, an
asymmetric 'same' pad, explicit pads, average and max pooling with strides other than the window,
ReLU6, a residual Add, Flatten of an image, Dropout of rate 0, BatchNorm on images and on vectors
with a momentum and epsilon other than the defaults), in-process:

- the weights round-trip exactly: get_weights(build(net, w)) == w, Keras layouts;
- inference-mode logits of the two agree on random inputs;
- 20 SGD steps on the same MNIST batches end at the same weights (BatchNorm's running statistics
  included: a biased running variance in both) and the same inference-mode logits;
- PyTorch's inference graph uses only ops the exporters handle (BatchNorm as an inference
  BatchNorm they fold), and the MLP stays the nn.Sequential every earlier run exported.

The NumPy reference (edgebench.frameworks.numpy_ref) joins the comparison as soon as its build()
takes (net, weights): test_numpy_reference_agrees is that hook; until then it skips, saying why.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from edgebench import data
from edgebench.config import OptimizerSpec
from edgebench.models import weights as W
from edgebench.models import zoo
from edgebench.models.layers import (Add, AvgPool2D, BatchNorm, Conv2D, Dense, DepthwiseConv2D, Dropout, Flatten,
                                     MaxPool2D, ReLU, ReLU6)
from edgebench.models.network import Network
from tests.conftest import have

pytestmark = pytest.mark.framework

HAVE = {"pytorch": have("torch"), "jax": have("jax", "flax", "optax")}
needs_both = pytest.mark.skipif(not all(HAVE.values()), reason="needs both torch and jax (flax, optax)")

STEPS, BATCH, LR = 20, 64, 0.05
SGD = OptimizerSpec(name="sgd", learning_rate=LR)
MODELS = ("mlp", "lenet5", "dscnn", "resnet8", "traps")

# Max abs differences measured here (x86_64 CPU, 2 threads; PyTorch vs JAX):
#   model     initial logits   weights after 20 SGD steps   logits after training
#   mlp       9.5e-07          3.7e-09                      1.9e-06
#   lenet5    2.5e-07          7.5e-09                      1.4e-06
#   dscnn     2.8e-09          2.1e-07 (a BN moving_var)    6.0e-08
#   resnet8   4.5e-08          1.3e-07 (a BN moving_var)    1.0e-07
#   traps     1.9e-09          1.5e-08                      1.4e-08
# The bounds below leave room for other CPUs' kernels (a different summation order).
LOGIT_TOL = 1e-5
WEIGHT_TOL = 1e-5  # after 20 steps, networks whose float32 training is not chaotic (STABLE)
STEP_TOL = 1e-5  # one step from the same state, every network
STABLE = ("mlp", "lenet5")


def traps_net() -> Network:
    """Every layer type and the layout/padding traps, on a non-square 7x8 image (H and W differ)."""
    return Network("traps", (
        Conv2D("c1", 4, kernel=3, stride=2, padding="same", activation="relu"),   # 7x8 -> 4x4, pads (1,1),(0,1)
        DepthwiseConv2D("dw", kernel=2, padding="same", multiplier=2, activation="relu6"),  # pads (0,1),(0,1)
        BatchNorm("bn1", momentum=0.8, epsilon=1e-3),
        ReLU6("r6"),
        Conv2D("c2", 8, kernel=3, padding=((1, 0), (2, 1)), activation="relu"),  # explicit pads: 4x4 -> 3x5
        Conv2D("c3", 8, kernel=1, padding="valid", use_bias=False),
        Add("add", other="c2"),                                                    # residual: c3 + c2
        AvgPool2D("ap", pool=2, stride=1),                                         # 3x5 -> 2x4
        MaxPool2D("mp", pool=(2, 2), stride=(1, 2)),                               # 2x4 -> 1x2
        Flatten("flat"),                                                           # an image flattened (h, w, c)
        Dropout("drop", rate=0.0),
        Dense("d1", 12, activation="relu6"),
        BatchNorm("bn2", momentum=0.95, epsilon=1e-4),                             # BatchNorm on a vector
        ReLU("r"),
        Dense("logits", 10),
    ), (7, 8, 2), 10)


def network(name: str) -> Network:
    if name == "traps":
        return traps_net()
    shape = (784,) if name == "mlp" else (28, 28, 1)
    return zoo.BUILTIN[name](shape, 10)


@functools.cache
def adapter(fw: str):
    if not HAVE[fw]:
        pytest.skip(f"{fw} not installed")
    if fw == "pytorch":
        from edgebench.frameworks.pytorch import PyTorchAdapter

        return PyTorchAdapter(threads=2)
    from edgebench.frameworks.jax import JaxAdapter

    return JaxAdapter(threads=2)


@functools.cache
def dataset(name: str):
    """(x_train, y_train, x_test) shaped (N, *net.input_shape): MNIST, or for the 7x8x2 trap
    network random images with MNIST's labels."""
    ds = data.load("mnist", limit_train=STEPS * BATCH, limit_test=64)
    shape = network(name).input_shape
    if name == "traps":
        rng = np.random.default_rng(7)
        return (rng.random((len(ds.y_train), *shape), dtype=np.float32), ds.y_train,
                rng.random((64, *shape), dtype=np.float32))
    return ds.x_train.reshape(-1, *shape), ds.y_train, ds.x_test.reshape(-1, *shape)


@functools.cache
def initial(name: str):
    return W.initial(network(name), 0)


@functools.cache
def trained(fw: str, name: str):
    """20 SGD steps, eager: (the weights after every step, inference-mode logits on the test images)."""
    a = adapter(fw)
    x, y, x_test = dataset(name)
    model = a.build(network(name), initial(name))
    snapshots = [initial(name)]
    history = a.train(model, a.load_data(x, y), order(name), BATCH, SGD, lambda rec: None,
                      on_step=lambda step, m: snapshots.append(a.get_weights(m)))
    assert len(history) == 1 and np.isfinite(history[0].loss) and len(snapshots) == STEPS + 1
    return snapshots, a.predict(model, x_test)


def order(name: str) -> np.ndarray:
    return data.batch_order(len(dataset(name)[1]), 1, 0)


def max_weight_diff(w1, w2) -> float:
    assert w1.keys() == w2.keys()
    return max(float(np.abs(w1[k][n] - w2[k][n]).max()) for k in w1 for n in w1[k])


def random_images(name: str, n: int = 64) -> np.ndarray:
    return np.random.default_rng(1).random((n, *network(name).input_shape), dtype=np.float32)


@pytest.mark.parametrize("fw", ["pytorch", "jax"])
@pytest.mark.parametrize("name", MODELS)
def test_weights_round_trip_exactly(fw, name):
    a = adapter(fw)
    w = initial(name)
    got = a.get_weights(a.build(network(name), w))
    assert got.keys() == w.keys()
    for layer, arrays in w.items():
        assert got[layer].keys() == arrays.keys(), layer
        for n, arr in arrays.items():
            assert got[layer][n].dtype == np.float32 and got[layer][n].shape == arr.shape, (layer, n)
            assert np.array_equal(got[layer][n], arr), (layer, n)


@needs_both
@pytest.mark.parametrize("name", MODELS)
def test_inference_logits_agree(name):
    x = random_images(name)
    logits = {fw: adapter(fw).predict(adapter(fw).build(network(name), initial(name)), x)
              for fw in ("pytorch", "jax")}
    assert logits["pytorch"].shape == (len(x), 10)
    diff = float(np.abs(logits["pytorch"] - logits["jax"]).max())
    assert diff <= LOGIT_TOL, f"{name}: PyTorch vs JAX logits differ by {diff:.3g}"
    # A flat (N, H*W*C) batch is the same images: both adapters view it channels-last.
    flat = x.reshape(len(x), -1)
    for fw in ("pytorch", "jax"):
        a = adapter(fw)
        np.testing.assert_array_equal(a.predict(a.build(network(name), initial(name)), flat), logits[fw])


@needs_both
@pytest.mark.parametrize("name", MODELS)
def test_sgd_twin_agrees(name):
    """The same 20 batches from the same weights. Without BatchNorm the two stay at rounding level
    to the end. With it (and in the trap network, whose ReLUs cross a kink at step 19) float32
    training at lr 0.05 is chaotic: rounding-level differences grow ~20x per step, and PyTorch in
    float64 ends as far from PyTorch in float32 as JAX does (measured above), so no implementation
    can meet 1e-5 there after 20 steps. What is checked for every network, at every step: one step
    of each framework from the same state (JAX's, loaded into PyTorch) on the same batch."""
    (wp, lp), (wj, lj) = trained("pytorch", name), trained("jax", name)
    assert max_weight_diff(wp[-1], wp[0]) > 1e-3 and max_weight_diff(wj[-1], wj[0]) > 1e-3  # they trained
    first = max_weight_diff(wp[1], wj[1])
    assert first <= STEP_TOL, f"{name}: weights differ by {first:.3g} after one step"
    if name in STABLE:
        diff = max_weight_diff(wp[-1], wj[-1])
        assert diff <= WEIGHT_TOL, f"{name}: PyTorch vs JAX weights differ by {diff:.3g} after {STEPS} SGD steps"
        logit_diff = float(np.abs(lp - lj).max())
        assert logit_diff <= LOGIT_TOL, f"{name}: trained logits differ by {logit_diff:.3g}"
    # One step each from JAX's state after k steps: the same result, whatever chaos did before.
    pt = adapter("pytorch")
    x, y, x_test = dataset(name)
    worst = 0.0
    for k in range(STEPS):
        batch = order(name)[0][k * BATCH:(k + 1) * BATCH]
        model = pt.build(network(name), wj[k])
        pt.train(model, pt.load_data(x[batch], y[batch]), np.arange(BATCH)[None], BATCH, SGD, lambda rec: None)
        worst = max(worst, max_weight_diff(pt.get_weights(model), wj[k + 1]))
    assert worst <= STEP_TOL, f"{name}: one step from the same state differs by {worst:.3g}"
    # Inference with trained running statistics: JAX's final state in PyTorch gives JAX's logits.
    logit_diff = float(np.abs(pt.predict(pt.build(network(name), wj[-1]), x_test) - lj).max())
    assert logit_diff <= LOGIT_TOL, f"{name}: logits of the same trained weights differ by {logit_diff:.3g}"
    for layer in (n.layer for n in network(name).nodes if isinstance(n.layer, BatchNorm)):
        # The running statistics moved, by the layer's momentum, in both.
        assert not np.array_equal(wj[-1][layer.name]["moving_variance"], wj[0][layer.name]["moving_variance"])


def test_batchnorm_running_variance_is_biased():
    """One training step of a BatchNorm network: the running statistics are the layer's rule
    (momentum on the old value, the batch variance divided by N), computed here in NumPy."""
    net = Network("bn", (Dense("d", 3), BatchNorm("bn", momentum=0.7, epsilon=1e-3), Dense("logits", 10)), (5,), 10)
    w = W.initial(net, 0)
    rng = np.random.default_rng(3)
    x, y = rng.random((6, 5), dtype=np.float32), rng.integers(0, 10, 6)
    h = x.astype(np.float64) @ w["d"]["kernel"] + w["d"]["bias"]
    want_mean = 0.7 * 0 + 0.3 * h.mean(0)
    want_var = 0.7 * 1 + 0.3 * h.var(0)  # ddof=0: biased
    for fw in ("pytorch", "jax"):
        if not HAVE[fw]:
            continue
        a = adapter(fw)
        model = a.build(net, w)
        a.train(model, a.load_data(x, y), np.arange(6)[None], 6, OptimizerSpec(name="sgd", learning_rate=0.0),
                lambda rec: None)
        got = a.get_weights(model)["bn"]
        np.testing.assert_allclose(got["moving_mean"], want_mean, rtol=1e-5, atol=1e-6, err_msg=fw)
        np.testing.assert_allclose(got["moving_variance"], want_var, rtol=1e-5, atol=1e-6, err_msg=fw)


@pytest.mark.skipif(not HAVE["pytorch"], reason="torch not installed")
def test_pytorch_mlp_is_the_sequential_stack():
    import torch

    a = adapter("pytorch")
    model = a.build(network("mlp"), initial("mlp"))
    assert isinstance(model, torch.nn.Sequential)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.input_layout == "NC" and model.input_shape == (784,)


@pytest.mark.skipif(not HAVE["pytorch"], reason="torch not installed")
@pytest.mark.parametrize("name", ["lenet5", "dscnn", "resnet8", "traps"])
def test_pytorch_inference_graph_is_exportable(name):
    """torch.export of the eval-mode module: NHWC input, standard ops only, BatchNorm as the
    inference op the exporters fold (no training-mode batch norm, no buffer mutation)."""
    import torch

    net = network(name)
    model = adapter("pytorch").build(net, initial(name)).eval()
    assert model.input_layout == "NHWC" and model.input_shape == tuple(net.input_shape)
    x = torch.from_numpy(random_images(name, 2))
    ep = torch.export.export(model, (x,))
    ops = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    allowed = {"aten.permute.default", "aten.pad.default", "aten.constant_pad_nd.default", "aten.conv2d.default",
               "aten.max_pool2d.default", "aten.avg_pool2d.default", "aten.mean.dim", "aten.relu.default",
               "aten.hardtanh.default", "aten.add.Tensor", "aten.flatten.using_ints", "aten.reshape.default",
               "aten.view.default", "aten.linear.default", "aten.dropout.default",
               "aten._native_batch_norm_legit_no_training.default", "_operator.getitem"}
    assert ops <= allowed, f"unexpected ops: {sorted(ops - allowed)}"
    assert not ep.graph_signature.buffers_to_mutate
    np.testing.assert_allclose(ep.module()(x).detach().numpy(), model(x).detach().numpy(), rtol=0, atol=1e-6)


@needs_both
@pytest.mark.parametrize("name", MODELS)
def test_numpy_reference_agrees(name):
    """Hook for the NumPy reference: it joins once its build() takes (net, weights)."""
    from edgebench.frameworks.numpy_ref import NumpyAdapter

    ref = NumpyAdapter(1)
    net, w = network(name), initial(name)
    try:
        model = ref.build(net, w)
        logits = ref.predict(model, random_images(name))
    except Exception as e:  # noqa: BLE001 - the reference is being rewritten for networks
        pytest.skip(f"the NumPy reference does not take build(net, weights) for {name} yet "
                    f"({type(e).__name__}: {e})")
    for fw in ("pytorch", "jax"):
        a = adapter(fw)
        mine = a.predict(a.build(net, w), random_images(name))
        diff = float(np.abs(mine - logits).max())
        assert diff <= LOGIT_TOL, f"{name}: {fw} vs NumPy logits differ by {diff:.3g}"
    x, y, x_test = dataset(name)
    if name in STABLE:  # the whole 20 steps
        ref.train(model, ref.load_data(x, y), order(name), BATCH, SGD, lambda rec: None)
        for fw in ("pytorch", "jax"):
            diff = max_weight_diff(trained(fw, name)[0][-1], ref.get_weights(model))
            assert diff <= WEIGHT_TOL, f"{name}: {fw} vs NumPy weights differ by {diff:.3g} after {STEPS} steps"
    wj = trained("jax", name)[0]
    for k in (0, STEPS - 1):  # one step from JAX's state (chaotic networks: see test_sgd_twin_agrees)
        batch = order(name)[0][k * BATCH:(k + 1) * BATCH]
        model = ref.build(net, wj[k])
        ref.train(model, ref.load_data(x[batch], y[batch]), np.arange(BATCH)[None], BATCH, SGD, lambda rec: None)
        diff = max_weight_diff(ref.get_weights(model), wj[k + 1])
        assert diff <= STEP_TOL, f"{name}: NumPy vs JAX one step (from step {k}) differs by {diff:.3g}"
