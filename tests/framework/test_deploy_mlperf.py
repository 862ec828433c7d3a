"""`edgebench deploy` without a data set, through the real CLI, on MLPerf Tiny's reference models
(third-party, Apache 2.0; read from ../shared/models/mlperf-tiny, never copied into the project):
parameters and MACs read from the graph equal the figures in that folder's README, every .tflite
runs in TFLite Micro with a bisected arena (one byte less fails), TFLite Micro agrees with LiteRT on
top-1 for every generated input of a classifier, latency and throughput are measured, board fit is
reported, and the run folder has results.json, report.md and report.html."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import host, mcu, missing, needs_modules, needs_tflm

pytestmark = [pytest.mark.framework, needs_modules("ai_edge_litert", extra_name="litert"), needs_tflm]

CANDIDATES = [os.environ.get("EDGEBENCH_MLPERF_TINY", ""),
              Path(__file__).resolve().parents[2].parent / "shared" / "models" / "mlperf-tiny",
              Path("/work/shared/models/mlperf-tiny")]
FOLDER = next((Path(c) for c in CANDIDATES if c and (Path(c) / "README.md").is_file()), None)
if FOLDER is None:
    missing("MLPerf Tiny's reference models (../shared/models/mlperf-tiny)",
            "put them there or set EDGEBENCH_MLPERF_TINY: they are read from there, never copied into the project",
            module_level=True)


def readme_figures() -> dict[str, tuple[int, int, int]]:
    """file -> (parameters, MACs, outputs), from the README's table."""
    out = {}
    for line in (FOLDER / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].endswith(".tflite"):
            outputs = int(re.match(r"1x(\d+)", cells[3]).group(1))
            out[cells[0]] = (int(cells[4].replace(",", "")), int(cells[5].replace(",", "")), outputs)
    return out


FIGURES = readme_figures()
CLASSIFIERS = {"pretrainedResnet_quant.tflite", "pretrainedResnet.tflite", "kws_ref_model.tflite",
               "kws_ref_model_float32.tflite", "vww_96_int8.tflite"}


def test_the_readme_table_was_read():
    assert set(FIGURES) == CLASSIFIERS | {"ad01_int8.tflite"}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_profile_a_model_without_data(name, tmp_path):
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "edgebench", "deploy", str(FOLDER / name), "--dataset", "none",
                        "--samples", "24", "--latency-min-time", "0.1", "--threads", "1", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads((out / "results.json").read_text())
    params, macs, outputs = FIGURES[name]
    assert r["status"] == "complete" and r["dataset"]["name"] == "generated"
    assert r["model"]["parameter_count"] == params and r["model"]["macs_per_sample"] == macs
    assert sum(x["macs"] for x in r["model"]["layer_table"]) == macs  # the per-layer table adds up
    assert r["model"]["num_classes"] == outputs
    g = r["dataset"]["generated"]
    assert g["samples"] == 24 and (out / g["file"]).is_file()
    art = r["artifacts"][0]  # the file itself
    assert art["file"].endswith(name) or art["precision"] == r["source"]["facts"]["precision"]
    if name == "pretrainedResnet.tflite":
        # A float .tflite also reaches int8 through ai-edge-quantizer (dynamic: the file has no
        # signature, through which static calibration would go), verified like every artifact.
        (dyn,) = r["artifacts"][1:]
        assert dyn["precision"] == "int8-dynamic" and dyn["file"] == "tflite/model_int8_dynamic.tflite", dyn
        assert dyn["status"] == "ok" and host(dyn)["agreement"] is not None and dyn["size_bytes"] < art["size_bytes"] / 3
    else:
        assert len(r["artifacts"]) == 1
    assert art["status"] == "ok" and art["graph"]["parameters"] == params and art["graph"]["macs_per_sample"] == macs
    h = host(art)
    assert h["test_accuracy"] is None and h["agreement"] == 1.0  # the copy agrees with its source
    assert h["latency_ms"]["n"] > 0 and h["latency_ms"]["p50"] > 0 and h["throughput"]["images_per_s"] > 0
    m = mcu(art)
    _generated_firmware(name, art, m, r)
    _layers(name, art, m, out)
    if name == "kws_ref_model_float32.tflite":
        # Not float32 inside: float input and output, int8 weights (dynamic-range "hybrid"), which
        # TFLite Micro refuses; edgebench says so, names the precision, and runs it everywhere else.
        assert art["precision"] == "int8-dynamic" and m["status"] == "unsupported"
        assert "Hybrid models are not supported on TFLite Micro" in m["error"]
        return
    assert m["status"] == "ok" and m["ram_bytes"] > 0 and m["details"]["arena_minus_one_fails"] is True
    if name in CLASSIFIERS:
        # Top-1 the same for every generated input: against LiteRT's default kernels, or, where those
        # round otherwise (ResNet-8 int8 on random inputs: XNNPACK's int8 kernels), against LiteRT's
        # reference kernels, which the check then runs and records.
        ref = m["details"].get("reference_kernels")
        assert m["agreement"] == 1.0 or (ref is not None and ref["agreement"] == 1.0), m
    # Integer outputs say how far apart the two runtimes are, in output quantization steps; a float
    # output has no steps to count in, so there the figure is absent (null).
    integer_output = h["io"]["output"]["dtype"] in ("int8", "uint8")
    assert (m["max_diff_steps"] is not None) is integer_output, (name, h["io"]["output"], m)
    if integer_output:
        assert m["max_diff_steps"] >= 0 and 0 <= m["share_within_one_step"] <= 1
    fits = {f["board"]: f["fits"] for f in m["fit"]}
    if name == "vww_96_int8.tflite":  # 103 KB of arena: not on the 32 KB board
        assert fits["SAMD21G18 (Cortex-M0+, 32 KB SRAM; Arduino Zero)"] is False
    md = (out / "report.md").read_text()
    assert "No data set:" in md and "Accuracy is not reported" in md and (out / "report.html").is_file()
    print(json.dumps({"model": name, "arena": m["ram_bytes"], "fits": [b for b, ok in fits.items() if ok],
                      "agreement": m["agreement"], "steps": m["max_diff_steps"],
                      "reference": m["details"].get("reference_kernels"), "p50_ms": h["latency_ms"]["p50"]}))


INT8 = {"ad01_int8.tflite", "kws_ref_model.tflite", "pretrainedResnet_quant.tflite", "vww_96_int8.tflite"}


def _generated_firmware(name: str, art: dict, m: dict, r: dict) -> None:
    """The generated C beside TFLite Micro: bit-exact on every generated input (int8), at most 0.75x of
    TFLite Micro's bisected arena, the Cortex-M4 build's outputs equal the host build's with the same
    instruction counts twice; a hybrid model is a row naming the op."""
    fw = mcu(art, "firmware")
    if name == "kws_ref_model_float32.tflite":
        assert fw["status"] == "unsupported" and "CONV_2D" in fw["error"] and "hybrid" in fw["error"], fw
        return
    assert fw["status"] == "ok" and fw["reference"] == "tflm", fw.get("error")
    exact = fw["details"]["exact"]
    assert exact["inputs"] == r["dataset"]["generated"]["samples"]
    if name in INT8:
        assert exact["differing_outputs"] == 0 and exact["bit_exact"], exact
        plan = fw["details"]["plan"]
        assert plan["tflm_arena_bytes"] == m["ram_bytes"] and plan["ratio_to_tflm"] <= 0.75, plan
    else:
        assert exact["within"], exact
    boards = {(b["board"], b["opt"]): b for b in fw["details"]["boards"]}
    m4 = boards[("nRF52840 (Arduino Nano 33 BLE Sense)", "-Os")]
    assert m4["status"] == "ok" and m4["repeat_identical"], m4
    assert m4["outputs_equal_host"] if name in INT8 else m4["outputs_within_tolerance"], m4
    assert m4["samples"] == exact["inputs"] and m4["instructions"] > 0 and m4["flash_bytes"] > 0
    print(json.dumps({"model": name, "plan": fw["ram_bytes"], "tflm": m["ram_bytes"],
                      "m4_instructions": m4["instructions"], "m4_per_mac": m4["instructions_per_mac"],
                      "flash": m4["flash_bytes"], "stack": m4["stack_bytes"]}))


def _layers(name: str, art: dict, m: dict, out: Path) -> None:
    """Issue 31: an int8 file's every tensor in TFLite Micro against LiteRT's (the same tensor of the
    same file), and the generated C's against TFLite Micro's: the first tensor where they differ is
    named (ResNet-8: LiteRT's optimized kernels round otherwise than TFLite Micro's from an early
    conv on), and the generated C is bit-exact at every tensor it writes."""
    if name not in INT8:
        assert m.get("layers") is None  # --layers int8: only int8 files get the per-tensor tables
        return
    t = m["layers"]
    assert "error" not in t and t["reference"] == "litert" and t["matched"] == t["layers"] > 0, t.get("error")
    differ = [r["layer"] for r in t["rows"] if r["max_abs_error"] > 0]
    assert t["first_jump"] == (differ[0] if differ else None), t["first_jump"]
    if name == "pretrainedResnet_quant.tflite":
        assert differ, "LiteRT's optimized kernels and TFLite Micro agreed at every tensor of ResNet-8"
    fw = mcu(art, "firmware")["layers"]
    assert "error" not in fw and fw["reference"] == "tflm", fw.get("error")
    assert fw["identical_layers"] == fw["layers"] > 0 and fw["first_jump"] is None, fw["rows"]
    text = subprocess.run([sys.executable, "-m", "edgebench", "layers", str(out), "--format", "md"],
                          capture_output=True, text=True, timeout=120).stdout
    assert "on TFLite Micro" in text and "on edgebench firmware (generated C)" in text
    print(json.dumps({"model": name, "tflm_vs_litert_first_difference": t["first_jump"],
                      "identical": f"{t['identical_layers']}/{t['layers']}",
                      "firmware_vs_tflm_identical": f"{fw['identical_layers']}/{fw['layers']}"}))


def test_the_api_profiles_a_model_without_data(tmp_path):
    """The same through the Python API (edgebench.deploy), with the CLI's option names."""
    import edgebench

    model = FOLDER / "ad01_int8.tflite"
    r = edgebench.deploy(model, dataset="none", samples=12, latency_min_time=0.05, threads=1, no_mcu=False,
                         out=tmp_path / "api")
    assert isinstance(r, edgebench.Results) and r.status == "complete"
    assert r.raw["dataset"]["generated"]["samples"] == 12 and r.raw["config"]["microcontroller"] is True
    (a,) = r.artifacts
    assert (a.format, a.precision, a.status, a.runtime) == ("tflite", "int8", "ok", "litert")
    assert a.size_bytes == model.stat().st_size and a.top1_agreement == 1.0 and a.microcontroller_ram_bytes["tflm"] > 0
    assert "Deployment" in r._repr_html_()
