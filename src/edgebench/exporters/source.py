"""Deploy: a user's .onnx or .tflite file is already an artifact of its own format."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgebench.exporters import ExportContext


def copy_source(model, path: Path, ctx: ExportContext) -> None:
    """The file copied as it is (model is its path)."""
    shutil.copyfile(model, path)
