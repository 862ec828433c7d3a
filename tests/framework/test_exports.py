"""Every exporter of every framework on the MLP, LeNet-5 and a tiny residual CNN (BatchNorm,
depthwise, ReLU6, asymmetric pads, three input channels): each file run on its real runtime with
channels-last inputs (the runtime maps them to the file's declared layout), compared with the
source framework's logits; its graph's parameters and MACs compared with the network's; int8
weights checked to be per output channel."""

import numpy as np
import pytest

from edgebench import registry
from edgebench.exporters import ExportContext
from edgebench.measure.parity import compare
from edgebench.models import layers as L
from edgebench.models import zoo
from tests.conftest import need_modules, needs_jax, needs_modules, needs_tf, needs_torch
from tests.framework.nets import tiny_res, trained_like

pytestmark = pytest.mark.framework

NETS = {"mlp": lambda: zoo.mlp((28, 28, 1), 10, hidden=(32,)), "lenet5": lambda: zoo.lenet5((28, 28, 1), 10),
        "tiny_res": tiny_res}
EXPECTED = {
    "tensorflow": [("tflite", "float32"), ("tflite", "float16"), ("tflite", "int8-dynamic"), ("tflite", "int8"),
                   ("onnx", "float32"), ("onnx", "int8-static"), ("onnx", "int8-static-per-tensor"),
                   ("onnx", "int8-dynamic")],
    "pytorch": [("onnx", "float32"), ("onnx", "int8-static"), ("onnx", "int8-static-per-tensor"),
                ("onnx", "int8-dynamic"), ("tflite", "float32"), ("tflite", "int8"), ("executorch", "float32")],
    "jax": [("tflite", "float32"), ("tflite", "int8")],
}
NEEDS = {"tensorflow": ("tensorflow", "ai_edge_litert", "tf2onnx", "onnxruntime"),
         "pytorch": ("torch", "onnxscript", "onnxruntime", "litert_torch", "executorch", "ai_edge_litert"),
         "jax": ("jax", "flax", "tensorflow", "ai_edge_litert")}
WEIGHTED = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}  # op -> output-channel axis


def _inputs(net, n=64, seed=1):
    """Channels-last images (N, *input_shape) in [0, 1), as the data set gives them."""
    return np.random.default_rng(seed).random((n, *net.input_shape), dtype=np.float32)


def _adapter(framework):
    return registry.framework(framework).load()(1)


def _per_channel(path):
    """(op, scales, channels, axis) of every weighted op's weight tensor in a .tflite file."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    out = []
    for op in it._get_ops_details():
        if op["op_name"] in WEIGHTED:
            w = tensors[op["inputs"][1]]
            q = w["quantization_parameters"]
            out.append((op["op_name"], len(q["scales"]), int(w["shape"][WEIGHTED[op["op_name"]]]),
                        int(q["quantized_dimension"]), np.dtype(w["dtype"]).name))
    return out


def _check_graph_cost(net, cost, target):
    assert cost["macs_per_sample"] == net.macs_per_sample, (target, cost)
    assert cost["parameters"] == net.deployed_parameter_count, (target, cost)
    assert cost["dense_layers"] == sum(isinstance(n.layer, L.Dense) for n in net.nodes), (target, cost)
    assert cost["conv_layers"] == sum(isinstance(n.layer, (L.Conv2D, L.DepthwiseConv2D)) for n in net.nodes), \
        (target, cost)
    extra = cost.get("extra_constants")
    if extra:
        # Only an unfolded BatchNorm leaves constants outside the conv/dense ops (tf2onnx keeps the
        # one after a depthwise conv and after a conv with a bias as Mul + Add): at most its scale
        # and shift per channel.
        bn = sum(n.out_shape[-1] for n in net.nodes if isinstance(n.layer, L.BatchNorm))
        assert set(extra) <= {"Mul", "Add"} and sum(extra.values()) <= 2 * bn, (target, extra)


def _generated_c_matches_tflite_micro(path, x, tmp_path):
    """edgebench's generated C (firmware/) on every framework's .tflite: int8 outputs bit-exact with
    TFLite Micro's, float32 ones equal to its (whatever ops each converter emits: PyTorch's carry
    TRANSPOSE and int8 -> int8 QUANTIZE, TensorFlow's a SHAPE chain before its flatten)."""
    from types import SimpleNamespace

    from edgebench.firmware import codegen, host
    from edgebench.firmware.check import _inputs

    need_modules("tflite_micro", extra_name="tflm")
    from tflite_micro.python.tflite_micro import runtime

    model = path.read_bytes()
    gen = codegen.generate(model, tmp_path / f"{path.stem}-c")
    xq = _inputs(model, x, SimpleNamespace())
    ours = host.run_host(host.build_host(gen.dir, tmp_path / f"{path.stem}-host"), xq)
    it = runtime.Interpreter.from_bytes(model)
    ref = []
    for row in xq:
        it.set_input(row[None], 0)
        it.invoke()
        ref.append(it.get_output(0).copy())
    ref = np.concatenate(ref).reshape(ours.shape)
    assert np.array_equal(ours, ref), (path.name, gen.ops, float(np.abs(ours.astype(float) - ref).max()))


def _check_all_targets(adapter, net, model, tmp_path):
    x = _inputs(net)
    ref = adapter.predict(model, x)
    ctx = ExportContext(network=net, calibration=_inputs(net, 100, seed=2))
    seen, sizes = [], {}
    layout = "flat" if len(net.input_shape) == 1 else "NHWC"
    for target in registry.exporters_for(adapter.name):
        path = tmp_path / target.filename
        target.load()(model, path, ctx)
        ctx.produced[(target.format, target.precision)] = path
        seen.append((target.format, target.precision))
        sizes[(target.format, target.precision)] = path.stat().st_size
        session = registry.runtimes()[target.runtime].load()(path, threads=1)
        # Every artifact takes the source model's own channels-last (or flat) input.
        assert session.io["input"]["layout"] == layout, (target, session.io)
        assert tuple(session.io["input"]["shape"][1:]) == tuple(net.input_shape), (target, session.io)
        got = session.predict(x)
        assert got.shape == ref.shape and got.dtype == np.float32
        res = compare(ref, got, ref.argmax(axis=1), target.precision, net=net)
        # Production's own bound for this model and precision, on the largest error (stricter, for
        # int8, than production, which judges the 99.9th percentile of the per-image error).
        assert res["max_abs_diff"] <= res["max_abs_diff_bound"], (target, res)
        if target.precision == "float32":
            assert res["max_abs_diff"] < 1e-5, (target, res["max_abs_diff"])
            assert res["top1_agreement"] >= 0.98, (target, res["top1_agreement"])
        elif target.precision == "float16":
            assert res["max_abs_diff"] <= 2e-3 * res["source_logit_range"], (target, res)
        else:  # int8: a tenth of the logit range at most (a wrong scale or layout moves far more)
            assert res["max_abs_diff"] <= 0.1 * res["source_logit_range"], (target, res)
            assert res["top1_agreement"] >= 0.9, (target, res["top1_agreement"])
        session.batch_call(x[:1])()  # the latency call runs on its own
        cost = session.graph_cost()
        # Only ExecuTorch's .pte has no public way to read its graph back: every other runtime counts it.
        assert (cost is None) == (target.format == "executorch"), (target, cost)
        if cost is not None:
            _check_graph_cost(net, cost, target.name)
        if target.format == "onnx" and target.precision.startswith("int8-static"):
            from edgebench.measure.quantization import weight_granularity

            want = "per-tensor" if target.precision.endswith("per-tensor") else "per-channel"
            assert weight_granularity(path)["granularity"] == want, (target, weight_granularity(path))
        if target.format == "tflite" and target.precision in ("int8", "float32"):
            _generated_c_matches_tflite_micro(path, x, tmp_path)
        if target.format == "tflite" and target.precision == "int8":
            assert session.io["input"]["dtype"] == "int8" and session.io["output"]["dtype"] == "int8"
            weights = _per_channel(path)
            assert len(weights) == cost["dense_layers"] + cost["conv_layers"]
            for op, scales, channels, axis, dtype in weights:  # one scale per output channel
                assert dtype == "int8" and scales == channels and axis == WEIGHTED[op], (target, weights)
        session.close()
    assert seen == EXPECTED[adapter.name]
    if net.name in ("mlp", "lenet5"):  # the tiny CNN's tensors are too small for int8 to pay
        for (fmt, prec), size in sizes.items():
            if prec.startswith("int8"):
                assert size < sizes[(fmt, "float32")], (fmt, prec)


@pytest.mark.parametrize("framework", ["tensorflow", "pytorch", "jax"])
@pytest.mark.parametrize("model", list(NETS))
def test_every_export(framework, model, tmp_path):
    need_modules(*NEEDS[framework], extra_name="all")
    adapter = _adapter(framework)
    net = NETS[model]()
    _check_all_targets(adapter, net, adapter.build(net, trained_like(net)), tmp_path)


@needs_tf
def test_tflite_float_keeps_a_dynamic_batch(tmp_path):
    from edgebench.exporters.tflite import from_keras
    from edgebench.runtimes.litert import LiteRTSession

    adapter = _adapter("tensorflow")
    net = NETS["lenet5"]()
    model = adapter.build(net, trained_like(net))
    path = tmp_path / "m.tflite"
    from_keras(model, path, ExportContext(net, _inputs(net)))
    sess = LiteRTSession(path, threads=1)
    assert sess.accepts_batch and sess.io["input"]["shape"] == [-1, 28, 28, 1]
    for batch in (1, 7, 50):
        x = _inputs(net, batch)
        np.testing.assert_allclose(sess.predict(x), adapter.predict(model, x), atol=1e-5)
        # Flat rows (N, 784) are shaped to the file's input as well.
        np.testing.assert_allclose(sess.predict(x.reshape(batch, -1)), sess.predict(x), atol=0)


@needs_torch
def test_onnx_is_self_contained_with_dynamic_batch(tmp_path):
    import onnx

    from edgebench.exporters.onnx import from_torch

    adapter = _adapter("pytorch")
    net = NETS["lenet5"]()
    path = tmp_path / "m.onnx"
    from_torch(adapter.build(net, trained_like(net)), path, ExportContext(net, _inputs(net)))
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"], "weights must live inside the .onnx file"
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].dim_value, "batch dimension must be dynamic"
    assert [d.dim_value for d in dims[1:]] == [28, 28, 1], "the input is NHWC, as the model takes it"


@needs_torch
@needs_modules("litert_torch", "executorch", "ai_edge_litert", extra_name="all")
def test_an_nchw_model_gives_nchw_artifacts_fed_transposed(tmp_path):
    """A PyTorch model that declares input_layout = "NCHW" is exported with an NCHW sample; each
    runtime recognises the NCHW input from the file and transposes the channels-last data."""
    import torch

    from edgebench.exporters import executorch, onnx, tflite

    net = tiny_res()
    adapter = _adapter("pytorch")
    inner = adapter.build(net, trained_like(net)).eval()

    class NCHW(torch.nn.Module):
        input_layout = "NCHW"

        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.permute(0, 2, 3, 1))

    model = NCHW().eval()
    x = _inputs(net, 8)
    ref = adapter.predict(inner, x)
    ctx = ExportContext(net, _inputs(net, 4))
    for fn, name, runtime in ((onnx.from_torch, "m.onnx", "onnxruntime"), (tflite.from_torch, "m.tflite", "litert"),
                              (executorch.from_torch, "m.pte", "executorch")):
        fn(model, tmp_path / name, ctx)
        session = registry.runtimes()[runtime].load()(tmp_path / name, threads=1)
        assert session.io["input"]["layout"] == "NCHW" and session.io["input"]["shape"][1:] == [3, 16, 16], name
        np.testing.assert_allclose(session.predict(x), ref, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(session.predict(x.reshape(8, -1)), ref, atol=1e-5, err_msg=name)


@needs_modules("jax", "flax", "tensorflow", "ai_edge_litert", extra_name="all")
def test_jax_export_runs_batchnorm_in_inference_mode(tmp_path):
    """jax2tf exports the running statistics, not the batch's: a one-image batch would give a
    different answer in train mode (and a train-mode export would need mutable batch_stats)."""
    from edgebench.exporters.tflite import from_jax, jax_inference_fn
    from edgebench.runtimes.litert import LiteRTSession
    from tests.framework.nets import np_forward

    net = tiny_res()
    w = trained_like(net)
    adapter = _adapter("jax")
    model = adapter.build(net, w)
    x = _inputs(net, 5)
    np.testing.assert_allclose(np.asarray(jax_inference_fn(model)(x)), np_forward(net, w, x), atol=1e-5)
    from_jax(model, tmp_path / "m.tflite", ExportContext(net, x))
    np.testing.assert_allclose(LiteRTSession(tmp_path / "m.tflite").predict(x), adapter.predict(model, x), atol=1e-5)


@needs_tf
@needs_torch
@needs_jax
@pytest.mark.parametrize("model", list(NETS))
def test_the_same_weights_give_the_same_logits_to_1e_5_in_every_framework(model):
    """The same weights in every framework: the weights read back exactly, the logits within 1e-5
    (float32 kernels that differ only in summation order)."""
    net = NETS[model]()
    w = trained_like(net, seed=9)
    x = _inputs(net)
    adapters = [_adapter(f) for f in ("tensorflow", "pytorch", "jax")]
    ref = adapters[0].predict(adapters[0].build(net, w), x)
    for a in adapters[1:]:
        m = a.build(net, w)
        np.testing.assert_allclose(a.predict(m, x), ref, atol=1e-5, err_msg=a.name)
        back = a.get_weights(m)
        assert back.keys() == w.keys(), a.name
        for layer, arrays in w.items():
            assert back[layer].keys() == arrays.keys(), (a.name, layer)
            for k, v in arrays.items():
                np.testing.assert_array_equal(back[layer][k], v, err_msg=f"{a.name} {layer}.{k}")
