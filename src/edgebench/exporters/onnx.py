"""ONNX: torch.onnx (dynamo exporter) for PyTorch, tf2onnx for Keras; int8 variants with
onnxruntime.quantization. Every file is self-contained with a dynamic batch dimension.

Input layouts: the source model's own, channels-last for images ([batch, H, W, C]; tf2onnx and
torch.onnx insert the Transpose to the NCHW Conv inside the graph), [batch, 784] for the MLP.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.exporters import ExportContext

OPSET = 18


def from_torch(model, path: Path, ctx: ExportContext) -> None:
    import torch

    from edgebench.exporters.tflite import torch_sample

    model.eval()
    sample = torch_sample(model, ctx, batch=2)  # NHWC images, as the model takes them
    # A dynamic batch, unless the model (a user's program) is fixed at one.
    dynamic = None if ctx.fixed_batch else ({0: torch.export.Dim("batch")},)
    program = torch.onnx.export(
        model, (sample,), dynamo=True, input_names=["image"], output_names=["logits"],
        dynamic_shapes=dynamic, opset_version=OPSET,
        external_data=False,  # weights inside the .onnx, not in a side .onnx.data file
        verbose=False,
    )
    program.save(str(path), external_data=False)


def from_keras(model, path: Path, ctx: ExportContext) -> None:
    import tensorflow as tf
    import tf2onnx

    # tf2onnx.convert.from_keras fails on Keras 3 models (KeyError); a tf.function with an
    # input signature is the route that works. The input is the Keras model's own (NHWC).
    own = ctx.model_input[1:] if ctx.model_input else ctx.network.input_shape  # a user's model: its own layout
    spec = [tf.TensorSpec([ctx.fixed_batch, *own], tf.float32, name="image")]

    @tf.function(input_signature=spec)
    def serve(x):
        return model(x, training=False)

    tf2onnx.convert.from_function(serve, input_signature=spec, opset=OPSET, output_path=str(path))


def _calibration_inputs(src: Path, ctx: ExportContext):
    """One calibration image at a time, shaped (1, ...) as the .onnx input takes it."""
    import onnx

    from edgebench.runtimes.base import to_artifact_input

    inp = onnx.load(str(src), load_external_data=False).graph.input[0]
    shape = [d.dim_value if d.HasField("dim_value") else -1 for d in inp.type.tensor_type.shape.dim]
    x = ctx.calibration.reshape(len(ctx.calibration), *ctx.network.input_shape).astype(np.float32, copy=False)
    return inp.name, (to_artifact_input(x[i:i + 1], shape, image_shape=ctx.network.input_shape)
                      for i in range(len(x)))


def quantize_static(model, path: Path, ctx: ExportContext, per_channel: bool = True) -> None:
    """int8 QDQ: weights and activations int8, calibrated on ctx.calibration with MinMax ranges;
    inputs and outputs stay float32. Weights are symmetric with one scale per output channel (Conv:
    axis 0; MatMul: axis 1; Gemm: its output axis), as TFLite's full-integer converter does, so that
    int8 accuracy compares like for like across formats; activations one scale per tensor."""
    import tempfile

    from onnxruntime import quantization as q

    src = ctx.source("onnx")
    input_name, samples = _calibration_inputs(src, ctx)

    class Reader(q.CalibrationDataReader):
        def get_next(self):
            x = next(samples, None)
            return None if x is None else {input_name: x}

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        q.quant_pre_process(str(src), str(pre))  # shape inference + graph clean-up, as advised
        q.quantize_static(str(pre), str(path), Reader(), quant_format=q.QuantFormat.QDQ,
                          activation_type=q.QuantType.QInt8, weight_type=q.QuantType.QInt8,
                          per_channel=per_channel, calibrate_method=q.CalibrationMethod.MinMax)


def quantize_static_per_tensor(model, path: Path, ctx: ExportContext) -> None:
    """The same as quantize_static with one weight scale per layer (the opt-in int8-static-per-tensor)."""
    quantize_static(model, path, ctx, per_channel=False)


def quantize_dynamic(model, path: Path, ctx: ExportContext) -> None:
    """int8 weights; activations quantized on the fly per batch (float32 in and out)."""
    from onnxruntime import quantization as q

    q.quantize_dynamic(str(ctx.source("onnx")), str(path), weight_type=q.QuantType.QInt8)
