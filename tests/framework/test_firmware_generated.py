"""The generated C (firmware.codegen, built for the host with cc) against TFLite Micro (issue 29).

int8 models: bit-exact, 0 differing outputs over seeded random inputs. float32 models: within
1e-5 absolute on softmax probabilities / 1e-4 relative otherwise: the kernels add the same products
in the same order as TFLite Micro's reference kernels and the host build uses no -ffast-math, so
the outputs are in practice identical; the tolerance only leaves room for a libm expf or an FMA
contraction that differs between the two builds.
The MLPerf Tiny reference models are read from ../shared/models/mlperf-tiny (never copied), and
small Keras models cover the ops the MLPerf models lack (TRANSPOSE, MAX_POOL_2D, AVERAGE_POOL_2D with SAME
padding, PAD, MEAN, SUM, DEPTHWISE with a depth multiplier, QUANTIZE/DEQUANTIZE, TF's
SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE flatten).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs_cc, needs_tf, needs_tflm

pytestmark = [pytest.mark.framework, needs_tf, needs_tflm, needs_cc]

CANDIDATES = [os.environ.get("EDGEBENCH_MLPERF_TINY", ""),
              Path(__file__).resolve().parents[2].parent / "shared" / "models" / "mlperf-tiny",
              Path("/work/shared/models/mlperf-tiny")]
MLPERF = next((Path(c) for c in CANDIDATES if c and (Path(c) / "ad01_int8.tflite").is_file()), None)
needs_mlperf = pytest.mark.skipif(MLPERF is None, reason="MLPerf Tiny's models not in ../shared/models/mlperf-tiny")


def _tflm(model: bytes, xs: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_bytes(model)
    out = []
    for x in xs:
        it.set_input(x, 0)
        it.invoke()
        out.append(it.get_output(0).copy())
    return np.stack(out)


def _inputs(gen, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n, *gen.input["shape"])
    if gen.input["dtype"] == "int8":
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    return rng.standard_normal(shape).astype(np.float32)


def _compare(model: bytes, tmp: Path, n: int, seed: int = 29):
    from edgebench.firmware.codegen import generate
    from edgebench.firmware.host import build_host, run_host
    gen = generate(model, tmp / "gen")
    exe = build_host(gen.dir, tmp / "build")
    xs = _inputs(gen, n, seed)
    ours, ref = run_host(exe, xs), _tflm(model, xs)
    assert ours.dtype == ref.dtype
    return gen, ours.reshape(ref.shape), ref


def _assert_match(gen, ours, ref):
    if gen.output["dtype"] == "int8":
        assert int(np.sum(ours != ref)) == 0, f"{int(np.sum(ours != ref))} of {ref.size} int8 outputs differ"
    else:
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


MLPERF_INT8 = {  # model -> (random inputs compared, TFLM's bisected arena in bytes)
    "ad01_int8": (400, 4.6 * 1024), "kws_ref_model": (200, 24.3 * 1024),
    "pretrainedResnet_quant": (150, 56.0 * 1024), "vww_96_int8": (100, 103.7 * 1024),
}


@needs_mlperf
@pytest.mark.parametrize("name", sorted(MLPERF_INT8))
def test_mlperf_int8_bit_exact_and_small_arena(name, tmp_path):
    n, tflm_arena = MLPERF_INT8[name]
    gen, ours, ref = _compare((MLPERF / f"{name}.tflite").read_bytes(), tmp_path, n)
    _assert_match(gen, ours, ref)
    assert gen.plan["arena_bytes"] <= 0.75 * tflm_arena
    assert not [p for p in gen.plan["tensors"] if p["offset"] % 16]
    if name == "pretrainedResnet_quant":
        assert len(gen.plan["fused"]) == 3 and len(gen.plan["in_place"]) == 3


@needs_mlperf
def test_mlperf_float_resnet_within_tolerance(tmp_path):
    gen, ours, ref = _compare((MLPERF / "pretrainedResnet.tflite").read_bytes(), tmp_path, 60)
    _assert_match(gen, ours, ref)


@needs_mlperf
def test_hybrid_and_unsupported_ops_are_named(tmp_path):
    from edgebench.firmware.codegen import generate
    from edgebench.firmware.graph import Unsupported
    # kws_ref_model_float32 keeps int8 weights with float activations (TFLM refuses it as well)
    with pytest.raises(Unsupported, match="^CONV_2D: .*hybrid"):
        generate((MLPERF / "kws_ref_model_float32.tflite").read_bytes(), tmp_path / "kws")


def test_unsupported_op_gives_its_name(tmp_path):
    import tensorflow as tf
    from edgebench.firmware.codegen import generate
    from edgebench.firmware.graph import Unsupported
    x = tf.keras.Input((8,), batch_size=1)
    model = tf.keras.Model(x, tf.keras.layers.Activation("tanh")(tf.keras.layers.Dense(4)(x)))
    flat = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with pytest.raises(Unsupported, match="^TANH: "):
        generate(flat, tmp_path / "gen")


def _keras_model():
    import tensorflow as tf
    L = tf.keras.layers
    x = tf.keras.Input((12, 12, 2))          # dynamic batch: Flatten becomes SHAPE -> ... -> RESHAPE
    c = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    p = L.ZeroPadding2D(1)(c)                                        # PAD
    m = L.MaxPooling2D(2)(p)                                         # MAX_POOL_2D
    m = L.Permute((2, 1, 3))(m)                                      # TRANSPOSE (height <-> width)
    a = L.AveragePooling2D(3, strides=1, padding="same")(m)          # AVERAGE_POOL_2D, SAME
    d = L.DepthwiseConv2D(3, depth_multiplier=2, activation="relu6")(a)
    mean = L.GlobalAveragePooling2D()(d)                             # MEAN
    total = L.Lambda(lambda t: tf.reduce_sum(t, axis=[1, 2]))(d)     # SUM
    dense = L.Dense(8)(L.Flatten()(d))
    z = L.Add()([L.Add()([mean, total]), dense])
    return tf.keras.Model(x, L.Dense(5, activation="softmax")(z))


def _convert(model, mode: str) -> bytes:
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        rng = np.random.default_rng(0)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([rng.standard_normal((1, 12, 12, 2)).astype(np.float32)]
                                               for _ in range(50))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if mode == "int8":
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    return conv.convert()


@pytest.fixture(scope="module")
def keras_flatbuffers():
    import tensorflow as tf
    tf.keras.utils.set_random_seed(29)
    model = _keras_model()
    return {mode: _convert(model, mode) for mode in ("int8", "float_io", "float32")}


def _raw_ops(model: bytes) -> set[str]:
    from ai_edge_litert import schema_py_generated as schema
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    m = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    return {names[codes[op.opcodeIndex]] for op in m.subgraphs[0].operators}


@pytest.mark.parametrize("mode", ["int8", "float_io", "float32"])
def test_keras_ops_beyond_mlperf(mode, keras_flatbuffers, tmp_path):
    assert {"SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE"} <= _raw_ops(keras_flatbuffers[mode])
    gen, ours, ref = _compare(keras_flatbuffers[mode], tmp_path, 300)
    _assert_match(gen, ours, ref)
    ops = set(gen.ops)
    assert {"PAD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN", "SUM", "DEPTHWISE_CONV_2D", "ADD", "TRANSPOSE"} <= ops
    assert "SHAPE" not in ops and "RESHAPE" not in ops
    if mode == "float_io":
        assert {"QUANTIZE", "DEQUANTIZE"} <= ops


def test_generation_is_deterministic(keras_flatbuffers, tmp_path):
    from edgebench.firmware.codegen import generate
    a = generate(keras_flatbuffers["int8"], tmp_path / "a")
    b = generate(keras_flatbuffers["int8"], tmp_path / "b")
    for name in a.sources:
        assert (a.dir / name).read_bytes() == (b.dir / name).read_bytes(), name
