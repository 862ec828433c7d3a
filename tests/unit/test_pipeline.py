"""The orchestration without any framework: missing frameworks, run folders, results.json."""

import json

import pytest

import dataclasses

from edgebench import pipeline, registry
from edgebench.config import RunConfig
from edgebench.errors import UserError
from edgebench.pipeline import run as run_module


@pytest.fixture
def no_frameworks(monkeypatch):
    for name, p in registry.frameworks().items():
        monkeypatch.setitem(registry.FRAMEWORKS, name,
                            dataclasses.replace(p, target="edgebench.nothing:Nothing",
                                                modules=(f"edgebench_absent_{name}",)))


def test_missing_frameworks_are_skipped_with_install_hint(tmp_path, no_frameworks):
    cfg = RunConfig(limit_train=100, limit_test=50, epochs=1, out=tmp_path / "run")
    r = pipeline.Run(cfg).execute()
    assert r["status"] == "failed" and r["artifacts"] == []
    for t in r["trainings"]:
        assert t["status"] == "skipped"
        assert f"{t['framework']} is not installed" in t["error"] and "pip install 'edgebench[" in t["error"]
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["status"] == "failed" and saved["schema_version"] == 1
    md = (tmp_path / "run" / "report.md").read_text()
    assert "**JAX skipped**: jax is not installed" in md and "| TensorFlow | - | - | - (skipped) |" in md
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
    pipeline.Run(RunConfig(limit_train=10, limit_test=10, epochs=1, out=done)).execute()
    with pytest.raises(UserError, match="already holds an edgebench run"):
        pipeline.Run(RunConfig(limit_train=10, limit_test=10, out=done))
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserError, match="is a file"):
        pipeline.Run(RunConfig(limit_train=10, limit_test=10, out=f))


def test_bad_dataset_writes_nothing(tmp_path, no_frameworks):
    with pytest.raises(UserError, match="no such folder"):
        pipeline.Run(RunConfig(dataset=str(tmp_path / "absent"), out=tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_scratch_copy_of_the_data_is_removed_and_optional(tmp_path, no_frameworks, monkeypatch):
    """Children read the parent's decoded arrays from .work/data; the copy never outlives the run,
    and without room for it the run goes on (children then read the IDX files themselves)."""
    pipeline.Run(RunConfig(limit_train=100, limit_test=50, epochs=1, out=tmp_path / "a")).execute()
    assert not (tmp_path / "a" / ".work" / "data").exists()

    def full_disk(ds, folder):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_module.data, "save_arrays", full_disk)
    run = pipeline.Run(RunConfig(limit_train=100, limit_test=50, epochs=1, out=tmp_path / "b"))
    r = run.execute()
    assert run.data_cache is None and r["status"] == "failed"  # every framework absent: nothing ran
    assert "wall_time_breakdown_s" in r and not (tmp_path / "b" / ".work" / "data").exists()


# The whole pipeline on the NumPy reference backend: real child processes, real exports and
# verification, in seconds, without TensorFlow, PyTorch or JAX.
def _numpy_cfg(out, **kw):
    base = dict(frameworks=("numpy",), limit_train=640, limit_test=100, epochs=2, repeats=2, threads=1,
                latency_min_iters=20, latency_min_time_s=0.01, out=out)
    return RunConfig(**{**base, **kw})


def test_numpy_reference_runs_the_whole_pipeline(tmp_path):
    events = []
    r = pipeline.Run(_numpy_cfg(tmp_path / "run"), on_event=lambda label, ev: events.append((label, ev["event"]))).execute()
    assert r["status"] == "complete"
    (t,) = r["trainings"]
    assert t["framework"] == "numpy" and t["status"] == "ok" and [x["repeat"] for x in t["repeats"]] == [1, 2]
    assert t["timing"]["train_time_s"]["n"] == 2 and t["determinism"]["bit_identical_weights"] is True
    assert 0.1 < t["test_accuracy"] <= 1.0 and len(t["epochs"]) == 2
    arts = {(a["format"], a["precision"]): a for a in r["artifacts"]}
    assert set(arts) == {("npz", "float32"), ("npz", "float16")}
    assert arts[("npz", "float32")]["top1_agreement"] == 1.0 and arts[("npz", "float32")]["max_abs_diff"] < 1e-5
    assert all(a["status"] == "ok" and a["within_tolerance"] for a in arts.values())
    assert r["progress"]["done"] == ["speed_limit", "train:numpy:eager:r1", "train:numpy:eager:r2",
                                     "verify:numpy:npz:float32", "verify:numpy:npz:float16"]
    assert set(r["wall_time_breakdown_s"]) == {"speed limit (GEMM benchmarks)", "training, first repeat, with exports",
                                               "training, later repeats", "verification on runtimes",
                                               "results and reports"}
    assert ("numpy", "done") in events and ("numpy/npz-float16", "done") in events
    for name in ("report.md", "report.html", "artifacts.csv", "logs/train-numpy.log", "numpy/model.npz",
                 "inputs/batch_order.npy"):
        assert (tmp_path / "run" / name).exists(), name


def test_a_crashing_converter_and_a_failing_repeat_are_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_INJECT_FAULT", "export-numpy-npz-float16=crash,train-numpy-r2=raise")
    r = pipeline.Run(_numpy_cfg(tmp_path / "run")).execute()
    assert r["status"] == "partial"
    (t,) = r["trainings"]
    assert t["status"] == "ok" and t["repeats"][1] == {"repeat": 2, "status": "failed",
                                                       "error": "RuntimeError: fault injected into train-numpy-r2"}
    arts = {a["precision"]: a for a in r["artifacts"]}
    assert arts["float32"]["status"] == "ok" and arts["float32"]["top1_agreement"] == 1.0
    f16 = arts["float16"]
    assert f16["status"] == "failed" and f16["exit_code"] == -6 and "killed by signal 6" in f16["error"]
    # A failed export is not verified; its verify job is not recorded as done either.
    assert "verify:numpy:npz:float16" not in r["progress"]["done"]


def test_a_missing_runtime_skips_its_artifacts_with_an_install_hint(tmp_path, monkeypatch):
    npz = registry.runtimes()["npz"]
    monkeypatch.setitem(registry.RUNTIMES, "npz", dataclasses.replace(npz, modules=("edgebench_absent_npz",),
                                                                      extra="npz"))
    r = pipeline.Run(_numpy_cfg(tmp_path / "run", repeats=1)).execute()
    assert r["status"] == "partial" and r["trainings"][0]["status"] == "ok"
    for a in r["artifacts"]:
        assert a["status"] == "skipped"
        assert a["error"] == "runtime npz is not installed (module 'edgebench_absent_npz'; pip install 'edgebench[npz]')"


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
    with pytest.raises(KeyboardInterrupt):
        pipeline.Run(_numpy_cfg(out)).execute()
    r = results.load(out)
    assert r["status"] == "partial" and r["interrupted"] is True
    assert r["progress"]["done"] == ["speed_limit", "train:numpy:eager:r1", "train:numpy:eager:r2",
                                     "verify:numpy:npz:float32"]
    assert {a["precision"]: a["status"] for a in r["artifacts"]} == {"float32": "ok", "float16": "interrupted"}
    monkeypatch.setitem(handlers.HANDLERS, "verify", real_verify)
    trained = (out / "logs" / "train-numpy.log").stat().st_mtime_ns
    started = []
    r = pipeline.Run(_numpy_cfg(out), on_event=lambda label, ev: started.append(label) if ev["event"] == "start"
                     else None, resume=r).execute()
    assert r["status"] == "complete" and "interrupted" not in r and len(r["resumed_at"]) == 1
    assert started == ["numpy/npz-float16"]  # only what was left
    assert (out / "logs" / "train-numpy.log").stat().st_mtime_ns == trained
    assert [x["repeat"] for x in r["trainings"][0]["repeats"]] == [1, 2]
    assert r["progress"]["done"][-1] == "verify:numpy:npz:float16"


def test_resume_refuses_changed_inputs(tmp_path):
    from edgebench import results

    out = tmp_path / "run"
    pipeline.Run(_numpy_cfg(out, repeats=1, formats=())).execute()
    r = results.load(out)
    (out / "inputs" / "batch_order.npy").write_bytes(b"changed")
    with pytest.raises(UserError, match="batch_order.npy is missing or changed since the run started"):
        pipeline.Run(_numpy_cfg(out, repeats=1, formats=()), resume=r).execute()


def test_runs_written_before_progress_was_recorded_resume_from_their_markers():
    from edgebench.pipeline.store import done_jobs, forget_unfinished

    old = {"speed_limit": {}, "twin": {"status": "failed"},
           "trainings": [{"framework": "tensorflow", "mode": "eager", "status": "ok",
                          "repeats": [{"repeat": 1, "status": "ok"}, {"repeat": 2, "status": "failed"}]},
                         {"framework": "pytorch", "mode": "eager", "status": "interrupted", "repeats": []}],
           "artifacts": [{"framework": "tensorflow", "format": "tflite", "precision": "float32", "status": "ok",
                          "top1_agreement": 1.0, "microcontroller": {"runtime": "tflm", "status": "ok"}},
                         {"framework": "tensorflow", "format": "onnx", "precision": "float32", "status": "interrupted"},
                         {"framework": "tensorflow", "format": "tflite", "precision": "int8", "status": "ok",
                          "top1_agreement": 1.0, "microcontroller": {"runtime": "tflm"}},
                         {"framework": "pytorch", "format": "onnx", "precision": "float32", "status": "ok"}]}
    done = done_jobs(old, "eager")
    assert done == {"speed_limit", "train:tensorflow:eager:r1", "train:tensorflow:eager:r2",
                    "verify:tensorflow:tflite:float32", "microcontroller:tflm:tensorflow:tflite:float32",
                    "verify:tensorflow:tflite:int8"}  # the interrupted onnx export is verified again
    forget_unfinished(old, done, "eager")
    assert [t["framework"] for t in old["trainings"]] == ["tensorflow"]
    assert [(a["format"], a["precision"], a["status"]) for a in old["artifacts"]] == [
        ("tflite", "float32", "ok"), ("onnx", "float32", "ok"), ("tflite", "int8", "ok")]
    assert "microcontroller" not in old["artifacts"][2] and "microcontroller" in old["artifacts"][0]
