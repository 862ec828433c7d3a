"""What a newcomer tripped on with `deploy` (issue 27), through the real CLI on MLPerf Tiny's reference
models (read from ../shared, never copied): a model whose input fits no bundled data set is profiled
on generated inputs and said so on the first line; an autoencoder's outputs are judged as values, not
classes; an interrupted deploy resumes without redoing what finished."""

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import host, mcu, needs_modules, needs_tflm
from tests.framework.test_deploy_mlperf import FOLDER

pytestmark = [pytest.mark.framework, needs_modules("ai_edge_litert", extra_name="litert"), needs_tflm]


def edgebench(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True, timeout=timeout,
                          env={**__import__("os").environ, "COLUMNS": "250"})


def test_a_model_that_takes_no_bundled_images_is_profiled_on_generated_inputs(tmp_path):
    out = tmp_path / "kws"
    p = edgebench("deploy", str(FOLDER / "kws_ref_model.tflite"), "--samples", "20", "--latency-min-time", "0.05",
                  "--no-mcu", "--out", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    first = p.stdout.strip().splitlines()[0]
    assert first.startswith("note: kws_ref_model.tflite: its input [-1, 49, 10, 1] does not take MNIST's") \
        and "20 generated inputs" in first and "--dataset" in first, first
    r = json.loads((out / "results.json").read_text())
    assert r["config"]["dataset"] == "none" and r["dataset"]["generated"]["samples"] == 20
    assert "no --dataset was given" in r["dataset"]["generated"]["chosen"]
    assert "Data chosen" in (out / "report.md").read_text()
    # Unlabelled generated inputs, a graph that ends in a softmax: class scores, and said why.
    assert r["task"]["kind"] == "classification" and "SOFTMAX" in r["task"]["decided_by"]


def test_an_autoencoder_is_judged_by_its_error_not_top1(tmp_path):
    out = tmp_path / "ad"
    p = edgebench("deploy", str(FOLDER / "ad01_int8.tflite"), "--dataset", "none", "--samples", "30",
                  "--latency-min-time", "0.05", "--threads", "1", "--out", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads((out / "results.json").read_text())
    assert r["task"]["kind"] == "regression" and "as many values as the input (640)" in r["task"]["decided_by"]
    a = r["artifacts"][0]
    assert host(a)["task"] == "regression" and host(a)["error_distribution"]["values"] == 30 * 640
    m = mcu(a)
    steps = m["error_steps_distribution"]
    assert m["task"] == "regression" and steps["max"] == m["max_diff_steps"] and steps["values"] == 30 * 640
    assert steps["p50"] <= steps["p99"] <= steps["max"]
    md = (out / "report.md").read_text()
    assert "n/a (values: error p50" in md and "steps)" in md and "regression (the output has as many values" in md
    assert "top-1" not in p.stdout.lower() or "n/a (values" in p.stdout
    # --task overrides the decision.
    p = edgebench("deploy", str(FOLDER / "ad01_int8.tflite"), "--dataset", "none", "--samples", "10", "--no-mcu",
                  "--latency-min-time", "0.02", "--task", "classification", "--out", str(tmp_path / "forced"))
    assert p.returncode == 0, p.stderr[-3000:]
    forced = json.loads((tmp_path / "forced" / "results.json").read_text())
    assert forced["task"] == {"kind": "classification", "decided_by": "--task classification"}
    assert host(forced["artifacts"][0])["error_distribution"] is None
    p = edgebench("deploy", str(FOLDER / "ad01_int8.tflite"), "--task", "segmentation")
    assert p.returncode == 2 and "--task must be auto, classification or regression" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_an_interrupted_deploy_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "resnet"
    args = [sys.executable, "-m", "edgebench", "deploy", str(FOLDER / "pretrainedResnet_quant.tflite"), "--dataset",
            "none", "--samples", "16", "--latency-min-time", "4", "--threads", "1", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:  # stop it once the source job (and its exports) finished
            try:
                r = json.loads((out / "results.json").read_text())
                if "source" in r["progress"]["done"]:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    r = json.loads((out / "results.json").read_text())
    assert r["status"] == "partial" and r["source"]["status"] == "ok"
    source_log = (out / "logs" / "source.log").stat().st_mtime_ns
    # Options of its own are refused: the deploy keeps its configuration.
    p = edgebench("deploy", "--resume", str(out), "--samples", "3")
    assert p.returncode == 2 and "--resume uses the deploy's own configuration" in p.stderr and "--samples" in p.stderr
    p = edgebench("deploy", "--resume", str(out), "--latency-min-time", "0.05")
    assert p.returncode == 2
    p = edgebench("deploy", "--resume", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads((out / "results.json").read_text())
    assert r["status"] == "complete" and len(r["resumed_at"]) == 1
    assert (out / "logs" / "source.log").stat().st_mtime_ns == source_log  # the source job was not redone
    (a,) = r["artifacts"]
    assert a["status"] == "ok" and mcu(a)["status"] == "ok" and r["progress"]["done"].count("source") == 1
    p = edgebench("deploy", "--resume", str(out))
    assert p.returncode == 2 and "already complete" in p.stderr
