"""Writes results.json here: tests/data/runs/v1-run-tf-pytorch/results.json (a real run, migrated
to schema 2 by results.parse) with a "firmware" result (the generated C, issue 29) added to each
.tflite artifact, shaped as firmware/check.py writes it. The figures are made up but consistent
(instructions x CPI / clock = the estimate; flash and RAM against each board's sizes = the fit):

- TensorFlow int8: ok, bit-exact with TFLite Micro; boards: three ok at -Os and -O2 (Cortex-M4,
  M7, M0+), ESP32-S3 skipped (no Arm core), SAMD21 failed to link (RAM overflowed by 12,345 bytes);
- PyTorch int8: ok, bit-exact, every Arm board ok (the M0+ boards share one emulation);
- TensorFlow and PyTorch float32: ok, within the float tolerance;
- TensorFlow float16 and int8-dynamic: unsupported (the op named).

Run from the repository root: python tests/data/firmware/make_results.py
"""

import json
from pathlib import Path

from edgebench.firmware.cross import latency_estimate
from edgebench.results import parse

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "runs" / "v1-run-tf-pytorch" / "results.json"
OPTS = ("-Os", "-O2")
MACHINES = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m0plus": "mps2-an385"}
# Instructions per layer (FULLY_CONNECTED 0: 50,176 MACs; FULLY_CONNECTED 1: 640) by (core, opt, int8?).
LAYER_INSTRUCTIONS = {
    ("cortex-m4", "-Os", True): (251_200, 4_120), ("cortex-m4", "-O2", True): (200_720, 3_480),
    ("cortex-m7", "-Os", True): (251_240, 4_120), ("cortex-m7", "-O2", True): (200_760, 3_480),
    ("cortex-m0plus", "-Os", True): (351_240, 5_200), ("cortex-m0plus", "-O2", True): (301_080, 4_600),
    ("cortex-m4", "-Os", False): (301_120, 4_360), ("cortex-m4", "-O2", False): (251_000, 3_760),
    ("cortex-m7", "-Os", False): (301_160, 4_360), ("cortex-m7", "-O2", False): (251_040, 3_760),
    ("cortex-m0plus", "-Os", False): (4_516_880, 58_240), ("cortex-m0plus", "-O2", False): (4_014_720, 51_840),
}
LAYERS = [{"index": 0, "op": "FULLY_CONNECTED", "name": "dense_0", "macs": 50_176, "output_shape": [1, 64]},
          {"index": 1, "op": "FULLY_CONNECTED", "name": "dense_1", "macs": 640, "output_shape": [1, 10]}]
OVERFLOW = "RAM overflowed by 12,345 bytes (12.1 KB)"


def board_row(board: dict, opt: str, int8: bool, stem: str, framework: str, emulated: dict,
              fail: str | None) -> dict:
    row = {"board": board["name"], "core": board["core"], "clock_mhz": board["clock_mhz"], "opt": opt, "status": "ok"}
    if not board["core"].startswith("cortex-m"):
        return {**row, "status": "skipped", "error": f"no Arm core ({board['core']})"}
    slug = board["name"].split(" (")[0].lower()
    row.update(dir=f"{framework}/firmware/{stem}/{slug}{opt}", build_s=0.41 if opt == "-Os" else 0.44,
               cflags=f"-mcpu={board['core']} -mthumb {opt}", machine=MACHINES[board["core"]])
    if board["name"] == fail:
        return {**row, "status": "failed", "error": OVERFLOW}
    constants = 51_152 if int8 else 203_560
    text = (3_184 if opt == "-Os" else 3_912) + (0 if int8 else 1_420)
    data, bss = 8, (864 if int8 else 3_408)
    row.update(flash_bytes=text + constants + data, text_bytes=text, rodata_bytes=constants, data_bytes=data,
               bss_bytes=bss, static_ram_bytes=data + bss)
    layers = LAYER_INSTRUCTIONS[(board["core"], opt, int8)]
    total = sum(layers) + (280 if int8 else 920)  # copying the input in and the output out
    key = (board["core"], opt)
    em = {"samples": 100 if opt == "-Os" else 10, "outputs_equal_host": True, "repeat_identical": True,
          "instructions": total, "instructions_min": total, "instructions_max": total + (40 if int8 else 0),
          "instruction_resolution": 40, "stack_bytes": 312 if int8 else 344,
          "instructions_per_mac": round(total / 50_816, 3), "emulation_s": 1.9 if opt == "-Os" else 0.4,
          "layers": [{"index": x["index"], "op": x["op"], "instructions": n, "macs": x["macs"],
                      "instructions_per_mac": round(n / x["macs"], 3)} for x, n in zip(LAYERS, layers)]}
    row.update(em)
    if key in emulated:
        row["emulated_on"] = emulated[key]
    emulated.setdefault(key, board["name"])
    row["ram_bytes"] = row["static_ram_bytes"] + row["stack_bytes"]
    low, high, source = latency_estimate(total, board["core"], board["clock_mhz"])
    row.update(latency_estimate_ms=[low, high], cpi_source=source)
    return row


def fit(board: dict, row: dict) -> dict:
    out = {"board": board["name"], "basis": "linked"}
    if row["status"] == "skipped":
        return {**out, "fits": None, "reason": row["error"]}
    if row["status"] == "failed":
        return {**out, "fits": False, "reason": row["error"]}
    flash_left = board["flash_kb"] - row["flash_bytes"] / 1024
    ram_left = board["ram_kb"] - row["ram_bytes"] / 1024
    return {**out, "fits": flash_left >= 0 and ram_left >= 0, "flash_headroom_kb": round(flash_left, 2),
            "ram_headroom_kb": round(ram_left, 2)}


def firmware(a, boards: list[dict]) -> dict:
    tflm = a.result("tflm")
    stem = Path(a.file).stem
    base = {"runtime": "firmware", "role": "microcontroller", "runtime_version": "0.29.0",
            "reference": "tflm" if tflm.status == "ok" else "litert"}
    if a.precision == "float16":
        return {**base, "status": "unsupported",
                "error": "not supported by the generator: op DEQUANTIZE (float16 weights)"}
    if a.precision == "int8-dynamic":
        return {**base, "status": "unsupported", "error": "not supported by the generator: op FULLY_CONNECTED "
                "with float32 input and int8 weights (dynamic range quantization)"}
    int8 = a.precision == "int8"
    arena = 848 if int8 else 3_392
    tensors = ([{"name": "serving_default_input:0", "offset": 0, "bytes": 784, "first": -1, "last": 0},
                {"name": "dense_0", "offset": 784, "bytes": 64, "first": 0, "last": 1},
                {"name": "Identity", "offset": 0, "bytes": 10, "first": 1, "last": 2}] if int8 else
               [{"name": "serving_default_input:0", "offset": 0, "bytes": 3_136, "first": -1, "last": 0},
                {"name": "dense_0", "offset": 3_136, "bytes": 256, "first": 0, "last": 1},
                {"name": "Identity", "offset": 0, "bytes": 40, "first": 1, "last": 2}])
    details = {
        "generator": {"ops": ["FULLY_CONNECTED"], "layers": LAYERS, "constant_bytes": 51_152 if int8 else 203_560,
                      "generation_s": 0.08, "dir": f"{a.framework}/firmware/{stem}/model"},
        "plan": {"arena_bytes": arena, "tensors": tensors, "fused": ["RELU into FULLY_CONNECTED 0"],
                 "in_place": [], "lower_bound_bytes": arena, "tflm_arena_bytes": tflm.ram_bytes,
                 "ratio_to_tflm": round(arena / tflm.ram_bytes, 4)},
        "exact": ({"reference": "tflm", "inputs": 300, "outputs_compared": 3_000, "differing_outputs": 0,
                   "inputs_with_difference": 0, "max_diff_steps": 0, "bit_exact": True} if int8 else
                  {"reference": "tflm", "inputs": 300, "max_abs_diff": 4.76837158203125e-07,
                   "tolerance": 6.103515625e-04, "within": True}),
        "host_build": {"compiler": "cc -std=c99 -O2", "build_s": 0.35, "run_s": 0.02, "inputs": 300},
    }
    fail = "SAMD21G18 (Cortex-M0+, 32 KB SRAM; Arduino Zero)" if (a.framework, int8) == ("tensorflow", True) else None
    rows, fits, emulated = [], [], {}
    for b in boards:
        for opt in OPTS:
            rows.append(board_row(b, opt, int8, stem, a.framework, emulated, fail))
            if opt == OPTS[0]:
                fits.append(fit(b, rows[-1]))
    details["boards"] = rows
    return {**base, "status": "ok", "task": "classification", "test_samples": 300, "io": tflm.io,
            "test_accuracy": tflm.test_accuracy, "reference_test_accuracy": tflm.test_accuracy,
            "accuracy_change": 0.0, "agreement": 1.0, "disagreements": 0,
            "max_abs_diff": 0.0 if int8 else 4.76837158203125e-07, "ram_bytes": arena,
            "flash_bytes": details["generator"]["constant_bytes"], "latency_ms": None, "fit": fits,
            "details": details}


def main() -> None:
    r = parse(json.loads(SOURCE.read_text()), SOURCE)
    raw = r.model_dump(mode="json")
    for a, out in zip(r.artifacts, raw["artifacts"]):
        if a.format == "tflite":
            out["results"].append(firmware(a, raw["boards"]))
    parse(raw, "check")  # valid schema 2
    (HERE / "results.json").write_text(json.dumps(raw, indent=1) + "\n")


if __name__ == "__main__":
    main()
