"""`edgebench deploy`'s parts that need no framework: sniffing a model file, the .npz data set,
the plan, the Keras config scan."""

import json
import pickle
import zipfile

import numpy as np
import pytest

from edgebench import data
from edgebench.config import DeployConfig
from edgebench.errors import DataError
from edgebench.pipeline.deploy import plan_deploy
from edgebench.sources import SourceError, exporters_for, fit_input, image_shape_of, input_facts, sniff
from edgebench.sources.keras import _scan_config


class Payload:
    """Unpickling this would create a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_sniff_kinds(tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 32)
    assert sniff(tmp_path / "m.tflite") == "tflite"
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as z:
        z.writestr("config.json", "{}")
    assert sniff(tmp_path / "m.keras") == "keras"
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"x")
    assert sniff(tmp_path / "sm") == "savedmodel"
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    assert sniff(tmp_path / "m.onnx") == "onnx"


@pytest.mark.parametrize("name, content, words", [
    ("model.pt", None, ["pickle", "never unpickles", "torch.export.save"]),
    ("model.pth", None, ["pickle", ".pt2"]),
    ("model.h5", b"\x89HDF", ["HDF5", ".keras"]),
    ("model.txt", b"hello", ["unknown model file extension '.txt'"]),
    ("empty.onnx", b"", ["empty"]),
    ("trunc.keras", b"PK\x03\x04\x14\x00", ["truncated or corrupt"]),
    ("notzip.pt2", b"\x80\x04\x95 not a zip", ["zip archive"]),
    ("bad.tflite", b"\x00" * 64, ["TFL3"]),
])
def test_sniff_refuses(tmp_path, name, content, words):
    path = tmp_path / name
    if content is None:  # a real pickle whose loading would create a file
        path.write_bytes(pickle.dumps(Payload(str(tmp_path / "pwned"))))
    else:
        path.write_bytes(content)
    with pytest.raises(SourceError) as e:
        sniff(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    for w in words:
        assert w in msg
    assert not (tmp_path / "pwned").exists()


def test_sniff_folder_and_missing(tmp_path):
    with pytest.raises(SourceError, match="not a TensorFlow SavedModel"):
        sniff(tmp_path)
    with pytest.raises(SourceError, match="no such file"):
        sniff(tmp_path / "nothing.onnx")


def test_torch_save_archive_named_pt2_is_refused(tmp_path):
    path = tmp_path / "model.pt2"
    with zipfile.ZipFile(path, "w") as z:  # the layout torch.save writes
        z.writestr("archive/data.pkl", pickle.dumps(Payload(str(tmp_path / "pwned"))))
        z.writestr("archive/version", "3")
    with pytest.raises(SourceError, match="torch.save pickle archive"):
        sniff(path)
    assert not (tmp_path / "pwned").exists()


def test_keras_config_scan():
    ok = {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "activation": "relu"},
         "registered_name": None}]}}
    _scan_config(ok, "m.keras")
    lam = json.loads(json.dumps(ok))
    lam["config"]["layers"].append({"module": "keras.layers", "class_name": "Lambda",
                                    "config": {"name": "evil", "function": {"class_name": "__lambda__"}}})
    with pytest.raises(SourceError, match="layer 'evil' is a Lambda layer"):
        _scan_config(lam, "m.keras")
    foreign = json.loads(json.dumps(ok))
    foreign["config"]["layers"][0]["module"] = "subprocess"
    foreign["config"]["layers"][0]["class_name"] = "Popen"
    with pytest.raises(SourceError, match="from module 'subprocess'"):
        _scan_config(foreign, "m.keras")
    custom = json.loads(json.dumps(ok))
    custom["config"]["layers"][0]["registered_name"] = "MyLayer"
    with pytest.raises(SourceError, match="custom object 'MyLayer'"):
        _scan_config(custom, "m.keras")


def test_input_facts_and_fit(tmp_path):
    nchw = input_facts("x", [-1, 1, 28, 28], "float32", tmp_path / "m")
    assert nchw["layout"] == "NCHW" and image_shape_of({"input": nchw}) == (28, 28, 1)
    fit_input({**{"input": nchw}, "file": "m"}, (28, 28, 1), "mnist")
    flat = input_facts("x", [-1, 784], "float32", tmp_path / "m")
    fit_input({"input": flat, "file": "m"}, (28, 28, 1), "mnist")
    rgb = input_facts("x", [-1, 32, 32, 3], "float32", tmp_path / "m")
    with pytest.raises(SourceError) as e:
        fit_input({"input": rgb, "file": "m.keras"}, (28, 28, 1), "--dataset mnist")
    assert "[-1, 32, 32, 3] (NHWC)" in str(e.value) and "28x28x1" in str(e.value)
    with pytest.raises(SourceError, match="not an image"):
        input_facts("ids", [-1, 16], "int32", tmp_path / "m")
    with pytest.raises(SourceError, match="not a batch of images"):
        input_facts("x", [-1, 2, 3, 4, 5], "float32", tmp_path / "m")


def test_npz_dataset(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_test=x, y_test=np.arange(20) % 10, x_calib=x[:5])
    ds = data.load_any(str(tmp_path / "d.npz"), limit_test=12)
    assert ds.image_shape == (28, 28, 1) and ds.x_test.shape == (12, 784) and ds.num_classes == 10
    assert ds.x_train.shape == (5, 784) and ds.x_test.max() <= 1.0
    np.savez(tmp_path / "nolabels.npz", x_test=x.astype(np.float32) / 255)
    ds = data.load_any(str(tmp_path / "nolabels.npz"))
    assert len(ds.y_test) == 0 and len(ds.x_train) == 0
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(DataError, match="no x_test"):
        data.load_any(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "obj.npz", x_test=np.array([object()], dtype=object))
    with pytest.raises(DataError) as e:
        data.load_any(str(tmp_path / "obj.npz"))
    assert "\n" not in str(e.value)
    np.savez(tmp_path / "badlabels.npz", x_test=x, y_test=np.arange(3))
    with pytest.raises(DataError, match="y_test must be 20"):
        data.load_any(str(tmp_path / "badlabels.npz"))


def test_plan_deploy_matches_run_deployment_jobs():
    from edgebench import registry

    cfg = DeployConfig(model="m.keras")
    jobs = plan_deploy(cfg, "tensorflow", registry.exporters_for("tensorflow"))
    assert jobs[0].id == "source" and all(j.needs for j in jobs[1:])
    verify = [j for j in jobs if j.kind == "verify"]
    # Every export but the opt-in ones (ONNX's per-tensor int8, made only when --formats names it).
    assert [j.artifact for j in verify] == [e.key for e in registry.exporters_for("tensorflow") if not e.opt_in]
    named = plan_deploy(DeployConfig(model="m.keras", formats=("onnx:int8-static-per-tensor",)), "tensorflow",
                        registry.exporters_for("tensorflow"))
    assert [j.artifact for j in named if j.kind == "verify"] == [("tensorflow", "onnx", "int8-static-per-tensor")]
    micro = [j for j in jobs if j.kind == "microcontroller"]
    assert {j.artifact[1:] for j in micro} == {("tflite", "float32"), ("tflite", "float16"),
                                              ("tflite", "int8-dynamic"), ("tflite", "int8")}
    only = plan_deploy(DeployConfig(model="m.keras", formats=("onnx",), microcontroller=False), "tensorflow",
                       registry.exporters_for("tensorflow"))
    assert [j.artifact[1] for j in only[1:]] == ["onnx"] * 3


def test_file_sources_export_themselves():
    tfl = exporters_for("tflite", {"precision": "int8"})
    assert [e.key for e in tfl] == [("tflite", "tflite", "int8")] and not tfl[0].calibrated
    assert tfl[0].runtime == "litert"
    onnx = exporters_for("onnx", {"precision": "float32"})
    assert [e.key for e in onnx] == [("onnx", "onnx", "float32"), ("onnx", "onnx", "int8-static"),
                                     ("onnx", "onnx", "int8-static-per-tensor"), ("onnx", "onnx", "int8-dynamic")]
    assert [e.opt_in for e in onnx] == [False, False, True, False]
    assert [e.key for e in exporters_for("onnx", {"precision": "int8-static"})] == [("onnx", "onnx", "int8-static")]


def _deploy_results(labelled: bool) -> dict:
    acc = 0.97 if labelled else None
    art = {"framework": "tflite", "format": "tflite", "precision": "int8", "runtime": "litert", "status": "ok",
           "file": "tflite/model_int8.tflite", "size_bytes": 12000, "test_accuracy": acc, "source_test_accuracy": acc,
           "accuracy_change": 0.0 if labelled else None, "top1_agreement": 1.0, "disagreements": 0,
           "max_abs_diff": 0.0, "within_tolerance": True, "latency_ms": {"p50": 0.01, "p99": 0.02},
           "tolerance": {"max_abs_diff": None, "max_diff_of_range": 0.07, "min_agreement": 0.98,
                         "max_accuracy_drop": 0.01, "reason": "int8"},
           "graph": {"parameters": 7018, "macs_per_sample": 100}}
    return {"schema_version": 1, "command": "deploy", "status": "complete", "created_at": "2026-12-01T00:00:00",
            "config": {"model": "m.tflite", "out": "runs/x"},
            "dataset": {"name": "d", "test_samples": 10, "labels": labelled} if not labelled else
            {"name": "mnist", "test_samples": 10},
            "model": {"kind": "shape", "name": "m.tflite", "input_shape": [28, 28, 1], "num_classes": 10,
                      "weighted_layers": 3, "max_fan_in": 576, "parameter_count": 7018,
                      "input": {"shape": [1, 28, 28, 1], "layout": "NHWC"}},
            "source": {"file": "m.tflite", "kind": "tflite", "kind_title": "TensorFlow Lite flatbuffer",
                       "status": "ok", "test_accuracy": acc, "load_time_s": 0.1, "predict_time_s": 0.2,
                       "versions": {"ai-edge-litert": "2.3.0"}, "copy": "source/m.tflite", "sha256": "ab" * 32},
            "fairness": {"calibration": {"samples": 0, "note": "x_calib"}, "reference": "the source's own logits",
                         "inference": {"threads": 1, "latency": "batch 1", "throughput": "batch 256"},
                         "layout": "NHWC", "dtype": "float32", "isolation": "one child each"},
            "trainings": [], "artifacts": [art], "boards": [], "wall_time_s": 3.0}


@pytest.mark.parametrize("labelled", [True, False])
def test_deploy_report_renders(tmp_path, labelled):
    from edgebench.report import markdown, write_reports
    from edgebench.report.view import build
    from tests.unit.test_report import typed

    r = typed(_deploy_results(labelled))
    v = build(r)
    assert v.is_deploy and v.source and v.table1 == []
    md = markdown.render(v, {})
    assert "## Source model" in md and "Table 1: training" not in md and "m.tflite" in md
    assert ("0.9700" in md) == labelled and ("no labels" in md) != labelled
    write_reports(r, tmp_path)  # plots included: size vs agreement without labels
    assert (tmp_path / "report.html").exists()


def test_generated_inputs_take_the_models_range():
    from edgebench.config import DeployConfig
    from edgebench.pipeline.deploy import input_range

    q = {"input": {"dtype": "int8", "quantization": {"scale": 0.5847, "zero_point": 83}}}
    lo, hi, why = input_range(q, DeployConfig(model="m", dataset="none"))
    assert (lo, hi) == pytest.approx(((-128 - 83) * 0.5847, (127 - 83) * 0.5847)) and "zero point 83" in why
    assert input_range({"input": {"dtype": "float32"}}, DeployConfig(model="m", dataset="none"))[:2] == (0.0, 1.0)
    given = DeployConfig(model="m", dataset="none", input_range=(-1.0, 1.0))
    assert input_range(q, given)[:2] == (-1.0, 1.0)
