"""Plug-ins named by "module:Class" and imported only when used, so a missing framework or
runtime becomes a skipped row with an install hint, never an ImportError at start-up."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Plugin:
    name: str
    target: str  # "module:Class"
    modules: tuple[str, ...]  # top-level modules that must be importable
    extra: str  # the pip extra that installs them

    @property
    def install_hint(self) -> str:
        return f"pip install 'edgebench[{self.extra}]'"

    def missing_module(self) -> str | None:
        for mod in self.modules:
            if importlib.util.find_spec(mod) is None:
                return mod
        return None

    def load(self):
        module, cls = self.target.split(":")
        return getattr(importlib.import_module(module), cls)
