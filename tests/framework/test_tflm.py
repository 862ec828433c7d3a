"""TensorFlow Lite Micro on LeNet-5: minimum arena, the ops the firmware must register,
unsupported formats, parity with LiteRT, and the whole microcontroller check."""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from edgebench.exporters import ExportContext
from edgebench.models import zoo
from tests.conftest import needs_tf, needs_tflm
from tests.framework.nets import trained_like

pytestmark = [pytest.mark.framework, needs_tf, needs_tflm]
NET = zoo.lenet5((28, 28, 1), 10)
LENET_OPS = ["CONV_2D", "MAX_POOL_2D", "SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE", "FULLY_CONNECTED"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from edgebench.exporters import tflite
    from edgebench.frameworks.tensorflow import TensorFlowAdapter

    d = tmp_path_factory.mktemp("tflm")
    tf = TensorFlowAdapter(1)
    model = tf.build(NET, trained_like(NET))
    ctx = ExportContext(NET, np.random.default_rng(0).random((100, *NET.input_shape), dtype=np.float32))
    out = {}
    for name, fn in (("float32", tflite.from_keras), ("float16", tflite.from_keras_float16),
                     ("int8-dynamic", tflite.from_keras_dynamic_int8), ("int8", tflite.from_keras_int8)):
        out[name] = d / f"{name}.tflite"
        fn(model, out[name], ctx)
    return out


def _x(n=50):
    return np.random.default_rng(5).random((n, *NET.input_shape), dtype=np.float32)


def test_int8_minimum_arena_is_bisected_and_matches_the_report(models):
    from edgebench.runtimes import tflm
    from edgebench.runtimes.litert import LiteRTSession

    model = models["int8"].read_bytes()
    sample = np.zeros((1, *NET.input_shape), np.int8)
    arena = tflm.min_arena(model, sample, upper=10 * len(model))
    # Bracketed from TFLM's printed total (what the worker does), the answer is the same.
    hint = tflm.reported_arena(model, 10 * len(model), sample)
    assert tflm.min_arena(model, sample, upper=10 * len(model), hint=hint) == arena
    assert tflm.probe(model, arena, sample).ok
    assert not tflm.probe(model, arena - 1, sample).ok  # one byte less fails
    reported = tflm.reported_arena(model, arena, sample)
    assert 0 < reported <= arena
    assert 8_000 < arena < 14_000  # about 10.6 KB for LeNet-5 int8 (../shared/notes/models.md)
    session = tflm.TFLMSession(models["int8"], arena_size=arena)
    assert session.io["input"]["dtype"] == "int8" and session.io["input"]["bytes"] == 28 * 28
    assert session.io["input"]["layout"] == "NHWC" and session.io["input"]["shape"] == [1, 28, 28, 1]
    x = _x()
    got = session.predict(x)
    ref = LiteRTSession(models["int8"]).predict(x)
    # Same int8 kernels' arithmetic: at most one output quantization step apart.
    assert np.abs(got - ref).max() <= session.io["output"]["scale"] * 1.001
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.98
    np.testing.assert_array_equal(session.predict(x.reshape(len(x), -1)), got)  # flat rows are shaped too


def test_float32_runs_and_matches_litert(models):
    from edgebench.runtimes import tflm
    from edgebench.runtimes.litert import LiteRTSession

    session = tflm.TFLMSession(models["float32"])
    x = _x()
    np.testing.assert_allclose(session.predict(x), LiteRTSession(models["float32"]).predict(x), atol=1e-5)
    model = models["float32"].read_bytes()
    arena = tflm.min_arena(model, x[:1], upper=10 * len(model))
    assert tflm.probe(model, arena, x[:1]).ok and not tflm.probe(model, arena - 1, x[:1]).ok
    assert 20_000 < arena < 32_000  # about 26.5 KB for LeNet-5 float32


def test_the_ops_are_read_from_the_model_and_listed_for_the_resolver(models, tmp_path):
    from edgebench.exporters import c_array

    for name in ("float32", "int8"):
        model = models[name].read_bytes()
        ops = c_array.model_ops(model)
        assert ops == LENET_OPS, (name, ops)
        info = c_array.write(model, tmp_path / name, source_name=f"{name}.tflite", arena_bytes=10_000, ops=ops)
        readme = (tmp_path / name / "README.md").read_text()
        for line in ("static tflite::MicroMutableOpResolver<7> resolver;", "resolver.AddConv2D();",
                     "resolver.AddMaxPool2D();", "resolver.AddShape();", "resolver.AddStridedSlice();",
                     "resolver.AddPack();", "resolver.AddReshape();", "resolver.AddFullyConnected();"):
            assert line in readme, (name, line)
        assert info["resolver"][1:] == [f"resolver.Add{c_array.RESOLVER[op]}();" for op in LENET_OPS]
    assert c_array.model_ops(models["float16"].read_bytes())[0] == "DEQUANTIZE"


def test_float16_and_hybrid_int8_are_reported_unsupported_with_tflm_reason(models):
    from edgebench.runtimes import tflm

    p = tflm.probe(models["float16"].read_bytes(), None, _x(1))
    assert not p.ok and "DEQUANTIZE" in p.reason()
    p = tflm.probe(models["int8-dynamic"].read_bytes(), None, _x(1))
    assert not p.ok and "Hybrid models are not supported" in p.reason()


def test_a_too_small_arena_is_a_no_not_a_crash(models):
    from edgebench.runtimes import tflm

    # TFLM's wrapper segfaults on some tiny arenas: the forked probe turns that into False.
    for size in (16, 100, 1000):
        assert not tflm.probe(models["int8"].read_bytes(), size, np.zeros((1, *NET.input_shape), np.int8)).ok


def test_microcontroller_check_records_ops_layout_and_firmware_files(models, tmp_path, capsys):
    from edgebench.measure.boards import BOARDS
    from edgebench.runtimes import tflm
    from edgebench.runtimes.litert import LiteRTSession

    rng = np.random.default_rng(7)
    ds = SimpleNamespace(x_test=rng.random((20, 28 * 28), dtype=np.float32),  # flat, as a data set file gives
                         y_test=rng.integers(0, 10, 20))
    np.save(tmp_path / "litert.npy", LiteRTSession(models["int8"]).predict(ds.x_test.reshape(20, 28, 28, 1)))
    task = SimpleNamespace(file=str(models["int8"]), input_shape=NET.input_shape,
                           reference_logits=str(tmp_path / "litert.npy"), run_dir=str(tmp_path),
                           c_dir=str(tmp_path / "c"), bench=SimpleNamespace(min_iters=5, min_time_s=0.02),
                           boards=tuple(vars(b) for b in BOARDS[:2]))
    outcome = tflm.microcontroller_check(task, ds)
    capsys.readouterr()  # the worker's progress events
    r = outcome.record
    assert outcome.status == "ok", r
    assert r["ops"] == LENET_OPS
    assert r["io"]["input"]["layout"] == "NHWC"
    assert r["agreement"] >= 0.95 and r["arena_minus_one_fails"]
    assert r["c_array"]["round_trip_ok"] and "resolver.AddConv2D();" in (tmp_path / "c" / "README.md").read_text()
    if shutil.which("cc") or shutil.which("gcc"):
        assert r["c_array"]["compiles"] and r["c_array"]["bytes_match"]
    json.dumps(r)  # goes into results.json as it is
    # The float16 file is unsupported, with TFLM's reason and the ops it would have needed.
    task16 = SimpleNamespace(**{**vars(task), "file": str(models["float16"])})
    out16 = tflm.microcontroller_check(task16, ds)
    assert out16.status == "unsupported" and "DEQUANTIZE" in out16.record["error"]
    assert out16.record["ops"][0] == "DEQUANTIZE"


def test_arena_probes_never_fork_the_calling_process(models, monkeypatch):
    """The caller may run threads (JAX, TensorFlow, BLAS pools): a fork from it can deadlock. The
    probes come from a single-threaded forkserver, so a threaded caller whose os.fork is unusable
    still gets its arena."""
    import os
    import threading

    from edgebench.runtimes import tflm

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)
    worker.start()

    def no_fork():
        raise AssertionError("os.fork() called in a process that runs threads")

    monkeypatch.setattr(os, "fork", no_fork)
    try:
        model = models["int8"].read_bytes()
        sample = np.zeros((1, *NET.input_shape), np.int8)
        arena = tflm.min_arena(model, sample, upper=10 * len(model))
        assert 8_000 < arena < 14_000 and not tflm.probe(model, arena - 1, sample).ok
    finally:
        stop.set()
