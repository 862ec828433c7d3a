"""The generated firmware as a runtime of a real `edgebench run`: beside TFLite Micro on each .tflite,
bit-exact with it on every test image (int8), linked for every built-in Arm board and a --board one
too small to hold it, run on the emulated cores, reported; the firmware folder rebuilds the ELF that
was measured, byte for byte."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import mcu, needs_arm, needs_cc, needs_tf, needs_tflm

pytestmark = [pytest.mark.framework, needs_tf, needs_tflm, needs_arm, needs_cc]

TINY = "tiny:8:2:cortex-m4:48"  # 8 KB flash, 2 KB RAM: LeNet-5's weights alone are larger


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fw") / "run"
    p = subprocess.run([sys.executable, "-m", "edgebench", "run", "--model", "lenet5", "--frameworks", "tensorflow",
                        "--formats", "tflite:int8,tflite:float32", "--epochs", "1", "--limit-train", "1000",
                        "--limit-test", "200", "--repeats", "1", "--warmup", "0", "--latency-min-time", "0.05",
                        "--emulate-samples", "100", "--board", TINY, "--out", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text())


def _artifact(doc: dict, precision: str) -> dict:
    return next(a for a in doc["artifacts"] if a["format"] == "tflite" and a["precision"] == precision)


def test_int8_is_bit_exact_with_tflite_micro_on_every_test_image(run):
    _, doc = run
    fw = mcu(_artifact(doc, "int8"), "firmware")
    assert fw["status"] == "ok" and fw["reference"] == "tflm", fw.get("error")
    exact = fw["details"]["exact"]
    assert exact["inputs"] == 200 and exact["outputs_compared"] == 200 * 10
    assert exact["differing_outputs"] == 0 and exact["bit_exact"]
    assert fw["agreement"] == 1.0 and fw["test_accuracy"] == mcu(_artifact(doc, "int8"))["test_accuracy"]
    plan = fw["details"]["plan"]
    assert plan["arena_bytes"] == fw["ram_bytes"] and plan["tflm_arena_bytes"] == mcu(_artifact(doc, "int8"))["ram_bytes"]


def test_float32_is_within_the_float_tolerance(run):
    _, doc = run
    fw = mcu(_artifact(doc, "float32"), "firmware")
    assert fw["status"] == "ok", fw.get("error")
    exact = fw["details"]["exact"]
    assert exact["within"] and exact["max_abs_diff"] <= exact["tolerance"]


def test_every_arm_board_is_linked_and_emulated(run):
    _, doc = run
    rows = mcu(_artifact(doc, "int8"), "firmware")["details"]["boards"]
    by = {(r["board"], r["opt"]): r for r in rows}
    m4 = by[("nRF52840 (Arduino Nano 33 BLE Sense)", "-Os")]
    assert m4["status"] == "ok", m4.get("error")
    assert m4["outputs_equal_host"] and m4["samples"] == 100 and m4["repeat_identical"]
    assert m4["instructions"] > 0 and m4["flash_bytes"] > 0 and m4["stack_bytes"] > 0
    assert sum(layer["instructions"] for layer in m4["layers"]) <= m4["instructions"]
    assert m4["latency_estimate_ms"][0] < m4["latency_estimate_ms"][1] and m4["cpi_source"]
    for core in ("STM32F746 (32F746G-DISCOVERY)", "RP2040 (Raspberry Pi Pico)"):
        assert by[(core, "-Os")]["status"] == "ok" and by[(core, "-Os")]["outputs_equal_host"]
    esp = by[("ESP32-S3 (ESP32-S3-WROOM-1-N8)", "-Os")]
    assert esp["status"] == "skipped" and "no Arm core" in esp["error"]
    tiny = by[("tiny", "-Os")]
    assert tiny["status"] == "failed" and "overflowed by" in tiny["error"], tiny
    fits = {f["board"]: f for f in mcu(_artifact(doc, "int8"), "firmware")["fit"]}
    assert fits["tiny"]["fits"] is False and fits["ESP32-S3 (ESP32-S3-WROOM-1-N8)"]["fits"] is None
    assert fits["nRF52840 (Arduino Nano 33 BLE Sense)"]["fits"] is True


def test_the_firmware_folder_rebuilds_the_measured_elf(run, tmp_path):
    out, doc = run
    m4 = next(r for r in mcu(_artifact(doc, "int8"), "firmware")["details"]["boards"]
              if r["board"].startswith("nRF52840") and r["opt"] == "-Os")
    folder = out / m4["dir"]
    elf = next(folder.glob("*.elf"))
    assert (folder / "Makefile").is_file() and (folder / "README.md").is_file()
    assert str(m4["instructions"]) in (folder / "README.md").read_text().replace(",", "")
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    for built in copy.glob("*.elf"):
        built.unlink()
    subprocess.run(["make", "-s", "-C", str(copy)], check=True, capture_output=True, timeout=300)
    assert (copy / elf.name).read_bytes() == elf.read_bytes()


def test_the_report_shows_the_firmware_beside_tflite_micro(run):
    out, _ = run
    md = (out / "report.md").read_text()
    assert "edgebench firmware (generated C)" in md and "TFLite Micro" in md
    assert "no Arm core" in md and "overflowed by" in md
    assert "estimate" in md.lower()
