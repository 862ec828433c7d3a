"""Microcontroller budgets, and whether a model fits them.

Figures are the on-chip (or on-board, where the board fixes it) flash and SRAM of common targets,
from the vendors' datasheets. The estimate counts the model in flash and TFLM's tensor arena in
RAM. It leaves out the TFLM runtime's code (tens of KB of flash for a few reference kernels), the
application's own code, stack and buffers, and any RAM an RTOS or radio stack reserves.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgebench.errors import ConfigError


@dataclass(frozen=True)
class Board:
    name: str
    flash_kb: float
    ram_kb: float
    source: str = "user-supplied"

    def to_dict(self) -> dict:
        return {"name": self.name, "flash_kb": self.flash_kb, "ram_kb": self.ram_kb, "source": self.source}


BOARDS: tuple[Board, ...] = (
    Board("nRF52840 (Arduino Nano 33 BLE Sense)", 1024, 256,
          "Nordic nRF52840 Product Specification v1.7, section 1: 1 MB flash, 256 KB RAM"),
    Board("STM32F746 (32F746G-DISCOVERY)", 1024, 320,
          "ST STM32F745xx/STM32F746xx datasheet DS10916: 1 MB flash, 320 KB SRAM"),
    Board("RP2040 (Raspberry Pi Pico)", 2048, 264,
          "RP2040 datasheet: 264 KB on-chip SRAM; Raspberry Pi Pico datasheet: 2 MB QSPI flash on board"),
    Board("ESP32-S3 (ESP32-S3-WROOM-1-N8)", 8192, 512,
          "Espressif ESP32-S3 datasheet: 512 KB SRAM; ESP32-S3-WROOM-1 datasheet: N8 = 8 MB flash"),
    Board("SAMD21G18 (Cortex-M0+, 32 KB SRAM; Arduino Zero)", 256, 32,
          "Microchip SAM D21 family datasheet: ATSAMD21G18A, 256 KB flash, 32 KB SRAM"),
)


def parse_board(text: str) -> Board:
    """'name:flash_kb:ram_kb' as given to --board."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[0].strip():
        raise ConfigError(f"--board '{text}': expected name:flash_kb:ram_kb, e.g. --board mykit:512:128")
    try:
        flash, ram = float(parts[1]), float(parts[2])
    except ValueError:
        raise ConfigError(f"--board '{text}': flash_kb and ram_kb must be numbers") from None
    if flash <= 0 or ram <= 0:
        raise ConfigError(f"--board '{text}': flash_kb and ram_kb must be > 0")
    return Board(parts[0].strip(), flash, ram)


def fit(board: Board, flash_bytes: int, ram_bytes: int) -> dict:
    flash_left = board.flash_kb - flash_bytes / 1024
    ram_left = board.ram_kb - ram_bytes / 1024
    return {"board": board.name, "fits": flash_left >= 0 and ram_left >= 0,
            "flash_headroom_kb": round(flash_left, 2), "ram_headroom_kb": round(ram_left, 2)}
