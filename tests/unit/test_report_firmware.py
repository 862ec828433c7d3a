"""The generated firmware's results (issue 29) in report.md, report.html, the per-layer chart and
artifacts.csv: tests/data/firmware/results.json is a real run (tests/data/runs/v1-run-tf-pytorch,
migrated to schema 2) with a "firmware" result on each .tflite artifact (make_results.py there
says how it was made): TensorFlow int8 bit-exact on five boards (three built at -Os and -O2, the
ESP32-S3 without an Arm core, the SAMD21 whose link overflowed its RAM), float32 within tolerance,
float16 and int8-dynamic unsupported."""

import copy
import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from edgebench import results
from edgebench.report import write_reports
from edgebench.report import figures as F
from edgebench.report.markdown import render
from edgebench.report.view import build

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "firmware"
RAW = json.loads((FIXTURE / "results.json").read_text())


def typed(raw: dict):
    return results.parse(raw, "fixture")


def section(md: str, title: str) -> str:
    start = md.index(f"## On a microcontroller: {title}")
    return md[start:md.index("\n## ", start + 1)]


def without_firmware(raw: dict) -> dict:
    raw = copy.deepcopy(raw)
    for a in raw["artifacts"]:
        a["results"] = [x for x in a["results"] if x["runtime"] != "firmware"]
    return raw


def firmware_of(raw: dict, precision: str, framework: str = "tensorflow") -> dict:
    a = next(a for a in raw["artifacts"] if (a["framework"], a["format"], a["precision"])
             == (framework, "tflite", precision))
    return next(x for x in a["results"] if x["runtime"] == "firmware")


@pytest.fixture(scope="module")
def md() -> str:
    return render(typed(RAW))


@pytest.fixture(scope="module")
def fw(md) -> str:
    return section(md, "edgebench firmware (generated C)" if "edgebench firmware" in md else "firmware")


def test_the_fixture_is_schema_2_with_a_firmware_result_on_each_tflite_artifact():
    r = typed(RAW)
    assert RAW["schema_version"] == 2
    tflite = [a for a in r.artifacts if a.format == "tflite"]
    assert len(tflite) == 6 and all(a.result("firmware") is not None for a in tflite)
    assert {a.result("firmware").status for a in tflite} == {"ok", "unsupported"}


def test_each_artifact_says_how_its_c_was_checked(fw):
    assert ("**TensorFlow -> tflite int8**: bit-exact with TFLite Micro: 0 of 3,000 int8 outputs differ over 300 "
            "inputs (host build). On the emulated cores: outputs equal the host build's in all 6 builds") in fw
    assert ("**TensorFlow -> tflite float32**: float: max abs diff 4.77e-07 against TFLite Micro over 300 inputs, "
            "tolerance 6.10e-04: within") in fw
    assert ("**TensorFlow -> tflite float16**: unsupported: not supported by the generator: op DEQUANTIZE "
            "(float16 weights)") in fw
    assert "| TensorFlow -> tflite float16 | unsupported: not supported by the generator: op DEQUANTIZE" in fw


def test_outputs_that_differ_are_counted_and_stressed():
    raw = copy.deepcopy(RAW)
    firmware_of(raw, "int8")["details"]["exact"].update(differing_outputs=3, inputs_with_difference=2,
                                                        max_diff_steps=1, bit_exact=False)
    fw = section(render(typed(raw)), "edgebench firmware (generated C)")
    assert ("**3 of 3,000 int8 outputs differ** from TFLite Micro's over 300 inputs (on 2 inputs, by at most 1 "
            "step)") in fw


def test_a_row_per_board_and_build_with_linked_figures_and_an_estimate(fw):
    row = ("| nRF52840 (Arduino Nano 33 BLE Sense) (cortex-m4, 64 MHz) | -Os | 53.1 | 1.2 (0.9 + 0.3) | 312 "
           "| 255,600 ±40 (255,600-255,640 over 100 inputs) | 5.03 | est. 3.99-7.99 ms at 64 MHz "
           "| fits (+971 / +254.8) |")
    assert row in fw
    assert "| STM32F746 (32F746G-DISCOVERY) (cortex-m7, 216 MHz) | -O2 | 53.8 |" in fw
    # Boards that share a core share one emulation: the count says whose it is.
    assert "over 100 inputs; counted on RP2040) | 7.02 | est. 7.43-14.9 ms at 48 MHz |" in fw


def test_a_board_without_an_arm_core_and_a_failed_link_say_why(fw):
    assert ("| ESP32-S3 (ESP32-S3-WROOM-1-N8) (xtensa-lx7, 240 MHz) | -Os, -O2 | skipped: no Arm core (xtensa-lx7) "
            "| - |") in fw
    assert ("| SAMD21G18 (Cortex-M0+, 32 KB SRAM; Arduino Zero) (cortex-m0plus, 48 MHz) | -Os, -O2 | failed: RAM "
            "overflowed by 12,345 bytes (12.1 KB) | - |") in fw


def test_the_fit_table_uses_the_linked_firmware(fw, md):
    assert "### Does it fit? (linked firmware)" in fw and "Left out of the estimate" not in fw
    int8 = next(line for line in fw.splitlines() if line.startswith("| TensorFlow -> tflite int8 | fits"))
    assert int8.endswith("| fits (+1995 / +262.8) | no Arm core (xtensa-lx7) | **no**: RAM overflowed by 12,345 "
                         "bytes (12.1 KB) |")
    assert "**no** (" not in int8.split("|")[4]  # the ESP32-S3 cell: no Arm core, not "no"
    # TFLite Micro's fit stays an estimate, labelled as one.
    tflm = section(md, "TFLite Micro")
    assert "### Does it fit? (an estimate: model + arena, the runtime's code left out)" in tflm
    assert "Left out of the estimate: fit counts the model bytes" in tflm


def test_the_plan_and_flash_stand_beside_tflite_micros(fw):
    assert "### Generated plan beside TFLite Micro" in fw
    assert "| TensorFlow -> tflite int8 | 848 | 2,680 | 0.32x | 848 | 1 / 0 | 51,152 | 54,568 | 53.1-53.8 |" in fw
    assert "| TensorFlow -> tflite float32 | 3,392 | 4,552 | 0.75x |" in fw
    # The plan is exact: nothing to confirm, unlike a bisected arena.
    assert "| TensorFlow -> tflite int8 | ok | 0.7500 (+0.00) | 100.00% | 848 | 784 / 10 | 51,152 |" in fw


def test_latency_is_labelled_an_estimate_with_its_source(fw):
    assert "**Latency is an ESTIMATE, not a measurement**: instructions x the core's cycles-per-instruction" in fw
    assert "exact counts from QEMU's -icount to 40 instructions" in fw and "models no pipeline, caches" in fw
    assert "- cortex-m4: CPI 1-2, Arm Cortex-M4 TRM (DDI 0439)" in fw
    assert "- cortex-m7: CPI 0.5-1.5, Arm Cortex-M7 TRM (DDI 0489)" in fw


def test_html_chart_and_csv(tmp_path):
    shutil.copy(FIXTURE / "results.json", tmp_path)
    plots = write_reports(results.load(tmp_path), tmp_path, figures=True)
    assert plots["firmware_layers"] == "plots/firmware_layers.png"
    assert (tmp_path / "plots" / "firmware_layers.png").stat().st_size > 5000
    md = (tmp_path / "report.md").read_text()
    assert "![Instructions per layer on the emulated core](plots/firmware_layers.png)" in md
    assert ("Instructions per layer of TensorFlow -> tflite int8 on nRF52840 (Arduino Nano 33 BLE Sense) "
            "(cortex-m4, -Os)") in md
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(re.findall(r"^!\[", md, re.M))
    for figure in ("0 of 3,000 int8 outputs differ over 300 inputs", "est. 3.99-7.99 ms at 64 MHz", "255,600 ±40",
                   "skipped: no Arm core (xtensa-lx7)", "failed: RAM overflowed by 12,345 bytes (12.1 KB)",
                   "<td>0.32x</td>", "Latency is an ESTIMATE, not a measurement", "Arm Cortex-M4 TRM (DDI 0439)"):
        assert figure in page, figure
    rows = {(r["framework"], r["precision"]): r for r in csv.DictReader(open(tmp_path / "artifacts.csv"))}
    assert (rows["tensorflow", "int8"]["firmware_status"], rows["tensorflow", "int8"]["firmware_arena_bytes"],
            rows["tensorflow", "int8"]["firmware_accuracy"]) == ("ok", "848", "0.75")
    assert rows["tensorflow", "float16"]["firmware_status"] == "unsupported"
    assert rows["tensorflow", "int8"]["tflm_arena_bytes"] == "2680"


def test_the_chart_prefers_the_cortex_m4_os_build_and_skips_when_nothing_ran(tmp_path):
    x = F.Figures(typed(RAW)).chart_build
    assert (x.artifact.precision, x.build["core"], x.opts) == ("int8", "cortex-m4", ("-Os",))
    raw = copy.deepcopy(RAW)
    for a in raw["artifacts"]:
        for res in a["results"]:
            if res["runtime"] == "firmware" and res["status"] == "ok":
                res["details"]["boards"] = [b for b in res["details"]["boards"] if b["core"] != "cortex-m4"]
    x = F.Figures(typed(raw)).chart_build
    assert (x.build["core"], x.opts) == ("cortex-m7", ("-Os",))  # the first build with layers
    for a in raw["artifacts"]:
        for res in a["results"]:
            if res["runtime"] == "firmware" and res["status"] == "ok":
                for b in res["details"]["boards"]:
                    b.pop("layers", None)
    r = typed(raw)
    assert F.Figures(r).chart_build is None
    assert "firmware_layers" not in write_reports(r, tmp_path, figures=True)
    assert not (tmp_path / "plots" / "firmware_layers.png").exists()
    assert "Instructions per layer" not in (tmp_path / "report.md").read_text()


def test_a_run_without_firmware_renders_as_before(tmp_path):
    raw = without_firmware(RAW)
    before = render(typed(raw))
    assert "edgebench firmware" not in before and "On each board" not in before and "ESTIMATE" not in before
    assert before == render(results.load(FIXTURE.parent / "runs" / "v1-run-tf-pytorch"))
    plots = write_reports(typed(raw), tmp_path, figures=True)
    assert "firmware_layers" not in plots
    header = (tmp_path / "artifacts.csv").read_text().splitlines()[0]
    assert "firmware_" not in header


def test_firmware_whose_every_artifact_was_unsupported_is_one_line_each():
    raw = copy.deepcopy(RAW)
    for a in raw["artifacts"]:
        for i, res in enumerate(a["results"]):
            if res["runtime"] == "firmware" and res["status"] == "ok":
                a["results"][i] = {"runtime": "firmware", "role": "microcontroller", "status": "unsupported",
                                   "reference": "tflm", "error": "not supported by the generator: op GATHER"}
    v = build(typed(raw))
    (mc,) = [m for m in v.microcontrollers if m.firmware is not None or "firmware" in str(m.title)]
    assert mc.firmware is None and not mc.board_headers
    assert all(str(row[1]) == "unsupported: not supported by the generator: op GATHER" or "float16" in str(row[0])
               or "dynamic" in str(row[0]) for row in mc.rows)
    assert "firmware_layers" not in render(typed(raw))


def test_names_and_messages_from_the_firmware_records_stay_text(tmp_path):
    """A board, core, error, CPI source, layer op or folder holding markup is shown as text."""
    from tests.injection import assert_md_tables_intact
    from tests.unit.test_report_injection import IMG, PIPE_MESSAGE, SVG, _assert_no_live_markup

    raw = copy.deepcopy(RAW)
    res = firmware_of(raw, "int8")
    boards = res["details"]["boards"]
    boards[0].update(board=f"nRF {IMG} | *x*", core=f"cortex-m4{SVG}", cpi_source=f"TRM {SVG}", dir=f"a/{SVG}/b")
    boards[0]["layers"][0]["op"] = f"OP{IMG}"
    boards[-1]["error"] = PIPE_MESSAGE
    res["fit"][3]["reason"] = f"no Arm core {IMG}"
    res["details"]["exact"]["reference"] = f"ref{SVG}"
    firmware_of(raw, "float16")["error"] = PIPE_MESSAGE
    (tmp_path / "results.json").write_text(json.dumps(raw))
    write_reports(results.load(tmp_path), tmp_path, figures=True)
    text = (tmp_path / "report.md").read_text()
    assert assert_md_tables_intact(text) > 5
    assert "<img" not in text and "<svg" not in text
    _assert_no_live_markup((tmp_path / "report.html").read_text())
