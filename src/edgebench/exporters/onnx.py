"""ONNX: torch.onnx (dynamo exporter) for PyTorch, tf2onnx for Keras; int8 variants with
onnxruntime.quantization. Every file is self-contained with a dynamic batch dimension."""

from __future__ import annotations

from pathlib import Path

from edgebench.exporters import ExportContext

OPSET = 18


def from_torch(model, path: Path, ctx: ExportContext) -> None:
    import torch

    model.eval()
    sample = torch.zeros(2, ctx.spec.input_size, dtype=torch.float32)
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(
        model, (sample,), dynamo=True, input_names=["image"], output_names=["logits"],
        dynamic_shapes=({0: batch},), opset_version=OPSET,
        external_data=False,  # weights inside the .onnx, not in a side .onnx.data file
        verbose=False,
    )
    program.save(str(path), external_data=False)


def from_keras(model, path: Path, ctx: ExportContext) -> None:
    import tensorflow as tf
    import tf2onnx

    # tf2onnx.convert.from_keras fails on Keras 3 models (KeyError); a tf.function with an
    # input signature is the route that works.
    spec = [tf.TensorSpec([None, ctx.spec.input_size], tf.float32, name="image")]

    @tf.function(input_signature=spec)
    def serve(x):
        return model(x, training=False)

    tf2onnx.convert.from_function(serve, input_signature=spec, opset=OPSET, output_path=str(path))


def quantize_static(model, path: Path, ctx: ExportContext) -> None:
    """int8 QDQ: weights and activations int8 (symmetric weights, per-tensor), calibrated on
    ctx.calibration with MinMax ranges; inputs and outputs stay float32."""
    import tempfile

    from onnxruntime import quantization as q

    src = ctx.source("onnx")

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self._it = iter(ctx.calibration[i:i + 1] for i in range(len(ctx.calibration)))

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {input_name: x}

    import onnx

    input_name = onnx.load(str(src)).graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        q.quant_pre_process(str(src), str(pre))  # shape inference + graph clean-up, as advised
        q.quantize_static(str(pre), str(path), Reader(), quant_format=q.QuantFormat.QDQ,
                          activation_type=q.QuantType.QInt8, weight_type=q.QuantType.QInt8,
                          per_channel=False, calibrate_method=q.CalibrationMethod.MinMax)


def quantize_dynamic(model, path: Path, ctx: ExportContext) -> None:
    """int8 weights; activations quantized on the fly per batch (float32 in and out)."""
    from onnxruntime import quantization as q

    q.quantize_dynamic(str(ctx.source("onnx")), str(path), weight_type=q.QuantType.QInt8)
