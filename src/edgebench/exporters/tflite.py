"""TensorFlow Lite flatbuffers: the TFLite converter for Keras models, litert-torch for PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.exporters import ExportContext


def _keras_converter(model):
    import tensorflow as tf

    # from_keras_model freezes the weights into constants and keeps the batch dimension
    # dynamic (shape_signature [-1, 784]). A bare concrete function does not freeze Keras 3
    # variables: it yields a 2.5 KB model of uninitialised resource variables.
    return tf.lite.TFLiteConverter.from_keras_model(model)


def _representative(ctx: ExportContext):
    def gen():
        for i in range(len(ctx.calibration)):
            yield [ctx.calibration[i:i + 1]]

    return gen


def from_keras(model, path: Path, ctx: ExportContext) -> None:
    Path(path).write_bytes(_keras_converter(model).convert())


def from_keras_float16(model, path: Path, ctx: ExportContext) -> None:
    import tensorflow as tf

    c = _keras_converter(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.target_spec.supported_types = [tf.float16]  # float16 weights, dequantized to float32 at load
    Path(path).write_bytes(c.convert())


def from_keras_dynamic_int8(model, path: Path, ctx: ExportContext) -> None:
    import tensorflow as tf

    c = _keras_converter(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]  # int8 weights, float activations
    Path(path).write_bytes(c.convert())


def _full_int8(converter, ctx: ExportContext) -> bytes:
    """Full-integer: int8 weights and activations, int8 input and output (what a
    microcontroller runs); activation ranges calibrated on ctx.calibration."""
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(ctx)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def from_keras_int8(model, path: Path, ctx: ExportContext) -> None:
    Path(path).write_bytes(_full_int8(_keras_converter(model), ctx))


def from_torch(model, path: Path, ctx: ExportContext) -> None:
    import litert_torch
    import torch

    # litert-torch fails on a dynamic batch dimension with these versions (AssertionError on
    # a -2^63 dimension): the model is exported at batch 1, as on a device.
    sample = (torch.zeros(1, ctx.spec.input_size, dtype=torch.float32),)
    litert_torch.convert(model.eval(), sample).export(str(path))


def from_torch_int8(model, path: Path, ctx: ExportContext) -> None:
    """PT2E static int8 (symmetric, per-tensor), calibrated on ctx.calibration."""
    import litert_torch
    import torch
    from litert_torch.quantize import pt2e_quantizer, quant_config
    from torchao.quantization.pt2e import quantize_pt2e

    sample = (torch.zeros(1, ctx.spec.input_size, dtype=torch.float32),)
    exported = torch.export.export(model.eval(), sample).module()
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=False))
    prepared = quantize_pt2e.prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for i in range(len(ctx.calibration)):
            prepared(torch.from_numpy(np.ascontiguousarray(ctx.calibration[i:i + 1])))
    converted = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    edge = litert_torch.convert(converted, sample, quant_config=quant_config.QuantConfig(pt2e_quantizer=quantizer))
    edge.export(str(path))


def _jax_converter(model, ctx: ExportContext):
    import tensorflow as tf
    from jax.experimental import jax2tf

    module, params = model["module"], model["params"]
    # Static batch 1, as on a device: with polymorphic_shapes=["(b, _)"] jax2tf adds shape
    # arithmetic (UNSORTED_SEGMENT_PROD) that TFLite Micro cannot run; at batch 1 the graph is
    # just FULLY_CONNECTED ops.
    fn = tf.function(jax2tf.convert(lambda x: module.apply(params, x)),
                     input_signature=[tf.TensorSpec([1, ctx.spec.input_size], tf.float32, name="image")],
                     autograph=False)
    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)


def from_jax(model, path: Path, ctx: ExportContext) -> None:
    Path(path).write_bytes(_jax_converter(model, ctx).convert())


def from_jax_int8(model, path: Path, ctx: ExportContext) -> None:
    Path(path).write_bytes(_full_int8(_jax_converter(model, ctx), ctx))
