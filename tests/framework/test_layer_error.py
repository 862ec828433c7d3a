"""Issue 31 on real converters and runtimes: the per-layer table finds the classic per-tensor int8
failure (one layer whose activations carry an outlier channel) in the TFLite and the ONNX QDQ
export alike, float32 exports stay above 60 dB at every layer, and the figures agree with
TensorFlow's QuantizationDebugger."""

import numpy as np
import pytest

from edgebench import registry
from edgebench.exporters import ExportContext
from edgebench.measure.layer_table import layer_table, source_layers
from edgebench.models import layers as L
from edgebench.models.network import Network
from tests.conftest import need_modules, needs_tf
from tests.framework.nets import trained_like

OUTLIER = 300.0  # channel 0 of conv2's output, this many times its other channels


def _net() -> Network:
    return Network("outlier", (
        L.Conv2D("conv1", 8, kernel=3, padding="same", activation="relu"),
        L.Conv2D("conv2", 8, kernel=3, padding="same", activation="relu"),
        L.Conv2D("conv3", 8, kernel=3, stride=2, padding="same", activation="relu"),
        L.GlobalAveragePooling("gap"), L.Dense("logits", 4)), (12, 12, 1), 4)


def _model(outlier: bool):
    """The Keras model, with conv2's output channel 0 scaled up (kernel and bias) where asked."""
    net = _net()
    w = trained_like(net)
    if outlier:
        w["conv2"]["kernel"][..., 0] *= OUTLIER
        w["conv2"]["bias"][0] = abs(w["conv2"]["bias"][0]) * OUTLIER
    adapter = registry.framework("tensorflow").load()(1)
    return net, adapter, adapter.build(net, w)


def _x(n, seed):
    return np.random.default_rng(seed).random((n, 12, 12, 1), dtype=np.float32)


def _tables(tmp_path, outlier: bool, precisions: tuple[str, ...]) -> dict:
    need_modules("tensorflow", "ai_edge_litert", "onnxruntime", "tf2onnx", extra_name="all")
    net, adapter, model = _model(outlier)
    x = _x(64, 1)
    source = adapter.activations(model, x, source_layers(net))
    ctx = ExportContext(network=net, calibration=_x(100, 2))
    out = {}
    for target in registry.exporters_for("tensorflow"):
        path = tmp_path / target.filename
        target.load()(model, path, ctx)
        ctx.produced[(target.format, target.precision)] = path
        if target.format not in ("tflite", "onnx") or target.precision not in precisions:
            continue
        session = registry.runtimes()[target.runtime].load()(path, threads=1)
        out[(target.format, target.precision)] = layer_table(session, net, source, x)
    return out


@needs_tf
def test_an_outlier_channel_is_where_the_int8_error_appears_in_tflite_and_onnx(tmp_path):
    tables = _tables(tmp_path, True, ("int8", "int8-static"))
    assert set(tables) == {("tflite", "int8"), ("onnx", "int8-static")}
    for key, t in tables.items():
        rows = {r["layer"]: r for r in t["rows"]}
        assert t["matched"] == t["layers"] == 5, (key, t["rows"])
        assert t["first_jump"] == "conv2", (key, [(r["layer"], r.get("channel_sqnr_db")) for r in t["rows"]])
        # the other channels collapse into a few steps: the median channel falls far below conv1's
        assert rows["conv2"]["channel_sqnr_db"] < rows["conv1"]["channel_sqnr_db"] - 20, (key, rows["conv2"])


@needs_tf
def test_float32_exports_stay_above_60_db_at_every_layer_and_int8_without_outlier_does_not_jump(tmp_path):
    tables = _tables(tmp_path, False, ("float32", "int8", "int8-static"))
    for key, t in tables.items():
        assert t["matched"] == t["layers"], (key, t["rows"])
        if key[1] == "float32":
            assert min(r["sqnr_db"] for r in t["rows"]) > 60, (key, t["rows"])
        else:
            assert t["first_jump"] is None and t["min_sqnr_db"] > 25, (key, t["rows"])


@needs_tf
def test_agrees_with_tensorflows_quantization_debugger(tmp_path):
    """QuantizationDebugger in whole-model mode (each quantized tensor against the float model's,
    the converter's enable_whole_model_verify; its default compares each op with the float op run
    on the quantized inputs, a local error) measures the same thing as edgebench on the same
    quantized model: SQNR per layer agrees within 0.5 dB (QuantizationDebugger runs its quantized
    ops with the XNNPACK delegate, edgebench with LiteRT's built-in kernels)."""
    need_modules("tensorflow", "ai_edge_litert", extra_name="all")
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.tools.optimize.debugging.python import debugger as qd

    from edgebench.runtimes.litert import LiteRTSession

    net, adapter, model = _model(outlier=False)
    x, calibration = _x(64, 1), _x(100, 2)

    class WholeModel(qd.QuantizationDebugger):
        def _init_from_converter(self, options, converter, calibrated_model=None, float_model=None):
            self.quant_model = convert.mlir_quantize(
                calibrated_model, disable_per_channel=converter._experimental_disable_per_channel,
                fully_quantize=options.fully_quantize, enable_numeric_verify=True, enable_whole_model_verify=True)
            self._quant_interpreter = qd._interpreter.Interpreter(model_content=self.quant_model)
            self._float_interpreter = None

    def signal(f, q, scale, zp):
        return float(np.sum(np.asarray(f, np.float64) ** 2))

    def noise(f, q, scale, zp):
        return float(np.sum(((q.astype(np.float64) - zp) * scale - f) ** 2))

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
    debugger = WholeModel(converter=converter, debug_dataset=lambda: ([x[i:i + 1]] for i in range(len(x))),
                          debug_options=qd.QuantizationDebugOptions(
                              layer_direct_compare_metrics={"signal": signal, "noise": noise}))
    debugger.run()
    theirs = {}
    for name, m in debugger.layer_statistics.items():  # NumericVerify/<tensor name><digit>:<index>
        tensor, _ = debugger._get_operand_name_and_index(name)
        theirs[tensor] = 10 * np.log10(m["signal"] / m["noise"])
    path = tmp_path / "q.tflite"
    path.write_bytes(debugger.get_nondebug_quantized_model())
    ours = layer_table(LiteRTSession(path), net, adapter.activations(model, x, source_layers(net)), x)

    def qd_figure(name):  # its parser drops a name's last digit along with the index's separator
        return next((v for k, v in theirs.items() if name == k or (name.startswith(k) and len(name) == len(k) + 1)),
                    None)

    both = [(r["layer"], r["sqnr_db"], qd_figure(r["tensor_name"])) for r in ours["rows"]
            if qd_figure(r["tensor_name"]) is not None]
    assert len(both) == len(ours["rows"]) == 5, (both, list(theirs))
    for layer, mine, qd_db in both:
        assert mine == pytest.approx(qd_db, abs=0.5), (layer, mine, qd_db)
