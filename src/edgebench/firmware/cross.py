"""Firmware for a board's Arm core: the generated model linked with edgebench's harness.

`build(gen_dir, out_dir, board)` fills the firmware folder (the generated model.c/model.h and
kernels, the harness's main.c and startup.c, a linker script sized from the board's flash and
RAM, a Makefile with the exact flags), runs `make` in it, and reads the linked ELF's flash
(.text + .rodata + .data) and static RAM (.data + .bss) with `arm-none-eabi-size -A`. The
Makefile is what built the measured ELF: `make` in a copy of the folder gives the same bytes
(no debug info, no build id, no paths or times in the image).

Every failure is a one-line reason on the returned Build (toolchain missing, the board too small,
a compile error), never an exception. A board without an Arm core is a reason too, without a build.

The latency figures here are ESTIMATES: instructions counted on QEMU (which models no pipeline,
wait states or caches) times a cycles-per-instruction range for the core, at the board's clock.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
HARNESS_FILES = ("main.c", "startup.c")
STACK_MIN = 1024  # bytes the linker reserves for the stack after .bss; the emulator measures the peak
FLASH_SECTIONS = (".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss")
TOOLCHAIN_HINT = "Debian: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
BUILD_TIMEOUT_S = 600
ICOUNT_SHIFT = 7  # QEMU's -icount shift: 2**7 ns of virtual time an instruction (see qemu.py for why 7)


@dataclass(frozen=True)
class Machine:
    """A QEMU machine model that runs a core's code, and where its memories and timer are."""
    name: str
    flash_origin: int
    ram_origin: int
    harness_origin: int  # a memory outside the board's RAM for the harness's I/O buffers
    timer_base: int  # CMSDK APB timer 0 (the secure alias on the SSE-200 machines)
    timer_hz: int  # the timer's clock (the machine's system clock)


_MPS2 = dict(flash_origin=0x00000000, ram_origin=0x20000000, harness_origin=0x21000000, timer_base=0x40000000,
             timer_hz=25_000_000)
# ARMv6-M code (Cortex-M0/M0+) runs unchanged on the Cortex-M3 model; the instruction stream is the one built.
MACHINES = {
    "cortex-m0": Machine("mps2-an385", **_MPS2),
    "cortex-m0plus": Machine("mps2-an385", **_MPS2),
    "cortex-m3": Machine("mps2-an385", **_MPS2),
    "cortex-m4": Machine("mps2-an386", **_MPS2),
    "cortex-m7": Machine("mps2-an500", **{**_MPS2, "harness_origin": 0x60000000}),  # its PSRAM is at 0x60000000
    # SSE-200 (IoT kit) with TrustZone: boots secure from the secure alias of SSRAM1; data in SSRAM2's
    # secure alias, the harness in the PSRAM, timer 0's secure alias; 20 MHz system clock.
    "cortex-m33": Machine("mps2-an505", flash_origin=0x10000000, ram_origin=0x38000000, harness_origin=0x80000000,
                          timer_base=0x50000000, timer_hz=20_000_000),
}

# Floating point: hard float where the core has an FPU (single precision on these boards), soft otherwise.
FLOAT_FLAGS = {
    "cortex-m4": "-mfloat-abi=hard -mfpu=fpv4-sp-d16",
    "cortex-m7": "-mfloat-abi=hard -mfpu=fpv5-sp-d16",  # STM32F746: single-precision FPU
    "cortex-m33": "-mfloat-abi=hard -mfpu=fpv5-sp-d16",
    "cortex-m55": "-mfloat-abi=hard -mfpu=auto",
}


@dataclass(frozen=True)
class Build:
    """One linked firmware (or the one-line reason there is none: `error`)."""
    board: str
    core: str | None
    opt: str
    fw_dir: Path | None = None
    elf: Path | None = None
    machine: str | None = None
    flash_bytes: int | None = None  # .text + .rodata + .data (+ unwind tables, if any)
    static_ram_bytes: int | None = None  # .data + .bss; the stack comes on top (measured on the emulator)
    sections: dict = field(default_factory=dict)
    cflags: str = ""
    build_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def qemu_command(machine: str, elf="firmware.elf", qemu="qemu-system-arm") -> list[str]:
    """The QEMU command line that runs a firmware and counts its instructions."""
    return [qemu, "-M", machine, "-icount", f"shift={ICOUNT_SHIFT}", "-semihosting-config",
            "enable=on,target=native", "-nographic", "-monitor", "none", "-serial", "none", "-kernel", str(elf)]


def compiler_flags(core: str, opt: str = "-Os") -> str:
    return f"-mcpu={core} -mthumb {FLOAT_FLAGS.get(core, '-mfloat-abi=soft')} {opt} -std=c99"


def _render(text: str, values: dict) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    return text


def missing_tool() -> str | None:
    """The one-line reason the Arm toolchain cannot build here, or None."""
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-size"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH ({TOOLCHAIN_HINT})"
    if shutil.which("make") is None:
        return "make not found on PATH (Debian: apt-get install make)"
    return None


def _fill_folder(gen_dir: Path, out_dir: Path, board, opt: str) -> None:
    """Copy the generated sources and write the harness, linker script and Makefile into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / "build", ignore_errors=True)
    for stale in ("firmware.elf", *(p.name for p in out_dir.glob("*.[ch]"))):
        (out_dir / stale).unlink(missing_ok=True)
    for src in sorted(gen_dir.iterdir()):
        if src.is_file() and src.suffix in (".c", ".h", ".json") and src.name not in HARNESS_FILES:
            shutil.copyfile(src, out_dir / src.name)
    for name in HARNESS_FILES:
        shutil.copyfile(TEMPLATES / name, out_dir / name)
    machine = MACHINES.get(board.core)
    origins = machine or MACHINES["cortex-m4"]
    values = {"BOARD": board.name, "CORE": board.core, "MACHINE": machine.name if machine else "(none)",
              "FLASH_KB": f"{board.flash_kb:g}", "RAM_KB": f"{board.ram_kb:g}",
              "FLASH_BYTES": int(board.flash_kb * 1024), "RAM_BYTES": int(board.ram_kb * 1024),
              "FLASH_ORIGIN": f"0x{origins.flash_origin:08X}", "RAM_ORIGIN": f"0x{origins.ram_origin:08X}",
              "HARNESS_ORIGIN": f"0x{origins.harness_origin:08X}", "STACK_MIN": STACK_MIN,
              "TIMER_BASE": f"0x{origins.timer_base:08X}u", "OPT": opt,
              "FLOAT": FLOAT_FLAGS.get(board.core, "-mfloat-abi=soft"),
              "CLOCK": f"{board.clock_mhz:g} MHz" if board.clock_mhz else "an unstated clock"}
    (out_dir / "linker.ld").write_text(_render((TEMPLATES / "linker.ld.in").read_text(), values))
    (out_dir / "Makefile").write_text(_render((TEMPLATES / "Makefile.in").read_text(), values))


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def build_error(log: str, board_name: str) -> str:
    """The one-line reason a `make` run failed, from its output."""
    overflows = re.findall(r"region `(\w+)' overflowed by (\d+) bytes", log)
    if overflows:
        parts = [f"{region} overflowed by {int(n)} bytes ({_kb(int(n))})" for region, n in dict(overflows).items()]
        note = f" (RAM includes a {STACK_MIN}-byte minimum stack)" if "RAM" in dict(overflows) else ""
        return f"does not fit {board_name}: " + ", ".join(parts) + note
    if "nano.specs" in log and "cannot read spec file" in log:
        return f"newlib for arm-none-eabi is missing ({TOOLCHAIN_HINT})"
    for line in log.splitlines():
        if re.search(r"\b(fatal )?error:", line) and not line.startswith("make"):
            return "compile error: " + line.strip()[:300]
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and not ln.startswith("make")]
    return "build failed: " + (lines[-1][:300] if lines else "make exited with an error")


def read_sizes(elf: Path) -> dict[str, int]:
    """Section name -> size in bytes, from `arm-none-eabi-size -A`."""
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def build(gen_dir, out_dir, board, opt: str = "-Os") -> Build:
    """Link the generated model in gen_dir for `board` (a measure.boards.Board) in the firmware folder
    out_dir, by running `make` there; flash and static RAM read from the ELF."""
    gen_dir, out_dir = Path(gen_dir), Path(out_dir)
    base = dict(board=board.name, core=board.core, opt=opt)
    if not (board.core or "").startswith("cortex-m"):
        return Build(**base, error=f"no Arm core ({board.core or 'core not stated'})")
    if not (gen_dir / "model.c").is_file() or not (gen_dir / "model.h").is_file():
        return Build(**base, error=f"no generated model in {gen_dir} (model.c and model.h)")
    if (reason := missing_tool()) is not None:
        return Build(**base, error=reason)
    _fill_folder(gen_dir, out_dir, board, opt)
    base.update(fw_dir=out_dir, machine=MACHINES[board.core].name if board.core in MACHINES else None,
                cflags=compiler_flags(board.core, opt))
    start = time.perf_counter()
    try:
        proc = subprocess.run(["make", f"-j{min(os.cpu_count() or 1, 8)}"], cwd=out_dir, capture_output=True,
                              text=True, timeout=BUILD_TIMEOUT_S, env={**os.environ, "LC_ALL": "C"})
    except subprocess.TimeoutExpired:
        return Build(**base, error=f"make did not finish within {BUILD_TIMEOUT_S} s")
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return Build(**base, build_s=seconds, error=build_error(proc.stdout + proc.stderr, board.name))
    elf = out_dir / "firmware.elf"
    sizes = read_sizes(elf)
    return Build(**base, elf=elf, build_s=seconds, sections=sizes,
                 flash_bytes=sum(sizes.get(s, 0) for s in FLASH_SECTIONS),
                 static_ram_bytes=sum(sizes.get(s, 0) for s in RAM_SECTIONS))


# -- Latency: an ESTIMATE from counted instructions and a cycles-per-instruction range per core. --

CPI_RANGES = {
    "cortex-m0": (1.0, 2.5, "Arm Cortex-M0 TRM (DDI 0432), instruction timings: most instructions 1 cycle, "
                            "loads/stores 2, taken branches 3"),
    "cortex-m0plus": (1.0, 2.0, "Arm Cortex-M0+ TRM (DDI 0484), instruction timings: most instructions 1 cycle, "
                                "loads/stores and taken branches 2 (2-stage pipeline), single-cycle multiplier"),
    "cortex-m3": (1.0, 2.0, "Arm Cortex-M3 TRM (DDI 0337), processor instruction timings: 1 cycle for most, "
                            "2 for a load (1 when pipelined), 1+P (P = 1-3) for taken branches"),
    "cortex-m4": (1.0, 2.0, "Arm Cortex-M4 TRM (DDI 0439), 3.3 processor instruction timings: 1 cycle for most "
                            "(MAC and SIMD MAC included), 2 for a load (1 when pipelined), 1+P for taken branches"),
    "cortex-m7": (0.5, 1.5, "Arm Cortex-M7 TRM (DDI 0489): 6-stage dual-issue superscalar pipeline (up to 2 "
                            "instructions a cycle); Arm publishes no per-instruction timings, so 0.5 (dual issue "
                            "every cycle) to 1.5 (load-use stalls, branches), code and data in TCM or cache"),
    "cortex-m33": (1.0, 2.0, "Arm Cortex-M33 TRM (100230): 3-stage pipeline, single-cycle MAC and DSP "
                             "instructions, loads 1-2 cycles, taken branches 1+P"),
    "cortex-m55": (0.7, 2.0, "Arm Cortex-M55 TRM (101051): 4-stage pipeline with limited dual issue of scalar "
                             "instructions; scalar code assumed (no Helium)"),
}
ESTIMATE_NOTE = ("an estimate, not a measurement: QEMU counts instructions but models no pipeline, "
                 "flash wait states or caches")


def latency_estimate(instructions: float, core: str, clock_mhz: float) -> tuple[float, float, str] | None:
    """Estimated (low_ms, high_ms, source) of `instructions` on `core` at clock_mhz; None without a range."""
    if core not in CPI_RANGES or not clock_mhz:
        return None
    low, high, source = CPI_RANGES[core]
    ms = instructions / (clock_mhz * 1e3)
    return ms * low, ms * high, f"CPI {low:g}-{high:g}, {source}; {ESTIMATE_NOTE}"


# -- The firmware folder's README. --

def _bytes_text(n) -> str:
    return "not measured" if n is None else f"{int(n):,} bytes ({int(n) / 1024:.1f} KB)"


def _count_text(f: dict) -> str:
    counts = f.get("instructions")
    if isinstance(counts, (list, tuple)):
        counts = sorted(counts)
        low, mid, high = (counts[0], counts[len(counts) // 2], counts[-1]) if counts else (None, None, None)
    else:
        low, mid, high = f.get("instructions_min", counts), counts, f.get("instructions_max", counts)
    if mid is None:
        return "not measured"
    return f"{mid:,}" + (f" (median; min {low:,}, max {high:,})" if low != high else "")


def _layers_table(layers: list[dict]) -> str:
    if not layers:
        return ""
    rows = ["## Per layer (first inference)", "", "| # | layer | instructions | MACs | instructions / MAC |",
            "|---|---|---|---|---|"]
    for i, layer in enumerate(layers):
        macs = layer.get("macs")
        per_mac = f"{layer['instructions'] / macs:.2f}" if macs else ""
        name = layer.get("name") or layer.get("op", "")
        rows.append(f"| {layer.get('index', i)} | {name} | {layer['instructions']:,} | {macs or ''} | {per_mac} |")
    return "\n".join(rows) + "\n\n"


def _board_memory(fw_dir: Path, f: dict) -> tuple[str, str]:
    """The board's flash and RAM in KB: from the figures, else from the folder's linker script."""
    if f.get("flash_kb") and f.get("ram_kb"):
        return f"{f['flash_kb']:g}", f"{f['ram_kb']:g}"
    script = fw_dir / "linker.ld"
    found = re.search(r"(\S+) KB flash, (\S+) KB RAM", script.read_text()) if script.is_file() else None
    return found.groups() if found else ("?", "?")


def write_readme(fw_dir, figures: dict) -> Path:
    """Write fw_dir/README.md from `figures`: those of `readme_figures`, or a pipeline row with the same
    figures under its own names (stack_bytes, instruction_resolution, latency_estimate_ms, cpi_source,
    layers with "op"); a figure not given reads "not measured"."""
    f, fw_dir = dict(figures), Path(fw_dir)
    stack = f.get("stack_peak_bytes", f.get("stack_bytes"))
    static = f.get("static_ram_bytes")
    latency = f.get("latency_ms") or f.get("latency_estimate_ms")
    machine = MACHINES.get(f.get("core") or "")
    machine_name = f.get("machine") or (machine.name if machine else None)
    flash_kb, ram_kb = _board_memory(fw_dir, f)
    values = {
        "MODEL": f.get("model", "model"), "BOARD": f.get("board", ""), "CORE": f.get("core", ""),
        "MACHINE": machine_name or "(none)", "FLASH_KB": flash_kb, "RAM_KB": ram_kb,
        "CFLAGS": f.get("cflags", ""), "TOOLCHAIN": f.get("toolchain", "arm-none-eabi-gcc"),
        "FLASH": _bytes_text(f.get("flash_bytes")), "STATIC_RAM": _bytes_text(static), "STACK": _bytes_text(stack),
        "RAM_TOTAL": _bytes_text(static + stack) if static is not None and stack is not None else "not measured",
        "INSTRUCTIONS": _count_text(f),
        "CLOCK": f"{f['clock_mhz']:g} MHz" if f.get("clock_mhz") else "the board's clock (not stated)",
        "LATENCY": f"{latency[0]:.2f}-{latency[1]:.2f} ms (estimate)" if latency else "not estimated",
        "LATENCY_SOURCE": f.get("latency_source") or f.get("cpi_source") or "no range for this core",
        "RESOLUTION": f.get("resolution") or f.get("instruction_resolution") or "not measured",
        "QEMU_COMMAND": f.get("qemu_command") or (" ".join(qemu_command(machine_name)) if machine_name else
                                                  "(no QEMU machine for this core)"),
        "LAYERS": _layers_table(f.get("layers") or []),
        "FLASH_ORIGIN": f"0x{(machine.flash_origin if machine else 0):08X}",
        "RAM_ORIGIN": f"0x{(machine.ram_origin if machine else 0x20000000):08X}",
    }
    path = fw_dir / "README.md"
    path.write_text(_render((TEMPLATES / "README.md.in").read_text(), values))
    return path


def readme_figures(build: Build, emulation, board, model: str = "model", layer_names=None, layer_macs=None) -> dict:
    """The figures write_readme takes, from a Build, its Emulation (or None) and the Board."""
    f = {"model": model, "board": board.name, "core": board.core, "clock_mhz": board.clock_mhz,
         "flash_kb": board.flash_kb, "ram_kb": board.ram_kb, "cflags": build.cflags, "machine": build.machine,
         "flash_bytes": build.flash_bytes, "static_ram_bytes": build.static_ram_bytes}
    if emulation is None or not emulation.ok:
        return f
    first = emulation.layer_instructions
    names = list(layer_names or [f"layer {i}" for i in range(len(first))])
    macs = list(layer_macs or [None] * len(first))
    f.update(stack_peak_bytes=emulation.stack_peak_bytes, instructions=list(emulation.instructions),
             resolution=emulation.resolution, qemu_command=emulation.command,
             layers=[{"name": n, "instructions": c, "macs": m} for n, c, m in zip(names, first, macs)])
    if emulation.instructions:
        median = sorted(emulation.instructions)[len(emulation.instructions) // 2]
        estimate = latency_estimate(median, board.core, board.clock_mhz)
        if estimate:
            f.update(latency_ms=estimate[:2], latency_source=estimate[2])
    return f
