"""TensorFlow Lite flatbuffers: the TFLite converter for Keras models, litert-torch for PyTorch,
jax2tf + the TFLite converter for JAX.

Input layouts: every file takes what the source model takes, channels-last (a Keras model and
a jax2tf function are NHWC; the PyTorch model takes NHWC and says so in `input_layout`); the MLP
keeps its flat [batch, 784] input. runtimes/base.py maps the data to each file's declared input.
Quantized weights are per output channel (CONV_2D axis 0, DEPTHWISE_CONV_2D axis 3,
FULLY_CONNECTED axis 0); activations per tensor.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from edgebench.exporters import ExportContext


def _keras_converter(model):
    import tensorflow as tf

    # from_keras_model freezes the weights into constants and keeps the batch dimension
    # dynamic (shape_signature [-1, 784] or [-1, 28, 28, 1]). A bare concrete function does not
    # freeze Keras 3 variables: it yields a 2.5 KB model of uninitialised resource variables.
    # BatchNormalization runs in inference mode and is folded into the conv before it.
    if getattr(model, "saved_model_dir", None):  # a user's SavedModel (sources/keras.py)
        return tf.lite.TFLiteConverter.from_saved_model(model.saved_model_dir)
    return tf.lite.TFLiteConverter.from_keras_model(model)


def _representative(ctx: ExportContext):
    """Calibration images one at a time, channels-last (N, *input_shape) as the Keras model and
    the jax2tf function take them."""
    def gen():
        for i in range(len(ctx.calibration)):
            yield [np.ascontiguousarray(ctx.calibration[i:i + 1].reshape(ctx.sample_shape(1)), np.float32)]

    return gen


def _torch_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """Channels-last sample(s) in the layout a model takes ("NCHW" transposes an image batch)."""
    # A fresh C-ordered copy, not ascontiguousarray: for a batch of one grey image the transposed
    # view already counts as contiguous and keeps channels-last strides, which torch.export then
    # records as a channels-last input (ExecuTorch's XNNPACK delegate rejects a contiguous one).
    return np.array(x.transpose(0, 3, 1, 2), order="C", copy=True) if layout == "NCHW" and x.ndim == 4 else x


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
    """Full-integer: int8 weights (symmetric, one scale per output channel: the converter's
    default in TF 2.21 for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, stated here so it
    cannot drift) and int8 activations (per tensor), int8 input and output (what a
    microcontroller runs); activation ranges calibrated on ctx.calibration."""
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(ctx)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    converter._experimental_disable_per_channel = False
    converter._experimental_disable_per_channel_quantization_for_dense_layers = False
    return converter.convert()


def from_keras_int8(model, path: Path, ctx: ExportContext) -> None:
    Path(path).write_bytes(_full_int8(_keras_converter(model), ctx))


def torch_layout(model) -> str:
    """The input layout a PyTorch model declares (`input_layout`), NHWC by default: the
    adapter's models take channels-last images, as every framework here."""
    return str(getattr(model, "input_layout", "NHWC")).upper()


def torch_sample(model, ctx: ExportContext, batch: int = 1):
    """A zero input of `batch` images in the layout the PyTorch model takes."""
    import torch

    x = np.zeros(ctx.sample_shape(batch), np.float32)
    return torch.from_numpy(_torch_layout(x, torch_layout(model)))


def from_torch(model, path: Path, ctx: ExportContext) -> None:
    import litert_torch

    # litert-torch fails on a dynamic batch dimension with these versions (AssertionError on
    # a -2^63 dimension): the model is exported at batch 1, as on a device, in the model's own
    # input layout (NHWC for the adapter's models).
    litert_torch.convert(model.eval(), (torch_sample(model, ctx),)).export(str(path))


def from_torch_int8(model, path: Path, ctx: ExportContext) -> None:
    """PT2E static int8, calibrated on ctx.calibration: weights symmetric per output channel,
    activations per tensor (litert-torch's symmetric config with is_per_channel=True)."""
    import litert_torch
    import torch
    from litert_torch.quantize import pt2e_quantizer, quant_config
    from torchao.quantization.pt2e import quantize_pt2e

    layout = torch_layout(model)
    sample = (torch_sample(model, ctx),)
    exported = torch.export.export(model.eval(), sample).module()
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
    prepared = quantize_pt2e.prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for i in range(len(ctx.calibration)):
            x = ctx.calibration[i:i + 1].reshape(ctx.sample_shape(1))
            prepared(torch.from_numpy(_torch_layout(np.ascontiguousarray(x, np.float32), layout)))
    converted = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    edge = litert_torch.convert(converted, sample, quant_config=quant_config.QuantConfig(pt2e_quantizer=quantizer))
    edge.export(str(path))


def jax_inference_fn(model):
    """The JAX model as a pure function of the image batch, BatchNorm in inference mode (running
    statistics, nothing mutable: flax's apply without `mutable` fails rather than update them).
    Prefers the adapter's own model["apply"] when it provides one (apply(x) or apply(variables,
    x)); else module.apply(variables, x) with the module's train/training flag off, where
    variables = model["params"] is the whole {"params", "batch_stats"} dict."""
    variables = model["params"]
    if callable(model.get("apply")):
        apply = model["apply"]
        try:
            takes = [p for p in inspect.signature(apply).parameters.values()
                     if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            takes = [None, None]
        return (lambda x: apply(x)) if len(takes) == 1 else (lambda x: apply(variables, x))
    module = model["module"]
    try:
        names = inspect.signature(module.__call__).parameters
    except (TypeError, ValueError):
        names = {}
    kwargs = {}
    if "train" in names:
        kwargs["train"] = False
    elif "training" in names:
        kwargs["training"] = False
    elif "use_running_average" in names:
        kwargs["use_running_average"] = True
    elif "deterministic" in names:
        kwargs["deterministic"] = True
    return lambda x: module.apply(variables, x, **kwargs)


def _jax_converter(model, ctx: ExportContext):
    import tensorflow as tf
    from jax.experimental import jax2tf

    # Static batch 1, as on a device: with polymorphic_shapes=["(b, _)"] jax2tf adds shape
    # arithmetic (UNSORTED_SEGMENT_PROD) that TFLite Micro cannot run; at batch 1 the graph is
    # just the layers' ops. The input is channels-last, as the Flax model takes it.
    fn = tf.function(jax2tf.convert(jax_inference_fn(model), with_gradient=False),
                     input_signature=[tf.TensorSpec(ctx.sample_shape(1), tf.float32, name="image")],
                     autograph=False)
    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)


def from_jax(model, path: Path, ctx: ExportContext) -> None:
    Path(path).write_bytes(_jax_converter(model, ctx).convert())


def from_jax_int8(model, path: Path, ctx: ExportContext) -> None:
    Path(path).write_bytes(_full_int8(_jax_converter(model, ctx), ctx))


# -- a .tflite a user brought (deploy): int8 variants through ai-edge-quantizer ------------------

def aeq_dynamic_int8(model, path: Path, ctx: ExportContext) -> None:
    """int8 weights, float32 activations (ai-edge-quantizer's dynamic_wi8_afp32), from the float
    .tflite itself."""
    from ai_edge_quantizer import quantizer, recipe

    qt = quantizer.Quantizer(str(ctx.source("tflite")))
    qt.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    qt.quantize().export_model(str(path), overwrite=True)


def aeq_static_int8(model, path: Path, ctx: ExportContext) -> None:
    """int8 weights and activations (ai-edge-quantizer's static_wi8_ai8), calibrated on
    ctx.calibration through the model's signature (float32 in and out)."""
    from ai_edge_litert.interpreter import Interpreter

    from edgebench.runtimes.base import to_artifact_input

    src = ctx.source("tflite")
    sigs = Interpreter(model_path=str(src)).get_signature_list()
    key = next(iter(sigs))
    name = sigs[key]["inputs"][0]
    shape = list(ctx.model_input) if ctx.model_input else [1, *ctx.network.input_shape]
    x = ctx.calibration.reshape(len(ctx.calibration), *ctx.network.input_shape).astype(np.float32, copy=False)
    samples = [{name: to_artifact_input(x[i:i + 1], shape, image_shape=ctx.network.input_shape)}
               for i in range(len(x))]
    from ai_edge_quantizer import quantizer, recipe

    qt = quantizer.Quantizer(str(src))
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    result = qt.quantize(qt.calibrate({key: samples}))
    result.export_model(str(path), overwrite=True)
