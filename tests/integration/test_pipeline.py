"""The orchestration without any framework: missing frameworks, run folders, results.json."""

import dataclasses
import json
import shutil

import numpy as np
import pytest

from edgebench import data, pipeline, registry
from edgebench.config import RunConfig
from edgebench.errors import UserError
from edgebench.pipeline import run as run_module
from edgebench.report import write_reports
from tests.results_view import host


def _run(cfg, **kw) -> dict:
    """A run through the pipeline, its reports written, returned as its results.json document."""
    return pipeline.Run(cfg, writer=write_reports, **kw).execute().model_dump(mode="json")


_host = host


@pytest.fixture(autouse=True)
def quick_speed_limit(monkeypatch):
    """The GEMM benchmarks time themselves for 1.5 s by default: a tenth of that tests the same code."""
    import functools

    from edgebench.measure import speed

    monkeypatch.setattr(speed, "gemm_peak", functools.partial(speed.gemm_peak, n=256, min_time_s=0.05))
    monkeypatch.setattr(speed, "step_gemm_time", functools.partial(speed.step_gemm_time, min_time_s=0.05))


def test_missing_frameworks_are_skipped_with_install_hint(tmp_path, no_frameworks):
    cfg = RunConfig(limit_train=100, limit_test=50, epochs=1, out=tmp_path / "run")
    r = _run(cfg)
    assert r["status"] == "failed" and r["artifacts"] == []
    for t in r["trainings"]:
        assert t["status"] == "skipped"
        assert f"{t['framework']} is not installed" in t["error"] and "pip install 'edgebench[" in t["error"]
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["status"] == "failed" and saved["schema_version"] == 2
    md = (tmp_path / "run" / "report.md").read_text()
    assert "**JAX skipped**: jax is not installed" in md and "| TensorFlow | - | - | - | - (skipped) |" in md
    # The shared inputs were written once, with their checksums recorded.
    fair = saved["fairness"]
    assert fair["batch_order"]["shape"] == [1, 100] and len(fair["initial_weights"]["sha256"]) == 64
    assert fair["calibration"]["samples"] == 100


def test_run_folder_is_never_overwritten(tmp_path, no_frameworks):
    occupied = tmp_path / "mine"
    occupied.mkdir()
    (occupied / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="exists, is not empty and is not an edgebench run"):
        pipeline.Run(RunConfig(limit_train=10, limit_test=10, out=occupied))
    assert (occupied / "thesis.tex").read_text() == "precious"
    done = tmp_path / "done"
    _run(RunConfig(limit_train=10, limit_test=10, epochs=1, out=done))
    with pytest.raises(UserError, match="already holds an edgebench run"):
        pipeline.Run(RunConfig(limit_train=10, limit_test=10, out=done))
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserError, match="is a file"):
        pipeline.Run(RunConfig(limit_train=10, limit_test=10, out=f))


def test_scratch_copy_of_the_data_is_removed_and_optional(tmp_path, no_frameworks, monkeypatch):
    """Children read the parent's decoded arrays from .work/data; the copy never outlives the run,
    and without room for it the run goes on (children then read the IDX files themselves)."""
    run = pipeline.Run(RunConfig(limit_train=100, limit_test=50, epochs=1, out=tmp_path / "a"))
    run.execute()
    assert run.data_cache == tmp_path / "a" / ".work" / "data" and not run.data_cache.exists()

    def full_disk(ds, folder):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_module.data, "save_arrays", full_disk)
    run = pipeline.Run(RunConfig(limit_train=100, limit_test=50, epochs=1, out=tmp_path / "b"))
    r = run.execute()
    assert run.data_cache is None and r.status == "failed"  # every framework absent: nothing ran
    assert r.wall_time_breakdown_s


# The whole pipeline on the NumPy reference backend: real child processes, real exports and
# verification, in seconds, without TensorFlow, PyTorch or JAX.
def _numpy_cfg(out, **kw):
    # rerun_busy=0: these tests check the run's structure, which a busy repeat run again would change
    # (tests/timing/test_load.py runs busy repeats again on purpose).
    base = dict(frameworks=("numpy",), limit_train=640, limit_test=100, epochs=2, repeats=2, warmup=0, threads=1,
                latency_min_iters=20, latency_min_time_s=0.01, rerun_busy=0, out=out)
    return RunConfig(**{**base, **kw})


def test_numpy_reference_runs_the_whole_pipeline(tmp_path):
    events = []
    r = _run(_numpy_cfg(tmp_path / "run"), on_event=lambda label, ev: events.append((label, ev["event"])))
    assert r["status"] == "complete"
    (t,) = r["trainings"]
    assert t["framework"] == "numpy" and t["status"] == "ok" and [x["repeat"] for x in t["repeats"]] == [1, 2]
    assert t["timing"]["train_time_s"]["n"] == 2 and t["determinism"]["bit_identical_weights"] is True
    logits = np.load(tmp_path / "run" / "numpy" / "test_logits.npy")
    labels = data.load("mnist", limit_test=100, splits=("test",)).y_test
    assert t["test_accuracy"] == float(np.mean(logits.argmax(1) == labels)) > 0.7 and len(t["epochs"]) == 2
    arts = {(a["format"], a["precision"]): a for a in r["artifacts"]}
    assert set(arts) == {("npz", "float32"), ("npz", "float16")}
    f32 = _host(arts[("npz", "float32")])
    assert f32["agreement"] == 1.0 and f32["max_abs_diff"] < 1e-5
    assert all(a["status"] == "ok" and _host(a)["within_tolerance"] for a in arts.values())
    # Overlapping children (--parallel 2) finish in either order; the plan's order starts them.
    assert r["progress"]["done"][:2] == ["speed_limit", "train:numpy:eager:r1"]
    assert sorted(r["progress"]["done"]) == sorted(["speed_limit", "train:numpy:eager:r1", "train:numpy:eager:r2",
                                                    "verify:numpy:npz:float32", "verify:numpy:npz:float16"])
    assert set(r["wall_time_breakdown_s"]) == {"speed limit (GEMM benchmarks)", "training, first repeat, with exports",
                                               "training, later repeats", "verification on runtimes",
                                               "results and reports"}
    assert ("numpy", "done") in events and ("numpy/npz-float16", "done") in events
    for name in ("report.md", "report.html", "artifacts.csv", "logs/train-numpy.log", "numpy/model.npz",
                 "inputs/batch_order.npy"):
        assert (tmp_path / "run" / name).exists(), name


def test_a_crashing_converter_and_a_failing_repeat_are_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_INJECT_FAULT", "export-numpy-npz-float16=crash,train-numpy-r2=raise")
    r = _run(_numpy_cfg(tmp_path / "run"))
    assert r["status"] == "partial"
    (t,) = r["trainings"]
    failed = {k: v for k, v in t["repeats"][1].items() if v not in (None, False)}  # unset fields are null
    assert t["status"] == "ok" and failed == {"repeat": 2, "status": "failed", "attempt": 1,
                                              "error": "RuntimeError: fault injected into train-numpy-r2"}
    arts = {a["precision"]: a for a in r["artifacts"]}
    assert arts["float32"]["status"] == "ok" and _host(arts["float32"])["agreement"] == 1.0
    f16 = arts["float16"]
    assert f16["status"] == "failed" and f16["exit_code"] == -6 and "killed by signal 6" in f16["error"]
    # A failed export is not verified; its verify job is not recorded as done either.
    assert "verify:numpy:npz:float16" not in r["progress"]["done"]


def test_a_missing_runtime_skips_its_artifacts_with_an_install_hint(tmp_path, monkeypatch):
    npz = registry.runtimes()["npz"]
    monkeypatch.setitem(registry.RUNTIMES, "npz", dataclasses.replace(npz, modules=("edgebench_absent_npz",),
                                                                      extra="npz"))
    r = _run(_numpy_cfg(tmp_path / "run", repeats=1))
    assert r["status"] == "partial" and r["trainings"][0]["status"] == "ok"
    assert [a["precision"] for a in r["artifacts"]] == ["float32", "float16"]
    for a in r["artifacts"]:
        assert a["status"] == "skipped"
        assert a["error"] == "runtime npz is not installed (module 'edgebench_absent_npz'; pip install 'edgebench[npz]')"
        (res,) = a["results"]  # the runtime's own entry says so too
        assert res["runtime"] == "npz" and res["status"] == "skipped" and res["error"] == a["error"]


def test_an_interrupted_run_resumes_without_redoing_finished_work(tmp_path, monkeypatch):
    from edgebench import results
    from edgebench.pipeline import handlers

    real_verify = handlers.HANDLERS["verify"]
    calls = {"verify": 0}

    def interrupt_second_verify(run, job):
        calls["verify"] += 1
        if calls["verify"] == 2:
            raise KeyboardInterrupt
        return real_verify(run, job)

    monkeypatch.setitem(handlers.HANDLERS, "verify", interrupt_second_verify)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):  # one child at a time: which jobs finished is then fixed
        _run(_numpy_cfg(out, parallel=1))
    r = results.load(out)
    assert r.status == "partial" and r.interrupted is True
    # The artifacts' jobs come before the later repeats (pipeline/plan.py).
    assert r.progress.done == ["speed_limit", "train:numpy:eager:r1", "verify:numpy:npz:float32"]
    assert {a.precision: a.status for a in r.artifacts} == {"float32": "ok", "float16": "interrupted"}
    monkeypatch.setitem(handlers.HANDLERS, "verify", real_verify)
    trained = (out / "logs" / "train-numpy.log").stat().st_mtime_ns
    started = []
    r = _run(_numpy_cfg(out, parallel=1), on_event=lambda label, ev: started.append(label)
             if ev["event"] == "start" else None, resume=r)
    assert r["status"] == "complete" and r["interrupted"] is None and len(r["resumed_at"]) == 1
    assert started == ["numpy/npz-float16", "numpy (repeat 2)"]  # only what was left
    assert (out / "logs" / "train-numpy.log").stat().st_mtime_ns == trained
    assert [x["repeat"] for x in r["trainings"][0]["repeats"]] == [1, 2]
    assert r["progress"]["done"][-2:] == ["verify:numpy:npz:float16", "train:numpy:eager:r2"]


def test_resume_refuses_changed_inputs(tmp_path):
    from edgebench import results

    out = tmp_path / "run"
    _run(_numpy_cfg(out, repeats=1, formats=()))
    r = results.load(out)
    (out / "inputs" / "batch_order.npy").write_bytes(b"changed")
    with pytest.raises(UserError, match="batch_order.npy is missing or changed since the run started"):
        _run(_numpy_cfg(out, repeats=1, formats=()), resume=r)


REFERENCE_PLUGIN = '''
"""A second NumPy framework (to twin with the first, with a known difference) and a
microcontroller runtime for .npz files, added through the registries alone."""
import dataclasses
from pathlib import Path

import numpy as np

from edgebench.frameworks.numpy_ref import NumpyAdapter
from edgebench.registry import MICROCONTROLLER, Framework, Runtime, register


class FasterNumpy(NumpyAdapter):
    """The reference with a learning rate 1% higher: every update is 1.01 times the reference's."""

    def train(self, model, data, order, batch_size, optimizer, *args, **kwargs):
        faster = dataclasses.replace(optimizer, learning_rate=optimizer.learning_rate * 1.01)
        return super().train(model, data, order, batch_size, faster, *args, **kwargs)


register(Framework("numpy2", "edgebench_refmicro:FasterNumpy", ("numpy",), "", title="NumPy again",
                   default=False))
register(Runtime("refmicro", "edgebench.runtimes.npz:NpzSession", ("numpy",), "", title="Reference micro",
                 formats=("npz",), capabilities=frozenset({MICROCONTROLLER}), check="edgebench_refmicro:check",
                 reference_runtime="npz"))


def check(task, ds):
    from edgebench.exporters import c_array
    from edgebench.measure import boards
    from edgebench.pipeline.jobs import Outcome
    from edgebench.runtimes.npz import NpzSession

    session = NpzSession(Path(task.file))
    logits = session.predict(ds.x_test)
    ref = np.load(task.reference_logits)
    import math

    net = session.network
    arena = 4 * max(math.prod(n.in_shape) + math.prod(n.out_shape) for n in net.nodes)  # input and output alive
    widths = [net.input_size, net.num_classes]
    model = Path(task.file).read_bytes()
    io = {"input": {"dtype": "float32", "shape": [1, widths[0]], "bytes": 4 * widths[0]},
          "output": {"dtype": "float32", "shape": [1, widths[-1]], "bytes": 4 * widths[-1]}}
    info = c_array.write(model, Path(task.c_dir), source_name=Path(task.file).name, arena_bytes=arena, io=io)
    info.update(c_array.compile_check(Path(task.c_dir), model), dir=str(Path(task.c_dir).relative_to(task.run_dir)))
    pred, rpred = logits.argmax(1), ref.argmax(1)
    acc, racc = float(np.mean(pred == ds.y_test)), float(np.mean(rpred == ds.y_test))
    return Outcome("ok", record={
        "runtime_version": "0.1", "flash_bytes": len(model), "ram_bytes": arena, "arena_minus_one_fails": True,
        "io": io, "test_samples": len(ds.y_test), "test_accuracy": acc,
        "reference_test_accuracy": racc, "accuracy_change": acc - racc,
        "agreement": float(np.mean(pred == rpred)),
        "max_abs_diff": float(np.abs(logits - ref).max()), "c_array": info,
        "fit": [boards.fit(boards.Board(**b), len(model), arena) for b in task.boards]})
'''


@pytest.fixture
def reference_plugin(tmp_path, monkeypatch):
    """The plug-in above, loaded here and (through PYTHONPATH and its entry point) in every child."""
    import importlib
    import sys

    from tests.plugin_site import install

    env = install(tmp_path / "site", "edgebench_refmicro", REFERENCE_PLUGIN)
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    registry.load_all()  # the built-ins first, into the real registries
    for name in ("FRAMEWORKS", "RUNTIMES", "EXPORTERS"):  # what the plug-in adds is undone after the test
        monkeypatch.setattr(registry, name, dict(getattr(registry, name)))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sys.modules.pop("edgebench_refmicro", None)
    importlib.import_module("edgebench_refmicro")
    yield
    sys.modules.pop("edgebench_refmicro", None)


def test_twin_modes_and_a_second_microcontroller_runtime(tmp_path, reference_plugin):
    """Two frameworks twinned, both modes compared, and a microcontroller runtime that a plug-in
    added, scheduled by its capability. The twin is the reference against itself with a 1% higher
    learning rate, so the difference it must report is known (a twin of the reference with itself
    would report 0 even if it compared a framework's weights with their own copy)."""
    cfg = _numpy_cfg(tmp_path / "run", frameworks=("numpy", "numpy2"), modes=("eager", "compiled"), twin=True,
                     twin_steps=(1, 5), formats=("numpy:npz:float32",), boards=("kit:64:8",))
    r = _run(cfg)
    assert r["status"] == "complete", [(t["framework"], t["status"], t["error"]) for t in r["trainings"]]
    assert r["twin"]["status"] == "ok"
    (pair,) = r["twin"]["pairs"]
    assert pair["pair"] == ["numpy", "numpy2"] and [p["at"] for p in pair["points"]] == ["step 1", "step 5", "end"]
    step1, _, end = pair["points"]
    # After one step each weight moved by d and 1.01 d: the twin sees 0.01 d where the larger moved
    # 1.01 d, up to float32 rounding of weights ~0.1 against 0.01 d ~1e-5 (seen: 0.14% off).
    assert step1["max_abs_weight_diff"] == pytest.approx(step1["max_abs_weight_change_from_init"] * 0.01 / 1.01,
                                                         rel=0.01)
    # At the end: the difference of the two frameworks' own saved weights, grown since step 1.
    saved = [np.load(tmp_path / "run" / fw / "final_weights.npz") for fw in ("numpy", "numpy2")]
    want = max(float(np.abs(saved[0][k].astype(np.float64) - saved[1][k]).max()) for k in saved[0].files)
    assert end["max_abs_weight_diff"] == pytest.approx(want, rel=1e-12) and want > step1["max_abs_weight_diff"]
    kinds = {(c["a"], c["a_mode"], c["b"], c["b_mode"]) for c in r["timing_comparisons"]}
    assert ("numpy", "eager", "numpy", "compiled") in kinds and ("numpy", "eager", "numpy2", "eager") in kinds
    (art,) = r["artifacts"]
    (m,) = [x for x in art["results"] if x["role"] == "microcontroller"]
    assert m["runtime"] == "refmicro" and m["status"] == "ok" and m["agreement"] == 1.0 and m["reference"] == "npz"
    assert m["flash_bytes"] == (tmp_path / "run" / art["file"]).stat().st_size  # it checked the export itself
    # What only this runtime records is kept as its own, under details.
    assert m["details"]["c_array"]["compiles"] is (True if shutil.which("cc") else None)
    assert m["details"]["arena_minus_one_fails"] is True
    assert [f["board"] for f in m["fit"]][-1] == "kit"
    assert "microcontroller:refmicro:numpy:npz:float32" in r["progress"]["done"]
    assert "Reference micro" in r["wall_time_breakdown_s"]
    assert (tmp_path / "run" / "twin.md").exists() and (tmp_path / "run" / "numpy" / "mcu" / "model").is_dir()


def test_a_failed_training_leaves_its_exports_unverified(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_INJECT_FAULT", "train-numpy=raise")
    r = _run(_numpy_cfg(tmp_path / "run", repeats=2))
    (t,) = r["trainings"]
    assert r["status"] == "failed" and t["status"] == "failed"
    assert t["error"] == "RuntimeError: fault injected into train-numpy" and t["exit_code"] == 1
    assert r["artifacts"] == [] and r["progress"]["done"] == ["speed_limit", "train:numpy:eager:r1"]
