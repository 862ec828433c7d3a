"""The orchestration's checks and bookkeeping that need no run: a bad data set is refused before
anything is written; old runs' progress markers (the whole pipeline runs in
tests/integration/test_pipeline.py)."""

import pytest

from edgebench import pipeline
from edgebench.config import RunConfig
from edgebench.errors import UserError


def test_bad_dataset_writes_nothing(tmp_path, no_frameworks):
    with pytest.raises(UserError, match="no such folder"):
        pipeline.Run(RunConfig(dataset=str(tmp_path / "absent"), out=tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_runs_written_before_progress_was_recorded_resume_from_their_markers():
    """Schema 1 before `progress` existed: the migration reads the finished jobs from the entries'
    markers, and a resume forgets what was cut short."""
    from edgebench.pipeline.store import forget_unfinished
    from edgebench.results.migrate import migrate
    from edgebench.results.schema import RunResults

    def art(fw, fmt, prec, status, **more):
        return {"framework": fw, "format": fmt, "precision": prec, "status": status,
                "runtime": "litert" if fmt == "tflite" else "onnxruntime", "file": f"{fw}/model.{fmt}", **more}

    old = {"schema_version": 1, "speed_limit": {}, "twin": {"status": "failed"},
           "trainings": [{"framework": "tensorflow", "mode": "eager", "status": "ok",
                          "repeats": [{"repeat": 1, "status": "ok"}, {"repeat": 2, "status": "failed"}]},
                         {"framework": "pytorch", "mode": "eager", "status": "interrupted", "repeats": []}],
           "artifacts": [art("tensorflow", "tflite", "float32", "ok", top1_agreement=1.0,
                             microcontroller={"runtime": "tflm", "status": "ok"}),
                         art("tensorflow", "onnx", "float32", "interrupted"),
                         art("tensorflow", "tflite", "int8", "ok", top1_agreement=1.0,
                             microcontroller={"runtime": "tflm"}),
                         art("pytorch", "onnx", "float32", "ok")]}
    r = RunResults.model_validate(migrate(old))
    done = set(r.progress.done)
    assert done == {"speed_limit", "train:tensorflow:eager:r1", "train:tensorflow:eager:r2",
                    "verify:tensorflow:tflite:float32", "microcontroller:tflm:tensorflow:tflite:float32",
                    "verify:tensorflow:tflite:int8"}  # the interrupted onnx export is verified again
    forget_unfinished(r, done, "eager")
    assert [t.framework for t in r.trainings] == ["tensorflow"]
    assert [(a.format, a.precision, a.status) for a in r.artifacts] == [
        ("tflite", "float32", "ok"), ("onnx", "float32", "ok"), ("tflite", "int8", "ok")]
    # The unfinished microcontroller check is dropped (it runs again), the finished one kept.
    assert r.artifacts[2].microcontroller_results() == [] and r.artifacts[0].result("tflm").status == "ok"
