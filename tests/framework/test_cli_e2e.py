"""The real CLI, end to end, on a small slice of MNIST."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import host, mcu, mcu_results, needs_tf, needs_torch

pytestmark = [pytest.mark.framework, needs_tf, needs_torch]


def edgebench(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=600)


SMALL = ["--limit-train", "6000", "--limit-test", "500", "--epochs", "2", "--hidden", "32", "--threads", "1",
         "--latency-min-time", "0.05", "--calibration-samples", "100", "--repeats", "1", "--warmup", "0"]
MATRIX = {("tensorflow", "tflite", "float32"), ("tensorflow", "tflite", "float16"),
          ("tensorflow", "tflite", "int8-dynamic"), ("tensorflow", "tflite", "int8"),
          ("tensorflow", "onnx", "float32"), ("tensorflow", "onnx", "int8-static"),
          ("tensorflow", "onnx", "int8-dynamic"), ("pytorch", "onnx", "float32"),
          ("pytorch", "onnx", "int8-static"), ("pytorch", "onnx", "int8-dynamic"),
          ("pytorch", "tflite", "float32"), ("pytorch", "tflite", "int8"), ("pytorch", "executorch", "float32"),
          ("jax", "tflite", "float32"), ("jax", "tflite", "int8")}


def test_run_small_slice(tmp_path):
    out = tmp_path / "run"
    # --rerun-busy 0: the repeats' structure is checked below (a busy repeat run again would add one).
    p = edgebench("run", *SMALL, "--repeats", "2", "--warmup", "1", "--rerun-busy", "0", "--board", "tiny:64:3",
                  "--out", str(out), env={"COLUMNS": "200"})
    assert p.returncode == 0, p.stderr[-2000:]
    # The progress says what happened: TFLite Micro cannot run float16 and dynamic-range files.
    assert "verified tensorflow/tflite-float16 on TFLM" not in p.stdout
    assert "unsupported: tensorflow/tflite-float16 on TFLM" in p.stdout, p.stdout[-3000:]
    assert "Table 1: training" in p.stdout and str(out) in p.stdout
    r = json.loads((out / "results.json").read_text())
    assert r["schema_version"] == 2 and r["status"] == "complete"
    for key in ("created_at", "config", "environment", "trainings", "artifacts", "fairness", "dataset"):
        assert key in r
    cfg = r["config"]
    assert cfg["epochs"] == 2 and cfg["model"]["hidden"] == [32] and cfg["threads"] == 1
    assert cfg["optimizer"] == {"name": "adam", "learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999,
                                "epsilon": 1e-8, "epsilon_placement": "aligned"}
    assert cfg["dataset_sha256"]["train-images-idx3-ubyte.gz"].startswith("0b367032")
    assert r["environment"]["packages"]["torch"].startswith("2.13")
    by_fw = {t["framework"]: t for t in r["trainings"]}
    assert set(by_fw) == {"tensorflow", "pytorch", "jax"}
    for t in by_fw.values():
        assert t["status"] == "ok" and t["error"] is None
        assert [e["epoch"] for e in t["epochs"]] == [1, 2]
        # Repeat 1 (the warm-up, which also exports) keeps its per-epoch history; the headline time is
        # the geometric mean over the two counted repeats.
        assert [x["repeat"] for x in t["repeats"]] == [1, 2, 3] and all(x["status"] == "ok" for x in t["repeats"])
        assert [x["warmup"] for x in t["repeats"]] == [True, False, False]
        # One long-lived worker ran the warm-up and then the counted repeats: imported once.
        assert [x["process_trainings_before"] for x in t["repeats"]] == [0, 1, 2]
        assert t["repeats"][0]["import_time_s"] > 0 and [x["import_time_s"] for x in t["repeats"][1:]] == [0.0, 0.0]
        assert t["repeats"][0]["train_time_s"] == pytest.approx(sum(e["time_s"] for e in t["epochs"]))
        counted = [x["train_time_s"] for x in t["repeats"][1:]]
        assert t["train_time_s"] == pytest.approx(np.exp(np.mean(np.log(counted))))
        tm = t["timing"]
        assert tm["train_time_s"]["n"] == 2 and tm["repeats_counted"] == [2, 3]
        assert 0 < tm["train_time_s"]["ci_low"] <= t["train_time_s"] <= tm["train_time_s"]["ci_high"]
        # Same seed, same data, same threads: each framework lands on the same accuracy in a fresh
        # process (on this machine its weights are even bit-identical; recorded, not required).
        assert tm["test_accuracy"]["max"] - tm["test_accuracy"]["min"] <= 0.002
        assert t["determinism"]["repeats_compared"] == 3 and isinstance(t["determinism"]["bit_identical_weights"], bool)
        assert 0 < tm["efficiency"]["fraction_of_peak"] < 1 and tm["efficiency"]["gflops"] > 0
        assert 0.5 < t["test_accuracy"] <= 1.0 and t["test_loss"] > 0
        assert t["peak_rss_bytes"] > 50 * 2**20
        assert t["epochs"][1]["loss"] < t["epochs"][0]["loss"]
    # Same start, same batches, aligned Adam: the frameworks land on the same accuracy.
    accs = [t["test_accuracy"] for t in by_fw.values()]
    assert max(accs) - min(accs) <= 0.01
    arts = {(a["framework"], a["format"], a["precision"]): a for a in r["artifacts"]}
    assert set(arts) == MATRIX
    for (fw, fmt, prec), a in arts.items():
        assert a["status"] == "ok", a
        assert (out / a["file"]).stat().st_size == a["size_bytes"]
        h = host(a)
        assert h["status"] == "ok" and h["test_samples"] == 500 and h["within_tolerance"], a
        lat = h["latency_ms"]
        assert lat["n"] >= 200 and 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
        raw = np.load(out / h["latency_raw"])
        assert len(raw) == lat["n"] and np.median(raw) / 1e6 == pytest.approx(lat["p50"])
        # Only ExecuTorch's .pte has no public way to read its graph back.
        assert (a["graph"] is None) == (a["format"] == "executorch"), a
        if a["graph"] is not None:
            assert a["graph"]["macs_per_sample"] == r["model"]["macs_per_sample"] == 784 * 32 + 32 * 10
        if prec == "float32":
            assert h["agreement"] >= 0.999 and h["max_abs_diff"] < 1e-3
            assert abs(h["test_accuracy"] - by_fw[fw]["test_accuracy"]) <= 0.001
        else:
            assert a["size_bytes"] < arts[(fw, fmt, "float32")]["size_bytes"]
        if prec.startswith("int8") and prec != "int8-dynamic":
            assert a["calibration_samples"] == 100
    for (fw, fmt, prec), a in arts.items():
        if fmt != "tflite":
            assert mcu_results(a) == [], a["results"]
            continue
        m = mcu(a)
        if prec in ("float16", "int8-dynamic"):
            assert m["status"] == "unsupported" and m["error"].startswith("not supported by TFLite Micro: ")
        else:
            assert m["status"] == "ok" and m["details"]["arena_minus_one_fails"] is True, m
            assert 0 < m["details"]["arena_reported_bytes"] <= m["ram_bytes"] < 10 * a["size_bytes"]
            assert m["flash_bytes"] == a["size_bytes"] and m["test_samples"] == 500
            assert abs(m["test_accuracy"] - host(a)["test_accuracy"]) <= 0.002 and m["agreement"] >= 0.99
            c = m["details"]["c_array"]
            assert c["round_trip_ok"] and c["compiles"] and c["bytes_match"] and c["array_len"] == a["size_bytes"]
            assert f"{m['ram_bytes']:,} bytes" in (out / c["dir"] / "README.md").read_text()
            fits = {f["board"]: f for f in m["fit"]}
            assert len(fits) == 6 and fits["tiny"]["fits"] is (a["size_bytes"] <= 64 * 1024 and m["ram_bytes"] <= 3 * 1024)
    # int8 like for like: ONNX static int8 carries one weight scale per output channel, as TFLite's int8
    # does; read from the graph itself, and recorded for every int8 artifact.
    import onnx
    from onnx import numpy_helper

    for fw in ("tensorflow", "pytorch"):
        g = onnx.load(str(out / arts[(fw, "onnx", "int8-static")]["file"])).graph
        inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        weights = [n for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] in inits
                   and inits[n.input[0]].dtype == np.int8 and inits[n.input[0]].ndim == 2]
        assert len(weights) == 2, fw  # the two dense layers
        for n in weights:
            assert inits[n.input[1]].size == min(inits[n.input[0]].shape) and inits[n.input[1]].size in (32, 10), fw
    for key, a in arts.items():
        g = (a.get("weight_quantization") or {}).get("granularity")
        if key[2] in ("int8", "int8-static"):
            assert g == "per-channel", (key, a.get("weight_quantization"))
        elif key[2] == "int8-dynamic":
            assert g == ("per-channel" if key[1] == "tflite" else "per-tensor"), (key, a.get("weight_quantization"))
        else:
            assert g is None, key
    assert "onnx int8-static (per-channel)" in p.stdout and "-> onnx int8-static (per-channel) |" in (out / "report.md").read_text()
    assert host(arts[("tensorflow", "tflite", "float32")])["throughput"]["images_per_s"] > 0
    assert host(arts[("pytorch", "executorch", "float32")])["throughput"]["images_per_s"] is None
    assert len(np.load(out / "inputs" / "calibration_indices.npy")) == 100
    report = (out / "report.md").read_text()
    assert "| Framework | Training Time (s) | 95% CI | Median (range) | Test Accuracy |" in report
    assert "How this was measured" in report and "epsilon" in report
    assert "## Deployment matrix" in report and "**smallest**" in report and "### Model cost" in report
    assert "## On a microcontroller" in report and "| tiny: 64 KB flash, 3 KB RAM |" in report
    assert "## How fast, and how sure" in report and len(r["timing_comparisons"]) == 3
    assert r["speed_limit"]["gemm_peak"]["gflops"] > 1 and r["speed_limit"]["train_flops_per_sample"]["total"] == \
        2 * (784 * 32 + 32 * 10) * 2 + 2 * 32 * 10
    assert "95% CI" in p.stdout


def test_failing_framework_does_not_stop_the_run(tmp_path):
    out = tmp_path / "run"
    p = edgebench("run", *SMALL, "--epochs", "1", "--formats", "onnx", "--frameworks", "tf,torch,jax", "--out", str(out),
                  env={"EDGEBENCH_INJECT_FAULT": "train-tensorflow=crash,export-pytorch-onnx-float32=raise"})
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((out / "results.json").read_text())
    assert r["status"] == "partial"
    tf, pt, jx = r["trainings"]
    assert tf["status"] == "failed" and "killed by signal 6" in tf["error"] and tf["exit_code"] == -6
    assert pt["status"] == "ok" and jx["status"] == "ok"
    arts = {a["precision"]: a for a in r["artifacts"]}
    assert set(arts) == {"float32", "int8-static", "int8-dynamic"}
    assert arts["float32"]["status"] == "failed"
    assert "fault injected into export-pytorch-onnx-float32" in arts["float32"]["error"]
    # The int8 variants derive from the float file: they fail saying so, and nothing else breaks.
    for prec in ("int8-static", "int8-dynamic"):
        assert arts[prec]["status"] == "failed" and "needs the onnx float32 export" in arts[prec]["error"]
    report = (out / "report.md").read_text()
    assert "**TensorFlow failed**" in report and "killed by signal 6" in report


def test_user_errors_are_one_line_exit_2(tmp_path):
    cases = [
        (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
        (["--batch-size", "-3"], "--batch-size must be a positive integer, got -3"),
        (["--frameworks", "tensorflow,caffe"], "unknown framework 'caffe'"),
        (["--dataset", str(tmp_path / "absent")], "no such folder"),
        (["--formats", "coreml"], "unknown format 'coreml'"),
        (["--bench-threads", "0"], "--bench-threads must be a positive integer, got 0"),
        (["--lr", "fast"], "Invalid value for '--lr'"),
        (["--board", "kit:512"], "--board 'kit:512': expected name:flash_kb:ram_kb"),
    ]
    for args, message in cases:
        p = edgebench("run", *args, "--out", str(tmp_path / "never"))
        assert p.returncode == 2, (args, p.stderr)
        assert message in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr + p.stdout
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "never").exists()


def test_twin_report(tmp_path):
    out = tmp_path / "twin"
    p = edgebench("run", "--twin", "--repeats", "1", "--warmup", "0", "--optimizer", "sgd", "--lr", "0.01", "--epochs", "1", "--limit-train", "6400",
                  "--limit-test", "1000", "--threads", "1", "--formats", "none", "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((out / "results.json").read_text())
    tw = r["twin"]
    assert tw["status"] == "ok" and tw["total_steps"] == 100 and tw["steps"] == [1, 10, 100]
    assert [tuple(p["pair"]) for p in tw["pairs"]] == [("tensorflow", "pytorch"), ("tensorflow", "jax"),
                                                      ("pytorch", "jax")]
    for pair in tw["pairs"]:
        assert [pt["at"] for pt in pair["points"]] == ["step 1", "step 10", "end"]
        for pt in pair["points"]:
            # SGD: rounding-level drift at every point, while the weights really move.
            assert pt["max_abs_weight_diff"] <= 1e-5 and pt["top1_agreement"] == 1.0, (pair["pair"], pt)
        moved = [pt["max_abs_weight_change_from_init"] for pt in pair["points"]]
        assert 0 < moved[0] < moved[1] < moved[2] and moved[2] > 1e-3
    md = (out / "twin.md").read_text()
    assert "| TensorFlow vs PyTorch | step 1 |" in md and "| PyTorch vs JAX | end |" in md
    assert "## Twin training" in (out / "report.md").read_text()


def test_preset_lab_with_an_explicit_override(tmp_path):
    out = tmp_path / "lab"
    p = edgebench("run", "--preset", "lab", "--epochs", "1", "--limit-train", "2000", "--limit-test", "300",
                  "--latency-min-time", "0.05", "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((out / "results.json").read_text())
    c = r["config"]
    assert c["preset"] == "lab" and c["frameworks"] == ["tensorflow", "pytorch"] and c["epochs"] == 1
    assert c["repeats"] == 1 and c["microcontroller"] is False
    assert [(a["framework"], a["format"], a["precision"]) for a in r["artifacts"]] == [
        ("tensorflow", "tflite", "float32"), ("pytorch", "onnx", "float32")]
    assert all(a["status"] == "ok" and mcu_results(a) == [] for a in r["artifacts"])
    bad = edgebench("run", "--preset", "huge", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "unknown --preset 'huge'; valid choices: lab, quick, full" in bad.stderr


def test_compiled_mode_matches_eager(tmp_path):
    out = tmp_path / "modes"
    p = edgebench("run", "--mode", "both", "--repeats", "1", "--warmup", "0", "--epochs", "2", "--limit-train", "3000",
                  "--limit-test", "500", "--formats", "none", "--no-mcu", "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((out / "results.json").read_text())
    runs = {(t["framework"], t["mode"]): t for t in r["trainings"]}
    assert set(runs) == {(fw, m) for fw in ("tensorflow", "pytorch", "jax") for m in ("eager", "compiled")}
    for (fw, mode), t in runs.items():
        assert t["status"] == "ok", t
        assert t["timing"]["first_epoch_excess_s"]["n"] == 1
        # The fast path computes the same training: same accuracy as the eager loop.
        assert abs(t["test_accuracy"] - runs[(fw, "eager")]["test_accuracy"]) <= 0.002, (fw, mode)
    assert (out / "pytorch" / "compiled" / "test_logits.npy").exists()
    pairs = {(c["a"], c["a_mode"], c["b"], c["b_mode"]) for c in r["timing_comparisons"]}
    assert ("tensorflow", "eager", "tensorflow", "compiled") in pairs and ("pytorch", "compiled", "jax", "compiled") in pairs
    assert ("tensorflow", "eager", "pytorch", "compiled") not in pairs
    assert "| JAX (compiled) |" in (out / "report.md").read_text()
    bad = edgebench("run", "--mode", "fast", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "--mode must be eager, compiled or both, got 'fast'" in bad.stderr


def test_config_file_json_output_and_flag_precedence(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('frameworks = ["pytorch"]\nepochs = 3\nlimit-train = 1000\nlimit_test = 200\nformats = "none"\n'
                   "no-mcu = true\nrepeats = 1\n")
    p = edgebench("run", "--config", str(cfg), "--epochs", "1", "--json", "--out", str(tmp_path / "run"))
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout)  # stdout is exactly the JSON document
    assert r["config"]["frameworks"] == ["pytorch"] and r["config"]["epochs"] == 1  # the flag beat the file
    assert r["config"]["limit_train"] == 1000 and r["status"] == "complete"
    assert (tmp_path / "run" / "trainings.csv").exists() and (tmp_path / "run" / "report.html").exists()


def test_sigterm_keeps_finished_work(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "edgebench", "run", "--frameworks", "pytorch,tensorflow",
                             "--epochs", "1", "--limit-train", "2000", "--limit-test", "300", "--repeats", "1", "--warmup", "0",
                             "--formats", "none", "--no-mcu", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until the first framework's training is saved
        try:
            r = json.loads((out / "results.json").read_text())
            if r["trainings"] and r["trainings"][0]["status"] == "ok":
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted; what finished is kept in" in err and "Traceback" not in err
    r = json.loads((out / "results.json").read_text())
    assert r["status"] == "partial" and r["interrupted"] is True
    first = r["trainings"][0]
    assert first["framework"] == "pytorch" and first["status"] == "ok" and first["test_accuracy"] > 0.5
    assert [t["status"] for t in r["trainings"][1:]] in ([], ["interrupted"])
    assert "**TensorFlow interrupted**" in (out / "report.md").read_text() or len(r["trainings"]) == 1
    # --resume finishes the run with its own configuration and does not redo the finished training.
    refused = edgebench("run", "--resume", str(out), "--epochs", "3")
    assert refused.returncode == 2 and "--resume uses the run's own configuration; drop --epochs" in refused.stderr
    p = edgebench("run", "--resume", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    done = json.loads((out / "results.json").read_text())
    assert done["status"] == "complete" and len(done["resumed_at"]) == 1
    by_fw = {t["framework"]: t for t in done["trainings"]}
    assert set(by_fw) == {"pytorch", "tensorflow"} and all(t["status"] == "ok" for t in by_fw.values())
    assert by_fw["pytorch"]["process_wall_s"] == first["process_wall_s"]  # the same, kept record
    again = edgebench("run", "--resume", str(out))
    assert again.returncode == 2 and "already complete; nothing to resume" in again.stderr
