"""What a sweep's sweep.json keeps of its points, shared by the local and the cluster sweep: each
point's run configuration, and the check that --resume continues the sweep that was started."""

from __future__ import annotations

import json
from pathlib import Path

from edgebench.errors import UserError
from edgebench.sweeps.grid import Grid


def point_config(point) -> dict:
    """A point's whole run configuration as sweep.json keeps it (what --resume compares)."""
    d = point.config.to_dict()
    d.pop("out", None)
    return json.loads(json.dumps(d))


def check_same_grid(out: Path, state: dict, grid: Grid) -> None:
    """--resume continues the sweep that was started, not another one with the same folder."""
    names = [p["name"] for p in state["points"]]
    if names != [p.name for p in grid.points]:
        raise UserError(f"--resume {out}: the grid changed since the sweep started (its points differ)")
    for entry, point in zip(state["points"], grid.points):
        if "config" in entry and entry["config"] != point_config(point):
            now = point_config(point)
            keys = sorted(k for k in set(now) | set(entry["config"]) if now.get(k) != entry["config"].get(k))
            raise UserError(f"--resume {out}: the grid changed since the sweep started ({point.name}: "
                            f"{', '.join(keys)} differ); start a new sweep in a new folder")
