"""Export parity on a tiny model: each exporter's file, run on its real runtime, reproduces the
source framework's logits."""

import numpy as np
import pytest

from edgebench.config import ModelSpec
from edgebench.measure.parity import compare
from edgebench.model import initial_weights
from tests.conftest import needs_tf, needs_torch

pytestmark = pytest.mark.framework
SPEC = ModelSpec(input_size=20, hidden=(8, 6), num_classes=4)


def _inputs(n=50):
    return np.random.default_rng(1).random((n, SPEC.input_size), dtype=np.float32)


def _labels(logits):
    return logits.argmax(axis=1)


@needs_tf
def test_keras_to_tflite_on_litert(tmp_path):
    from edgebench.exporters.tflite import from_keras
    from edgebench.frameworks.tensorflow import TensorFlowAdapter
    from edgebench.runtimes.litert import LiteRTSession

    tf = TensorFlowAdapter(1)
    model = tf.build(SPEC, initial_weights(SPEC, 3))
    x = _inputs()
    ref = tf.predict(model, x)
    path = tmp_path / "m.tflite"
    from_keras(model, path, SPEC)
    assert path.stat().st_size > 4 * SPEC.parameter_count  # the float32 weights are inside
    sess = LiteRTSession(path, threads=1)
    for batch in (1, 7, 50):  # the batch dimension is dynamic
        got = sess.predict(x[:batch])
        assert got.shape == (batch, SPEC.num_classes)
    got = sess.predict(x)
    res = compare(ref, got, _labels(ref), "float32")
    assert res["max_abs_diff"] < 1e-5 and res["top1_agreement"] == 1.0 and res["within_tolerance"]


@needs_torch
def test_torch_to_onnx_on_onnxruntime(tmp_path):
    import onnx

    from edgebench.exporters.onnx import from_torch
    from edgebench.frameworks.pytorch import PyTorchAdapter
    from edgebench.runtimes.onnxruntime import OrtSession

    pt = PyTorchAdapter(1)
    model = pt.build(SPEC, initial_weights(SPEC, 3))
    x = _inputs()
    ref = pt.predict(model, x)
    path = tmp_path / "m.onnx"
    from_torch(model, path, SPEC)
    assert not list(tmp_path.glob("*.data")), "weights must live inside the .onnx file"
    graph = onnx.load(str(path)).graph
    dim0 = graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param and not dim0.dim_value, "batch dimension must be dynamic"
    sess = OrtSession(path, threads=1)
    assert sess.predict(x[:3]).shape == (3, SPEC.num_classes)
    res = compare(ref, sess.predict(x), _labels(ref), "float32")
    assert res["max_abs_diff"] < 1e-5 and res["top1_agreement"] == 1.0


@needs_tf
@needs_torch
def test_initial_weights_give_identical_logits_in_both_frameworks():
    from edgebench.frameworks.pytorch import PyTorchAdapter
    from edgebench.frameworks.tensorflow import TensorFlowAdapter

    w = initial_weights(SPEC, 9)
    tf, pt = TensorFlowAdapter(1), PyTorchAdapter(1)
    x = _inputs()
    a = tf.predict(tf.build(SPEC, w), x)
    b = pt.predict(pt.build(SPEC, w), x)
    np.testing.assert_allclose(a, b, atol=1e-6)
    for (k1, b1), (k2, b2) in zip(pt.get_weights(pt.build(SPEC, w)), w):
        np.testing.assert_array_equal(k1, k2)
        np.testing.assert_array_equal(b1, b2)
