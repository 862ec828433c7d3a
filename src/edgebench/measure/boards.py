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
    core: str | None = None  # "cortex-m4", "cortex-m0plus", ... or another architecture's name; None: not said
    clock_mhz: float | None = None

    @property
    def arm(self) -> bool:
        return bool(self.core) and self.core.startswith("cortex-m")

    def to_dict(self) -> dict:
        return {"name": self.name, "flash_kb": self.flash_kb, "ram_kb": self.ram_kb, "source": self.source,
                "core": self.core, "clock_mhz": self.clock_mhz}


# The built-in targets: name, flash_kb, ram_kb, core, clock_mhz, then the datasheets the figures come from.
_BUILT_IN = (
    ("nRF52840 (Arduino Nano 33 BLE Sense)", 1024, 256, "cortex-m4", 64,
     "Nordic nRF52840 Product Specification v1.7, section 1: 1 MB flash, 256 KB RAM, Arm Cortex-M4 with FPU at "
     "64 MHz"),
    ("STM32F746 (32F746G-DISCOVERY)", 1024, 320, "cortex-m7", 216,
     "ST STM32F745xx/STM32F746xx datasheet DS10916: 1 MB flash, 320 KB SRAM, Arm Cortex-M7 with FPU up to 216 MHz"),
    ("RP2040 (Raspberry Pi Pico)", 2048, 264, "cortex-m0plus", 133,
     "RP2040 datasheet: 264 KB on-chip SRAM, dual Arm Cortex-M0+ at 133 MHz; "
     "Raspberry Pi Pico datasheet: 2 MB QSPI flash on board"),
    ("ESP32-S3 (ESP32-S3-WROOM-1-N8)", 8192, 512, "xtensa-lx7", 240,
     "Espressif ESP32-S3 datasheet: 512 KB SRAM, Xtensa LX7 up to 240 MHz (no Arm core); "
     "ESP32-S3-WROOM-1 datasheet: N8 = 8 MB flash"),
    ("SAMD21G18 (Cortex-M0+, 32 KB SRAM; Arduino Zero)", 256, 32, "cortex-m0plus", 48,
     "Microchip SAM D21 family datasheet: ATSAMD21G18A, 256 KB flash, 32 KB SRAM, Arm Cortex-M0+ up to 48 MHz"),
)
BOARDS: tuple[Board, ...] = tuple(Board(name, flash, ram, source, core, mhz)
                                  for name, flash, ram, core, mhz, source in _BUILT_IN)
# Cores a --board may name (those arm-none-eabi-gcc's -mcpu takes for the Cortex-M profile).
ARM_CORES = ("cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")


def parse_board(text: str) -> Board:
    """'name:flash_kb:ram_kb' or 'name:flash_kb:ram_kb:core:clock_mhz' as given to --board."""
    core = mhz = None
    parts = text.rsplit(":", 4)
    if len(parts) == 5 and parts[3].strip().lower().startswith("cortex"):
        core, mhz_text, parts = parts[3].strip().lower(), parts[4], parts[:3]
        if core not in ARM_CORES:
            raise ConfigError(f"--board '{text}': unknown core '{core}'; known: {', '.join(ARM_CORES)}")
        try:
            mhz = float(mhz_text)
        except ValueError:
            raise ConfigError(f"--board '{text}': clock_mhz must be a number, got '{mhz_text}'") from None
        if mhz <= 0:
            raise ConfigError(f"--board '{text}': clock_mhz must be > 0")
    else:
        parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[0].strip():
        raise ConfigError(f"--board '{text}': expected name:flash_kb:ram_kb[:core:clock_mhz], e.g. --board "
                          "mykit:512:128 or mykit:512:128:cortex-m4:64")
    try:
        flash, ram = float(parts[1]), float(parts[2])
    except ValueError:
        raise ConfigError(f"--board '{text}': flash_kb and ram_kb must be numbers") from None
    if flash <= 0 or ram <= 0:
        raise ConfigError(f"--board '{text}': flash_kb and ram_kb must be > 0")
    return Board(parts[0].strip(), flash, ram, core=core, clock_mhz=mhz)


def boards_for(extra: tuple[str, ...] | list[str]) -> list[Board]:
    """The built-in boards, then each --board given."""
    return list(BOARDS) + [parse_board(b) for b in extra]


def fit(board: Board, flash_bytes: int, ram_bytes: int) -> dict:
    flash_left = board.flash_kb - flash_bytes / 1024
    ram_left = board.ram_kb - ram_bytes / 1024
    return {"board": board.name, "fits": flash_left >= 0 and ram_left >= 0,
            "flash_headroom_kb": round(flash_left, 2), "ram_headroom_kb": round(ram_left, 2)}
