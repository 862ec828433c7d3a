"""Each installed framework's training against the NumPy reference: the same initial weights, the
same 20 MNIST batches, in-process, then the final weights compared.

The comparison of convolutional networks is the real adapters' engineers' to add."""

import importlib
import os

import numpy as np
import pytest

from edgebench import data, models
from edgebench.config import OptimizerSpec
from edgebench.frameworks.numpy_ref import NumpyAdapter
from edgebench.models import weights as W
from tests.conftest import needs_jax, needs_modules

# Keras reads its backend when first imported, which is inside the TensorFlow adapter, so setting
# it here (after the imports above, none of which loads keras) is early enough.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytestmark = pytest.mark.framework

STEPS, BATCH = 20, 64
SGD = OptimizerSpec(name="sgd", learning_rate=0.01)
ADAM = OptimizerSpec(learning_rate=1e-3)  # aligned epsilon placement, the default
ADAM_NATIVE = OptimizerSpec(learning_rate=1e-3, epsilon_placement="native")

FRAMEWORKS = [
    pytest.param("tensorflow", "TensorFlowAdapter", marks=needs_modules("tensorflow", "keras", extra_name="tf"),
                 id="tensorflow"),
    pytest.param("pytorch", "PyTorchAdapter", marks=needs_modules("torch", extra_name="torch"), id="pytorch"),
    pytest.param("jax", "JaxAdapter", marks=needs_jax, id="jax"),
]

# Bounds on the max abs difference of any final weight, measured on this machine for the MLP
# (x86_64 CPU, threads=1): SGD 1.5e-8 (TensorFlow, PyTorch) and 3.0e-8 (JAX); aligned Adam 4.9e-7
# (TensorFlow), 6.3e-7 (PyTorch, JAX). Why they are that small: every side computes in float32 and
# only the kernels' summation order differs, so each step adds rounding of ~1e-8 on weights of
# ~0.1. SGD is linear in the gradient and keeps that; Adam divides by sqrt(v_hat), which amplifies
# a rounding difference in a small gradient, hence ~1e-7. The bounds leave a margin of >= 15x for
# other BLAS builds or CPU kernels, while a real difference in the rule stays far above them:
# one SGD step moves weights by ~4e-4, one Adam step by ~1e-3, and the native-vs-aligned
# epsilon placement alone gives 8e-3 after these 20 steps (checked below).
BOUND = {"sgd": 1e-6, "adam": 1e-5}


def _network():
    return models.build("mlp", (28, 28, 1), 10)  # dense_0 (784, 64), dense_1 (64, 10)


def _adapter(module: str, cls: str):
    """The framework's adapter."""
    return getattr(importlib.import_module(f"edgebench.frameworks.{module}"), cls)(threads=1)


@pytest.fixture(scope="module")
def mnist():
    ds = data.load("mnist", limit_train=STEPS * BATCH, limit_test=200)
    return ds, data.batch_order(len(ds.y_train), 1, 0)


def _train(adapter, mnist, opt):
    ds, order = mnist
    net = _network()
    model = adapter.build(net, W.initial(net, 0))
    steps = []
    adapter.train(model, adapter.load_data(ds.x_train, ds.y_train), order, BATCH, opt,
                  on_epoch=lambda rec: None, on_step=lambda step, m: steps.append(step))
    assert steps == list(range(1, STEPS + 1))
    return adapter.get_weights(model)


def _max_diff(w1, w2) -> float:
    assert w1.keys() == w2.keys() and all(w1[k].keys() == w2[k].keys() for k in w1)
    return max(float(np.abs(np.asarray(w1[layer][k]) - np.asarray(w2[layer][k])).max())
               for layer in w1 for k in w1[layer])


@pytest.fixture(scope="module")
def reference(mnist):
    adapter = NumpyAdapter(threads=1)
    return {opt: _train(adapter, mnist, opt) for opt in (SGD, ADAM, ADAM_NATIVE)}


@pytest.mark.parametrize("module, cls", FRAMEWORKS)
def test_framework_trains_like_the_reference(module, cls, mnist, request):
    adapter = _adapter(module, cls)  # before the reference is trained: a failed import costs nothing
    ref = request.getfixturevalue("reference")
    net = _network()
    init = W.initial(net, 0)
    for opt in (SGD, ADAM):
        weights = _train(adapter, mnist, opt)
        assert _max_diff(weights, init) > 5e-3  # really trained (seen: 8.8e-3 SGD, 2.0e-2 Adam)
        diff = _max_diff(weights, ref[opt])
        assert diff <= BOUND[opt.name], f"{module} {opt.name}: max abs weight difference {diff:.3g}"
    # The bound can tell the epsilon placements apart. Keras has one rule, the aligned one, so
    # TensorFlow's "native" run still matches the aligned reference; PyTorch's and Optax's native
    # rule is the reference's native one.
    native = _train(adapter, mnist, ADAM_NATIVE)
    assert _max_diff(ref[ADAM], ref[ADAM_NATIVE]) > 1e-3
    same = ref[ADAM] if module == "tensorflow" else ref[ADAM_NATIVE]
    assert _max_diff(native, same) <= BOUND["adam"], module

