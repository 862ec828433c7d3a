"""The generated firmware as a microcontroller runtime (registry name "firmware"), run in a worker
child on one .tflite artifact:

1. generate interpreter-free C from the file (codegen); an op without a kernel is an
   "unsupported" row naming it;
2. build that C for this machine (cc) and run it on every test input: its outputs against TFLite
   Micro's on the same inputs (the number of int8 outputs that differ: bit-exact means 0), and
   accuracy and agreement as for any runtime;
3. for each board with an Arm core: link the same C with a startup file and a linker script sized
   to the board (-Os, and -O2), read flash and static RAM from the ELF, and run a sample of the
   inputs on the core's QEMU machine with -icount: outputs against the host build's, instructions
   per inference and per layer, the stack's peak; latency at the board's clock as an estimate.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import numpy as np

from edgebench.runtimes.base import dequantize, input_layout, quantize, to_artifact_input

OPTS = ("-Os", "-O2")  # -Os: the build a board ships (its figures decide the fit); -O2 beside it, on the reference core
REFERENCE_CORE = "cortex-m4"  # its -Os build runs the whole sample (--emulate-samples) against the host build
SPOT_SAMPLES = 5  # inputs every other build runs (instruction counts barely depend on the input)
NO_CC = "no host C compiler (cc) to build the generated C for the host check: apt-get install gcc"


def microcontroller_check(task, ds):
    from edgebench.firmware import codegen
    from edgebench.firmware.graph import Unsupported
    from edgebench.pipeline.jobs import Outcome
    from edgebench.version import __version__

    path, out = Path(task.file), Path(task.c_dir)
    model = path.read_bytes()
    # Compared with TFLite Micro's outputs where it ran the file (else the host runtime's: _compare).
    result: dict = {"runtime_version": __version__, "reference": task.reference_runtime or None}
    details: dict = {}
    t0 = time.perf_counter()
    try:
        gen = codegen.generate(model, out / "model")
    except Unsupported as e:
        return Outcome("unsupported", record={**result, "error": f"not supported by the generator: {e}"})
    details["generator"] = {"layers": gen.layers, "constant_bytes": gen.constant_bytes,  # ops: details["ops"]
                            "generation_s": round(time.perf_counter() - t0, 3), "dir": _rel(out / "model", task)}
    details["plan"] = _plan(gen.plan, task.reference_figures)
    result.update(ram_bytes=gen.plan["arena_bytes"], flash_bytes=gen.constant_bytes, ops=list(gen.ops),
                  io={"input": _io(gen.input), "output": _io(gen.output)}, details=details)
    if shutil.which("cc") is None:
        return Outcome("skipped", record={**result, "error": NO_CC})
    x = _inputs(model, ds.x_test, task)
    raw = _host(gen, out, x, details)
    logits = _logits(raw, gen.output)
    if task.outputs_path:
        np.save(task.outputs_path, logits)
    _compare(result, logits, task, ds, gen.output)
    if getattr(task, "layer_samples", 0):
        result["layers"] = _layer_table(task, path, out, ds)
    details["boards"], result["fit"] = boards(gen, out, task, x, raw, details["exact"].get("tolerance"))
    return Outcome("ok", record=result)


class _HostDump:
    """The generated C on this machine, every layer's output written after it runs (host.build_host_dump):
    what runtime_pair_table compares with the reference runtime's tensors."""

    def __init__(self, exe: Path, model: bytes, task):
        from ai_edge_litert.interpreter import Interpreter

        self.exe, self.model, self.task = exe, model, task
        self.quant = {str(t["index"]): t["quantization"] for t in Interpreter(model_content=model).get_tensor_details()}

    def layer_outputs(self, x: np.ndarray, keys: list[str]):
        from edgebench.firmware.host import run_host_dump

        raw = run_host_dump(self.exe, _inputs(self.model, x, self.task))
        got = {k: dequantize(raw[int(k)], *self.quant[k]) for k in keys}
        last = list(raw)[-1]
        return got, dequantize(raw[last], *self.quant[str(last)])

    @staticmethod
    def layer_note() -> str:
        return "the generated C built for this machine, each layer's output written after it runs (-DEB_DUMP)"


def _layer_table(task, path: Path, out: Path, ds) -> dict:
    """Each tensor the generated C writes against the reference runtime's (TFLite Micro where it ran
    the file, else LiteRT), on the first layer_samples inputs: where they start to differ. A
    failure is recorded, never fatal."""
    import json
    import traceback

    from edgebench.firmware.host import build_host_dump
    from edgebench.measure.layer_table import runtime_pair_table
    from edgebench.runtimes.litert import LiteRTSession
    from edgebench.runtimes.tflm import TFLMSession

    try:
        exe = build_host_dump(out / "model", out / "host-dump")
        written = {str(x["tensor"]) for x in json.loads((out / "model" / "model.json").read_text())["layers"]}
        litert = LiteRTSession(path, threads=1)
        tensors = [t for t in litert.layer_tensors() if t.key in written]
        reference, name = (TFLMSession(path), "tflm") if task.reference_runtime == "tflm" else (litert, "litert")
        x = np.asarray(ds.x_test[:task.layer_samples], np.float32)
        if getattr(task, "input_shape", None):
            x = x.reshape(len(x), *task.input_shape)
        table = runtime_pair_table(reference, _HostDump(exe, path.read_bytes(), task), x, name, tensors)
        table["note"] = (f"compared at the {len(tensors)} tensors the generated C writes (an op it fuses into "
                         "the one before, such as an ADD into its convolution, has no tensor of its own)")
        return table
    except Exception as e:
        traceback.print_exc()
        return {"error": f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"}


def _io(t: dict) -> dict:
    """A tensor's description as every runtime's io records it (dtype, scale, zero point, shape, bytes)."""
    shape = [int(d) for d in t["shape"]]
    return {**t, "shape": shape, "bytes": int(np.prod(shape)) * np.dtype(t["dtype"]).itemsize}


def _rel(p: Path, task) -> str:
    try:
        return str(p.relative_to(Path(task.run_dir)))
    except ValueError:
        return str(p)


def _plan(plan: dict, reference: dict) -> dict:
    """The generated plan, beside the reference runtime's RAM (TFLite Micro's bisected arena)."""
    tflm = reference.get("ram_bytes") if reference.get("status") == "ok" else None
    return {**plan, "lower_bound_bytes": plan.get("peak_lower_bound"), "tflm_arena_bytes": tflm,
            "ratio_to_tflm": round(plan["arena_bytes"] / tflm, 4) if tflm else None}


def _inputs(model: bytes, x_test: np.ndarray, task) -> np.ndarray:
    """The test images as the file's input tensor takes them, quantized exactly as the TFLite Micro
    runtime quantizes them (runtimes/tflm.py TFLMSession.prepare), so both see the same bytes."""
    from ai_edge_litert.interpreter import Interpreter

    d = Interpreter(model_content=model).get_input_details()[0]
    shape = [int(s) for s in d["shape"]]
    x = np.asarray(x_test, np.float32)
    if getattr(task, "input_shape", None):
        x = x.reshape(len(x), *task.input_shape)
    scale, zero_point = d["quantization"]
    x = to_artifact_input(x, shape, input_layout(shape))
    return quantize(x, d["dtype"], scale, zero_point)


def _host(gen, out: Path, x: np.ndarray, details: dict) -> np.ndarray:
    from edgebench.firmware import host
    from edgebench.worker import emit

    emit("bench", what="host build of the generated C")
    t0 = time.perf_counter()
    exe = host.build_host(gen.dir, out / "host")
    t1 = time.perf_counter()
    raw = host.run_host(exe, x)
    details["host_build"] = {"build_s": round(t1 - t0, 3), "run_s": round(time.perf_counter() - t1, 3),
                             "compiler": "cc " + " ".join(host.CFLAGS), "inputs": int(len(x))}
    return raw


def _logits(raw: np.ndarray, output: dict) -> np.ndarray:
    raw = raw.reshape(len(raw), -1)
    if np.dtype(output["dtype"]).kind in "iu" and output.get("scale"):
        return dequantize(raw, output["scale"], output["zero_point"])
    return raw.astype(np.float32)


def _reference(task) -> tuple[str, np.ndarray]:
    """TFLite Micro's outputs on the same inputs where it ran the file, else the host runtime's."""
    ref = Path(task.reference_outputs) if task.reference_outputs else None
    if ref is not None and ref.is_file():
        return task.reference_runtime, np.load(ref)
    return "", np.load(task.reference_logits)


def _compare(result: dict, logits: np.ndarray, task, ds, output: dict) -> None:
    from edgebench.runtimes.tflm import _agreement

    name, ref = _reference(task)
    result["reference"] = name or None
    integer = np.dtype(output["dtype"]).kind in "iu" and bool(output.get("scale"))
    od = {"quantization": (output.get("scale") or 0.0, output.get("zero_point") or 0), "dtype": output["dtype"]}
    _agreement(result, logits, ref, ds, od, getattr(task, "task", "classification"))
    against = name or "the host runtime"
    if integer:
        steps = np.rint(np.abs(logits.astype(np.float64) - ref) / output["scale"]).astype(np.int64)
        result["details"]["exact"] = {
            "reference": against, "inputs": int(len(steps)), "outputs_compared": int(steps.size),
            "differing_outputs": int(np.count_nonzero(steps)),
            "inputs_with_difference": int(np.count_nonzero(steps.max(axis=1))),
            "max_diff_steps": int(steps.max()), "bit_exact": bool(steps.max() == 0)}
    else:
        from edgebench.measure.parity import tolerance_for
        from edgebench.models.network import model_of

        tol = tolerance_for("float32", model_of(task.network)).max_diff_of_range * float(np.ptp(ref))
        diff = float(np.abs(logits.astype(np.float64) - ref).max())
        result["details"]["exact"] = {"reference": against, "inputs": int(len(logits)), "max_abs_diff": diff,
                                      "tolerance": max(tol, 1e-5), "within": diff <= max(tol, 1e-5)}


# ---- boards: link per board, emulate per core ----------------------------------------------------

def boards(gen, out: Path, task, x: np.ndarray, host_raw: np.ndarray,
           tolerance: float | None = None) -> tuple[list[dict], list[dict]]:
    """One entry per board at -Os (the build a board ships: its linked figures decide the fit), one
    -O2 build of the reference core, and the boards' fit. Boards that share a core run the same code: the first
    board's build of a core is emulated, the others reuse its counts (their ELFs differ only in the
    memory sizes the linker checks). The reference core (a Cortex-M4 where a board has one) runs the
    whole sample; the other builds run SPOT_SAMPLES of it. Integer outputs must equal the host
    build's; float ones (another libm, another FPU) must be within `tolerance` of them."""
    from edgebench.firmware import cross
    from edgebench.measure.boards import Board

    rows, fits, emulated = [], [], {}
    missing = cross.missing_tool()
    arm = [b for b in (Board(**d) for d in task.boards) if b.arm]
    reference = next((b.core for b in arm if b.core == REFERENCE_CORE), arm[0].core if arm else None)
    o2_cores: set[str] = set()
    all_boards = [Board(**d) for d in task.boards]
    folders = folder_names([b.name for b in all_boards])
    for b in all_boards:
        for opt in OPTS:
            if opt != OPTS[0] and (not b.arm or missing or b.core != reference or b.core in o2_cores):
                continue  # -O2: on the reference core only, once, beside its -Os build
            row = _board_row(b, opt)
            if not b.arm:
                row.update(status="skipped", error=f"no Arm core ({b.core or 'core not given'})")
            elif missing:
                row.update(status="skipped", error=missing)
            else:
                n = task.emulate_samples if (b.core, opt) == (reference, OPTS[0]) else min(SPOT_SAMPLES,
                                                                                        task.emulate_samples)
                fw_dir = out / f"{folders[b.name]}{opt}"
                _build_and_run(row, gen, fw_dir, task, b, opt, (x[:n], host_raw[:n], tolerance), emulated)
                if opt != OPTS[0]:
                    o2_cores.add(b.core)
            rows.append(row)
            if opt == OPTS[0]:
                fits.append(_fit(b, row))
    return rows, fits


def _board_row(b, opt: str) -> dict:
    return {"board": b.name, "core": b.core, "clock_mhz": b.clock_mhz, "opt": opt, "status": "ok"}


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "-", name.split(" (")[0]).strip("-").lower() or "board"


def folder_names(names: list[str]) -> dict[str, str]:
    """A firmware folder name per board: its name's slug, numbered where two boards share one."""
    out: dict[str, str] = {}
    for name in names:
        slug, n = _slug(name), 2
        while (slug if n == 2 else f"{slug}-{n - 1}") in out.values():
            n += 1
        out[name] = slug if n == 2 else f"{slug}-{n - 1}"
    return out


def _build_and_run(row: dict, gen, fw_dir: Path, task, b, opt: str, sample, emulated: dict) -> None:
    from edgebench.firmware import cross
    from edgebench.worker import emit

    emit("bench", what=f"firmware for {b.name} ({opt})")
    build = cross.build(gen.dir, fw_dir, b, opt)
    row.update(dir=_rel(fw_dir, task), build_s=round(build.build_s, 3), cflags=build.cflags,
               machine=build.machine)
    if build.error:
        row.update(status="failed", error=build.error)
        return
    row.update(flash_bytes=build.flash_bytes, static_ram_bytes=build.static_ram_bytes,
               **{f"{k}_bytes": v for k, v in build.sections.items()})
    key = (b.core, opt)
    if key not in emulated:
        emulated[key] = _emulate(build, b, *sample, gen)
        emulated[key]["emulated_on"] = b.name
    em = emulated[key]
    row.update({k: v for k, v in em.items() if k != "emulated_on"})
    if em["emulated_on"] != b.name:
        row["emulated_on"] = em["emulated_on"]
    if row.get("stack_bytes") is not None and build.static_ram_bytes is not None:
        row["ram_bytes"] = build.static_ram_bytes + row["stack_bytes"]
    if row.get("instructions") and b.clock_mhz:
        est = cross.latency_estimate(row["instructions"], b.core, b.clock_mhz)
        if est:
            row.update(latency_estimate_ms=[est[0], est[1]], cpi_source=est[2])
    cross.write_readme(fw_dir, {**row, "resolution": row.get("counting")})


def _emulate(build, b, x: np.ndarray, host_raw: np.ndarray, tolerance: float | None, gen) -> dict:
    """Run the sample on the core's QEMU machine: outputs, instructions, stack; a failure is a row."""
    from edgebench.firmware import qemu

    macs = sum(layer.get("macs") or 0 for layer in gen.layers)
    timeout = 60 + 40 * macs * max(len(x), 1) / 20e6  # <= 40 instructions a MAC at >= 20 M instructions/s
    t0 = time.perf_counter()
    em = qemu.emulate(build, b.core, x, timeout_s=timeout)
    figures = {"emulation_s": round(time.perf_counter() - t0, 3), "samples": int(len(x))}
    if em.error:
        return {**figures, "status": "failed", "error": em.error}
    outputs = em.output_array(host_raw.dtype).reshape(host_raw.shape)
    diff = float(np.abs(outputs.astype(np.float64) - host_raw).max()) if outputs.size else None
    counts = np.asarray(em.instructions, dtype=np.int64)
    median = float(np.median(counts))
    figures.update(
        outputs_equal_host=bool(np.array_equal(outputs, host_raw)),
        differing_outputs_vs_host=int(np.count_nonzero(outputs != host_raw)), max_abs_diff_vs_host=diff,
        outputs_within_tolerance=None if outputs.dtype.kind in "iu" or tolerance is None or diff is None
        else diff <= tolerance,
        instructions=int(median), instructions_min=int(counts.min()), instructions_max=int(counts.max()),
        # Instructions a timer tick spans, rounded up: 1 (exact) when a tick is shorter than an instruction.
        instruction_resolution=max(1, math.ceil(em.instructions_per_tick or 1)), counting=em.resolution,
        qemu_command=em.command, stack_bytes=em.stack_peak_bytes, repeat_identical=em.repeat_identical,
        instructions_per_mac=round(median / macs, 3) if macs else None,
        layers=_layers(em.layer_instructions, gen.layers))
    return figures


def _layers(counts: list[int], layers: list[dict]) -> list[dict]:
    out = []
    for layer, n in zip(layers, counts):
        macs = layer.get("macs") or 0
        out.append({"index": layer["index"], "op": layer["op"], "instructions": int(n), "macs": macs,
                    "instructions_per_mac": round(n / macs, 3) if macs else None})
    return out


def _fit(b, row: dict) -> dict:
    fit = {"board": b.name, "basis": "linked"}
    if row["status"] == "skipped" and not b.arm:
        return {**fit, "fits": None, "reason": row["error"]}
    if row.get("flash_bytes") is None:
        return {**fit, "fits": False if row["status"] == "failed" else None, "reason": row.get("error")}
    ram = row.get("ram_bytes") or row.get("static_ram_bytes") or 0
    flash_left, ram_left = b.flash_kb - row["flash_bytes"] / 1024, b.ram_kb - ram / 1024
    return {**fit, "fits": flash_left >= 0 and ram_left >= 0, "flash_headroom_kb": round(flash_left, 2),
            "ram_headroom_kb": round(ram_left, 2)}
