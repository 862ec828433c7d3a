"""Install a plug-in module for a test the way pip would: the module and a dist-info that declares
it under the `edgebench.plugins` entry point group, on a PYTHONPATH folder."""

import os
import textwrap
from pathlib import Path


def install(root: Path, module: str, source: str) -> dict:
    """The environment (PYTHONPATH set) under which edgebench, and its child processes, load it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[edgebench.plugins]\n{module} = {module}\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
            "COLUMNS": "200"}
