"""The firmware runtime's board rows without a toolchain, and its fit entries: each board's row says
why there is no build (no Arm core, a missing package) and nothing else is lost."""

from types import SimpleNamespace

import numpy as np

from edgebench.firmware import check, cross
from edgebench.measure.boards import BOARDS, parse_board


def _task(boards):
    return SimpleNamespace(boards=tuple(b.to_dict() for b in boards), emulate_samples=100, run_dir="/tmp")


def test_without_the_arm_toolchain_every_arm_board_says_which_package_is_missing(monkeypatch):
    monkeypatch.setattr(cross, "missing_tool", lambda: "arm-none-eabi-gcc not found on PATH (Debian: apt-get "
                                                       "install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    rows, fits = check.boards(None, None, _task(BOARDS), np.zeros((1, 4), np.int8), np.zeros((1, 2), np.int8))
    assert [r["opt"] for r in rows] == ["-Os"] * len(BOARDS)  # no -O2 build is attempted
    for b, row, fit in zip(BOARDS, rows, fits):
        assert row["status"] == "skipped" and fit["fits"] is None and fit["board"] == b.name
        if b.arm:
            assert "apt-get install gcc-arm-none-eabi" in row["error"]
        else:
            assert row["error"] == f"no Arm core ({b.core})"


def test_fit_uses_the_linked_figures_and_says_why_not():
    board = parse_board("kit:64:16:cortex-m4:48")
    ok = {"status": "ok", "flash_bytes": 60 * 1024, "static_ram_bytes": 10 * 1024, "ram_bytes": 10 * 1024 + 300}
    fit = check._fit(board, ok)
    assert fit["fits"] and fit["basis"] == "linked" and fit["flash_headroom_kb"] == 4.0
    assert fit["ram_headroom_kb"] == round(16 - (10 * 1024 + 300) / 1024, 2)
    overflow = {"status": "failed", "error": "does not fit kit: RAM overflowed by 1040 bytes (1.0 KB)"}
    assert check._fit(board, overflow) == {"board": "kit", "basis": "linked", "fits": False,
                                           "reason": overflow["error"]}
    esp = next(b for b in BOARDS if not b.arm)
    assert check._fit(esp, {"status": "skipped", "error": "no Arm core (xtensa-lx7)"})["fits"] is None


def test_the_plan_is_set_beside_tflite_micros_arena():
    plan = {"arena_bytes": 32768, "peak_lower_bound": 32768, "tensors": []}
    out = check._plan(plan, {"status": "ok", "ram_bytes": 57344})
    assert out["tflm_arena_bytes"] == 57344 and out["ratio_to_tflm"] == round(32768 / 57344, 4)
    assert out["lower_bound_bytes"] == 32768
    assert check._plan(plan, {"status": "unsupported", "ram_bytes": None})["ratio_to_tflm"] is None
    assert check._plan(plan, {})["tflm_arena_bytes"] is None


def test_board_folders_are_named_from_the_board():
    assert check._slug("nRF52840 (Arduino Nano 33 BLE Sense)") == "nrf52840"
    assert check._slug("STM32F746 (32F746G-DISCOVERY)") == "stm32f746"
    assert check._slug("my kit/v2") == "my-kit-v2"


def test_two_boards_never_share_a_folder():
    names = ["kit (rev a)", "kit (rev b)", "kit", "nRF52840 (Arduino Nano 33 BLE Sense)"]
    folders = check.folder_names(names)
    assert len(set(folders.values())) == len(names) and folders["kit (rev a)"] == "kit"
