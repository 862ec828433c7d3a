"""Run a linked firmware on QEMU's model of its core: outputs, instruction counts, stack peak.

    qemu-system-arm -M <machine> -icount shift=7 -semihosting-config enable=on,target=native
                    -nographic -monitor none -serial none -kernel firmware.elf

runs in a temporary folder holding inputs.bin; the harness (templates/main.c) writes outputs.bin
and stats.bin there through semihosting.

Counting. With -icount shift=S, QEMU's virtual clock advances exactly 2**S ns per executed
instruction, and the CMSDK APB timer 0 that the harness reads is clocked from that virtual clock
(25 MHz on the MPS2 machines: one tick every 40 ns; 20 MHz on the SSE-200 ones: 50 ns). At shift=0 a
tick is 40 instructions, at shift=3 five. At shift=7 (128 ns an instruction) every instruction
advances the timer by 3.2 ticks (2.56 at 20 MHz), more than 2, so a span of n instructions reads
as a tick count within one tick of n x 3.2 and n = round(ticks / 3.2) is EXACT, to one
instruction, with no need to synchronise to a tick edge. The 32-bit timer wraps after about
1.34e9 instructions (1.68e9 at 20 MHz); the harness also reads the CMSDK dual timer divided by 256
(one tick every 80 instructions, wrapping after 3.4e11) and the host counts the fine timer's wraps
from it, so longer spans stay exact. The same ELF run twice gives the same counts (the virtual
clock depends on nothing but the instructions executed).

What a count covers: instructions per inference run from the timer read before model_invoke to
the read after it (model_invoke and a few instructions of call and read), less the layer marks'
own instructions (measured by two back-to-back marks at start-up). A layer's count runs from its
mark to the next one, less one mark. "other" = total - sum(layers): copying the input in and the
output out, and those few instructions of call overhead. Counts are instructions, not cycles.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.firmware.cross import ICOUNT_SHIFT as SHIFT
from edgebench.firmware.cross import MACHINES, Build, qemu_command

QEMU_HINT = "Debian: apt-get install qemu-system-arm"
_WRAP = 1 << 32
_COARSE_DIVIDER = 256
NOT_EMULATED = {
    "cortex-m55": "mps3-an547 (SSE-300) has no CMSDK APB timer on the virtual clock to count with (its SSE "
                  "timers differ); not worked out",
}
_EXIT_REASONS = {2: "the firmware's semihosting I/O failed", 3: "hard fault", 4: "unexpected exception or fault"}


@dataclass(frozen=True)
class Emulation:
    """What one QEMU run of a firmware gave (or the one-line reason it gave nothing: `error`)."""
    core: str | None
    machine: str | None
    outputs: bytes = b""  # N x output bytes, in input order
    output_bytes: int = 0
    instructions: list = field(default_factory=list)  # per inference
    layer_instructions: list = field(default_factory=list)  # the first inference's count per layer
    per_inference_layers: list = field(default_factory=list)  # per inference: one count per layer
    other_instructions: list = field(default_factory=list)  # per inference: total - sum(layers)
    repeat_identical: bool | None = None  # a second run of the first input gave the same counts
    stack_peak_bytes: int | None = None
    shift: int = SHIFT
    instructions_per_tick: float | None = None
    resolution: str = ""
    command: str = ""
    wall_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def output_array(self, dtype="int8"):
        import numpy as np
        n = len(self.instructions)
        return np.frombuffer(self.outputs, dtype=dtype).reshape(n, -1) if n else np.zeros((0, 0), dtype)


def resolution_note(machine) -> tuple[float, str]:
    tick_ns = 1e9 / machine.timer_hz
    per_tick = (1 << SHIFT) / tick_ns
    return 1 / per_tick, (f"exact to 1 instruction (-icount shift={SHIFT}: {per_tick:g} timer ticks an "
                          f"instruction on {machine.name}); layer and total counts include a few "
                          f"instructions of call overhead")


def _run(cmd: list[str], cwd: Path, timeout_s: float) -> tuple[int | None, str]:
    """Run QEMU in its own process group; (exit status or None on timeout, its output)."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, ""


def _words(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 4}I", data[: len(data) // 4 * 4]))


def _span(fine_a: int, fine_b: int, coarse_a: int, coarse_b: int) -> int:
    """Fine ticks between two readings of the down-counting timers: the fine count modulo 2**32, with
    its wraps counted from the coarse timer (the dual timer divided by 256)."""
    fine, coarse = (fine_a - fine_b) % _WRAP, ((coarse_a - coarse_b) % _WRAP) * _COARSE_DIVIDER
    return fine + round((coarse - fine) / _WRAP) * _WRAP


def _decode_stats(words: list[int], ticks_to_insn) -> dict:
    """Per-inference counts and the stack peak from stats.bin's words (see templates/main.c)."""
    if len(words) < 9 or words[0] != 0x31534245 or words[-3] != 0x444E4245:
        raise ValueError("stats.bin is incomplete or not the harness's")
    layers, out_bytes = words[1], words[3]
    mark = ticks_to_insn((words[4] - words[5]) % _WRAP)
    body, half = words[6:-3], layers + 3
    if len(body) % (2 * half):
        raise ValueError("stats.bin holds a partial inference record")
    totals, per_layer, other = [], [], []
    for i in range(0, len(body), 2 * half):
        fine, coarse = body[i: i + half], body[i + half: i + 2 * half]
        counts = [ticks_to_insn(_span(fine[j], fine[j + 1], coarse[j], coarse[j + 1])) - mark
                  for j in range(1, layers + 1)]
        total = ticks_to_insn(_span(fine[0], fine[-1], coarse[0], coarse[-1])) - (layers + 1) * mark
        totals.append(total)
        per_layer.append(counts)
        other.append(total - sum(counts))
    return dict(instructions=totals, layer_instructions=per_layer[0] if per_layer else [],
                per_inference_layers=per_layer, other_instructions=other,
                stack_peak_bytes=words[-2], output_bytes=out_bytes)


def _failure(rc: int | None, log: str, timeout_s: float, core: str) -> str:
    if rc is None:
        return f"QEMU did not finish within {timeout_s:g} s (killed)"
    detail = next((ln.strip() for ln in reversed(log.splitlines()) if ln.strip()), "")
    what = _EXIT_REASONS.get(rc)
    if what:
        return f"{what} on the emulated {core}" + (f": {detail[:200]}" if detail else "")
    return f"QEMU exited with status {rc}" + (f": {detail[:200]}" if detail else "")


def _run_once(cmd: list[str], data: bytes, timeout_s: float, core: str,
              insn_per_tick: float) -> tuple[dict, str | None]:
    """One QEMU run in a temporary folder holding inputs.bin: (figures, error)."""
    with tempfile.TemporaryDirectory(prefix="eb-qemu-") as tmp:
        (Path(tmp) / "inputs.bin").write_bytes(data)
        start = time.perf_counter()
        rc, log = _run(cmd, Path(tmp), timeout_s)
        wall = {"wall_s": time.perf_counter() - start}
        if rc != 0:
            return wall, _failure(rc, log, timeout_s, core)
        try:
            stats = _decode_stats(_words((Path(tmp) / "stats.bin").read_bytes()),
                                  lambda ticks: round(ticks * insn_per_tick))
            return {**wall, **stats, "outputs": (Path(tmp) / "outputs.bin").read_bytes()}, None
        except (OSError, ValueError) as exc:
            return wall, f"the firmware's results are unreadable: {exc}"


def emulate(build_or_elf, core: str | None = None, inputs=b"", timeout_s: float = 120.0,
            repeat: bool = True) -> Emulation:
    """Run the firmware (a cross.Build, or an ELF path with its core) on `inputs` (bytes, or an array whose
    bytes are the N inputs back to back). With `repeat`, QEMU runs the first input once more and
    `repeat_identical` says whether its counts (total and per layer) came out the same."""
    if isinstance(build_or_elf, Build):
        elf, core = build_or_elf.elf, core or build_or_elf.core
        if not build_or_elf.ok:
            return Emulation(core, None, error=f"no firmware to run: {build_or_elf.error}")
    else:
        elf = Path(build_or_elf)
    machine = MACHINES.get(core or "")
    if machine is None:
        why = NOT_EMULATED.get(core or "", f"no QEMU machine model set up for {core}")
        return Emulation(core, None, error=f"not supported on QEMU here: {why}")
    qemu = shutil.which("qemu-system-arm")
    if qemu is None:
        return Emulation(core, machine.name, error=f"qemu-system-arm not found on PATH ({QEMU_HINT})")
    data = inputs.tobytes() if hasattr(inputs, "tobytes") else bytes(inputs)
    insn_per_tick, resolution = resolution_note(machine)
    cmd = qemu_command(machine.name, Path(elf).resolve(), qemu)
    base = dict(core=core, machine=machine.name, instructions_per_tick=insn_per_tick, resolution=resolution,
                command=" ".join(qemu_command(machine.name, Path(elf).name)))
    figures, error = _run_once(cmd, data, timeout_s, core, insn_per_tick)
    if error is None and repeat and figures["instructions"]:
        one = len(data) // len(figures["instructions"])
        again, error = _run_once(cmd, data[:one], timeout_s, core, insn_per_tick)
        if error is None:
            figures["repeat_identical"] = (again["instructions"][0], again["layer_instructions"]) == \
                (figures["instructions"][0], figures["layer_instructions"])
    if error is not None:
        return Emulation(**base, wall_s=figures.get("wall_s", 0.0), error=error)
    return Emulation(**base, **figures)
