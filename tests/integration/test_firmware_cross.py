"""Firmware on emulated Cortex-M cores (issue 29, parts 3-5): a hand-written model folder that follows
the generator's contract is linked for each core, run on QEMU, and its outputs, instruction counts and
failure reasons are checked."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import numpy as np
import pytest

from edgebench.firmware import cross, qemu
from edgebench.measure.boards import BOARDS, Board
from tests.conftest import needs_arm

MULT, SHIFT = 1518500250, 38  # requantization of the fixture: (acc * MULT + 2**(SHIFT-1)) >> SHIFT

MODEL_C = """#include <stdint.h>
#include <string.h>
#include "model.h"
#ifdef EB_PROFILE
void eb_layer_mark(int layer);
#define EB_LAYER(i) eb_layer_mark(i)
#else
#define EB_LAYER(i) ((void)0)
#endif
const char *const eb_layer_names[EB_MODEL_LAYERS] = {"FULLY_CONNECTED 0", "FULLY_CONNECTED 1", "RELU 2"};
static uint8_t eb_arena[EB_MODEL_ARENA_BYTES] __attribute__((aligned(16)));
%(arrays)s
static int8_t requant(int32_t acc)
{
    int64_t v = ((int64_t)acc * %(mult)d + ((int64_t)1 << %(shift_1)d)) >> %(shift)d;
    return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
}
static void fc(const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y, int k, int n)
{
    for (int i = 0; i < n; ++i) {
        int32_t acc = b ? b[i] : 0;
        for (int j = 0; j < k; ++j) acc += (int32_t)x[j] * w[i * k + j];
        y[i] = requant(acc);
    }
}
void model_invoke(const void *input, void *output)
{
    int8_t *x = (int8_t *)eb_arena, *h = x + %(k)d, *y = h + 16;
    memcpy(x, input, %(k)d);
    EB_LAYER(0);
    fc(x, w0, b0, h, %(k)d, 16);
    EB_LAYER(1);
    fc(h, w1, 0, y, 16, 8);
    EB_LAYER(2);
%(layer2)s    for (int i = 0; i < 8; ++i) y[i] = y[i] < 0 ? 0 : y[i];
    EB_LAYER(3);
    memcpy(output, y, 8);
}
"""

MODEL_H = """#ifndef MODEL_H
#define MODEL_H
#define EB_MODEL_INPUT_BYTES %(k)d
#define EB_MODEL_OUTPUT_BYTES 8
#define EB_MODEL_LAYERS 3
#define EB_MODEL_ARENA_BYTES %(arena)d
extern const char *const eb_layer_names[EB_MODEL_LAYERS];
void model_invoke(const void *input, void *output);
#endif
"""


def _weights(k):
    rng = np.random.default_rng(7)
    return (rng.integers(-128, 128, (16, k), dtype=np.int8), rng.integers(-2000, 2000, 16).astype(np.int32),
            rng.integers(-128, 128, (8, 16), dtype=np.int8))


def reference(x, k):
    """The fixture model in numpy: FC(k->16, bias), FC(16->8), ReLU, int8 throughout."""
    w0, b0, w1 = _weights(k)

    def requant(acc):
        return np.clip((acc.astype(np.int64) * MULT + (1 << (SHIFT - 1))) >> SHIFT, -128, 127)
    h = requant(x.astype(np.int32) @ w0.T.astype(np.int32) + b0)
    return np.maximum(requant(h.astype(np.int32) @ w1.T.astype(np.int32)), 0).astype(np.int8)


def write_model(out, k=256, layer2="", pad_bytes=0):
    """The fixture model folder; layer2 is C put at the start of the third layer, pad_bytes enlarges the arena."""
    out.mkdir(parents=True, exist_ok=True)
    arrays = "".join(f"static const {t} {name}[{a.size}] = {{{', '.join(str(int(v)) for v in a.ravel())}}};\n"
                     for name, t, a in zip(("w0", "b0", "w1"), ("int8_t", "int32_t", "int8_t"), _weights(k)))
    (out / "model.c").write_text(MODEL_C % dict(arrays=arrays, mult=MULT, shift=SHIFT, shift_1=SHIFT - 1, k=k,
                                                layer2=layer2))
    (out / "model.h").write_text(MODEL_H % dict(k=k, arena=k + 24 + pad_bytes))
    return out


def board(core, flash_kb=1024, ram_kb=256):
    return Board(f"test {core}", flash_kb, ram_kb, core=core, clock_mhz=64)


def inputs(n, k=256, seed=0):
    return np.random.default_rng(seed).integers(-128, 128, (n, k), dtype=np.int8)


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("gen"))


@needs_arm
@pytest.mark.parametrize("core", ["cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33"])
def test_outputs_equal_numpy_and_counts_repeat(gen, tmp_path, core):
    built = cross.build(gen, tmp_path / "fw", board(core))
    assert built.ok, built.error
    assert 4096 < built.flash_bytes < 16384 and built.static_ram_bytes >= 280
    x = inputs(20)
    first = qemu.emulate(built, inputs=x, timeout_s=30)
    assert first.ok, first.error
    np.testing.assert_array_equal(first.output_array(), reference(x, 256))
    assert len(first.instructions) == 20 and all(n > 4096 for n in first.instructions)
    assert 0 < first.stack_peak_bytes < 1024
    second = qemu.emulate(built, inputs=x, timeout_s=30)
    assert (second.instructions, second.per_inference_layers, second.stack_peak_bytes) == \
        (first.instructions, first.per_inference_layers, first.stack_peak_bytes)
    assert first.repeat_identical is True and first.layer_instructions == first.per_inference_layers[0]
    for total, layers, other in zip(first.instructions, first.per_inference_layers, first.other_instructions):
        assert len(layers) == 3 and sum(layers) + other == total
        assert 0 < other < 600  # copying 256 bytes in and 8 out, and the call


@needs_arm
def test_twice_the_work_twice_the_instructions(gen, tmp_path):
    big = write_model(tmp_path / "gen512", k=512)
    runs = {}
    for k, folder in ((256, gen), (512, big)):
        built = cross.build(folder, tmp_path / f"fw{k}", board("cortex-m4"))
        runs[k] = qemu.emulate(built, inputs=inputs(3, k), timeout_s=30)
        assert runs[k].ok, runs[k].error
    layer0 = runs[512].layer_instructions[0] / runs[256].layer_instructions[0]
    assert 1.95 < layer0 < 2.05
    assert 1.85 < runs[512].instructions[0] / runs[256].instructions[0] < 2.05


@needs_arm
@pytest.mark.parametrize("core", ["cortex-m3", "cortex-m33"])
def test_counts_are_exact_to_one_instruction_and_stack_is_measured(tmp_path, core):
    """n nops in a layer read as exactly n more instructions; a 1 KB local buffer raises the stack peak."""
    counts, stacks = {}, {}
    for n, buffer in ((1000, 0), (1001, 0), (1003, 1024)):
        code = f'    __asm__ volatile(".rept {n}\\n nop\\n .endr");\n'
        if buffer:
            code += (f"    {{ volatile uint8_t big[{buffer}]; for (int i = 0; i < {buffer}; i += 64) big[i] = 1; "
                     "(void)big[0]; }\n")
        built = cross.build(write_model(tmp_path / f"g{n}", k=64, layer2=code), tmp_path / f"fw{n}", board(core))
        run = qemu.emulate(built, inputs=inputs(1, 64), timeout_s=30)
        assert run.ok, run.error
        counts[n], stacks[n] = run.layer_instructions[2], run.stack_peak_bytes
    assert counts[1001] - counts[1000] == 1
    assert stacks[1003] > 1024 and stacks[1003] > stacks[1000] + 900  # the buffer sits beside the other calls


@needs_arm
def test_a_layer_longer_than_the_fine_timer_wrap_stays_exact(tmp_path):
    """1.4e9 instructions in one layer: past the 32-bit fine timer's wrap (1.34e9 at shift=7, 25 MHz)."""
    counts = {}
    for n in (1000, 700_000_000):
        loop = f'    {{ uint32_t c = {n}u; __asm__ volatile("1: subs %0, %0, #1\\n bne 1b" : "+l"(c)); }}\n'
        built = cross.build(write_model(tmp_path / f"g{n}", k=64, layer2=loop), tmp_path / f"fw{n}",
                            board("cortex-m3"))
        run = qemu.emulate(built, inputs=inputs(1, 64), timeout_s=60, repeat=False)
        assert run.ok, run.error
        counts[n] = run.layer_instructions[2]
    assert counts[700_000_000] - counts[1000] == 2 * (700_000_000 - 1000)  # subs + bne an iteration


@needs_arm
def test_make_in_a_copied_folder_rebuilds_the_same_elf(gen, tmp_path):
    built = cross.build(gen, tmp_path / "fw", board("cortex-m4"), opt="-O2")
    assert built.ok, built.error
    copy = tmp_path / "elsewhere" / "firmware"
    shutil.copytree(built.fw_dir, copy, ignore=shutil.ignore_patterns("build", "firmware.elf"))
    subprocess.run(["make"], cwd=copy, check=True, capture_output=True, timeout=120)
    assert (copy / "firmware.elf").read_bytes() == built.elf.read_bytes()
    assert "-O2" in (copy / "Makefile").read_text()


@needs_arm
def test_a_board_too_small_names_the_overflow(tmp_path):
    folder = write_model(tmp_path / "gen", k=64, pad_bytes=8192)
    ram = cross.build(folder, tmp_path / "fw", board("cortex-m0plus", ram_kb=4))
    assert re.fullmatch(r"does not fit test cortex-m0plus: RAM overflowed by \d+ bytes \(\d+\.\d KB\).*",
                        ram.error), ram.error
    assert int(re.search(r"by (\d+) bytes", ram.error)[1]) > 8192 + 1024 - 4096 - 64
    flash = cross.build(folder, tmp_path / "fw2", board("cortex-m4", flash_kb=1))
    assert "FLASH overflowed by" in flash.error


@needs_arm
def test_compile_error_hard_fault_and_hang_are_one_line_reasons(tmp_path):
    broken = write_model(tmp_path / "broken", k=64, layer2="    this is not C;\n")
    error = cross.build(broken, tmp_path / "fw0", board("cortex-m4")).error
    assert error.startswith("compile error: model.c:") and "\n" not in error
    fault = cross.build(write_model(tmp_path / "fault", k=64, layer2='    __asm__ volatile("udf #0");\n'),
                        tmp_path / "fw1", board("cortex-m4"))
    assert qemu.emulate(fault, inputs=inputs(1, 64), timeout_s=30).error.startswith("hard fault on the emulated")
    hang = cross.build(write_model(tmp_path / "hang", k=64, layer2='    for (;;) { __asm__ volatile(""); }\n'),
                       tmp_path / "fw2", board("cortex-m3"))
    start = time.monotonic()
    run = qemu.emulate(hang, inputs=inputs(1, 64), timeout_s=2)
    assert run.error == "QEMU did not finish within 2 s (killed)"
    assert time.monotonic() - start < 6


def test_missing_toolchain_and_non_arm_board_are_reasons(tmp_path, monkeypatch):
    folder = write_model(tmp_path / "gen", k=64)
    esp32 = next(b for b in BOARDS if not b.arm)
    assert cross.build(folder, tmp_path / "fw", esp32).error == f"no Arm core ({esp32.core})"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    error = cross.build(folder, tmp_path / "fw", board("cortex-m4")).error
    assert error.startswith("arm-none-eabi-gcc not found") and "gcc-arm-none-eabi" in error
    run = qemu.emulate(tmp_path / "firmware.elf", "cortex-m4", inputs(1, 64), timeout_s=5)
    assert run.error.startswith("qemu-system-arm not found")


@needs_arm
def test_readme_states_figures_and_latency_is_an_estimate(gen, tmp_path):
    nrf = BOARDS[0]
    built = cross.build(gen, tmp_path / "fw", nrf)
    run = qemu.emulate(built, inputs=inputs(2), timeout_s=30)
    figures = cross.readme_figures(built, run, nrf, "fixture", ["FC 0", "FC 1", "RELU 2"], [4096, 128, None])
    text = cross.write_readme(built.fw_dir, figures).read_text()
    assert f"{built.flash_bytes:,} bytes" in text and "ESTIMATE" in text and "-icount shift=7" in text
    low, high, source = cross.latency_estimate(1_000_000, "cortex-m4", 64)
    assert low == pytest.approx(1e6 / 64e6 * 1e3) and high == 2 * low and "TRM" in source
