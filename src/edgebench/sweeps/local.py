"""A sweep run here, point after point (issue 15, step 2): each point is an ordinary `edgebench
run` in its own folder under the sweep folder (same layout and results.json, so `report` and
`compare` work on it); the sweep folder also holds the grid, sweep.json (status per point) and
results.csv (one row per point x artifact). `resume` skips the points whose run is complete and
continues an unfinished one with the run's own --resume. Ray is not imported.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from edgebench import results
from edgebench.version import __version__
from edgebench.errors import UserError
from edgebench.sweeps.grid import Grid

SWEEP_FILE = "sweep.json"
DEVICE = "local"  # where a local sweep measures: this machine


class LocalSweep:
    def __init__(self, grid: Grid, out: Path, grid_file: Path | None = None, resume: bool = False,
                 on_event: Callable[[str, dict], None] | None = None):
        self.grid, self.out, self.on_event = grid, Path(out), on_event or (lambda label, ev: None)
        if resume:
            if not (self.out / SWEEP_FILE).is_file():
                raise UserError(f"--resume {self.out}: no {SWEEP_FILE} there; start the sweep without --resume")
            from edgebench.sweeps.state import check_same_grid

            self.state = json.loads((self.out / SWEEP_FILE).read_text())
            if self.state.get("executor") != "local":
                raise UserError(f"--resume {self.out}: this sweep ran on a Ray cluster; resume it with --cluster")
            check_same_grid(self.out, self.state, grid)
        else:
            from edgebench.sweeps.state import point_config

            if self.out.exists() and any(self.out.iterdir()):
                raise UserError(f"--out {self.out}: exists and is not empty; choose a new folder")
            self.out.mkdir(parents=True, exist_ok=True)
            if grid_file is not None:
                shutil.copyfile(grid_file, self.out / "grid.toml")
            self.state = {"edgebench_version": __version__, "created_at": results.now_iso(), "executor": "local",
                          "devices": [DEVICE], "status": "running", "environment": results.environment(),
                          "points": [{"name": p.name, "values": p.values, "config": point_config(p),
                                      "status": "pending", "dir": p.name} for p in grid.points]}
        self._save()

    def _save(self) -> None:
        results.write_json_atomic(self.out / SWEEP_FILE, self.state)

    def execute(self) -> dict:
        from edgebench.pipeline import Run
        from edgebench.report import write_reports

        for point, entry in zip(self.grid.points, self.state["points"]):
            run_dir = self.out / point.name
            previous = results.read(run_dir)
            if previous is not None and previous.status in ("complete", "partial", "failed") \
                    and not previous.interrupted:
                entry["status"] = previous.status  # finished before: not redone
                continue
            if run_dir.exists() and (previous is None or not previous.fairness):
                shutil.rmtree(run_dir)  # stopped before its inputs were written: nothing finished in it
                previous = None
            self._progress()
            self.on_event(point.name, {"event": "point", "index": point.index, "total": len(self.grid.points)})
            cfg = replace(point.config, out=run_dir)
            t0 = time.perf_counter()
            entry["status"] = "running"
            self._save()
            try:
                job = Run(cfg, on_event=self.on_event, resume=previous, writer=write_reports)
                r = job.execute()
                entry["status"] = r.status
            except UserError as e:
                entry.update(status="failed", error=str(e))
            except KeyboardInterrupt:
                entry["status"] = "interrupted"
                self.state["status"] = "partial"
                self._save()
                raise
            entry["wall_time_s"] = time.perf_counter() - t0
            self._save()
            self.write_csv()
        self._progress()
        statuses = {e["status"] for e in self.state["points"]}
        self.state["status"] = "complete" if statuses == {"complete"} else "partial"
        self.state["finished_at"] = results.now_iso()
        self._save()
        self.write_csv(figures=True)
        return self.state

    def _progress(self) -> None:
        done = sum(e["status"] not in ("pending", "running", "interrupted") for e in self.state["points"])
        self.on_event("sweep", {"event": "sweep", "points_done": done, "points": len(self.grid.points)})

    def write_csv(self, figures: bool = False) -> None:
        """results.csv (one row per point x artifact); with figures, the sweep report too."""
        from edgebench.sweeps.report import write_all

        write_all(self.out, self.grid, self.state, figures=figures)
