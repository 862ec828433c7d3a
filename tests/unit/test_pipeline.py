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
