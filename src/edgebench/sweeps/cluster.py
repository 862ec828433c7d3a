"""A sweep on a Ray cluster (issue 15): each point built once, each of its artifacts measured on
every device, only the driver writing files.

Nodes say what they offer with labels and one resource (see the README's sweep section):

    edgebench_slot: 1             resource: one timed job at a time on this machine; every build
                                  and measure job takes it, so no two timed jobs share a node
    edgebench-device=NAME         label: the device this node is (measure jobs for NAME run here)
    edgebench-build=true          label: this node trains and exports (build jobs run here)

Two phases per point. The build job runs the point's `edgebench run` restricted to its build
jobs (speed limit, trainings, timing, twin) in a scratch folder on a build node and returns the
folder's files. The driver writes them into one run folder per device (`POINT/DEVICE/`), puts
each file the measurements need into the object store once (by content hash), and submits one
measure job per artifact and device: the same run, resumed on the device node in a scratch
folder, restricted to that artifact's verification and TFLite Micro jobs. Its record and files
come back and are merged into that device's results.json; a device folder whose measurements are
all in gets its reports. So each device folder is an ordinary run folder: `report` and `compare`
work on it, and comparing two devices' folders compares the same artifacts.

Faults: a job whose node dies is retried by Ray (on another node of the same device, by label); an
exception raised by a job is recorded, never retried; a benchmark failing (a converter, a
tolerance) is a result inside the run, as in `run`. A device or build role that no live node
offers stops the sweep before it starts, or fails the jobs waiting for it when its last node
leaves, instead of waiting forever.

The driver's side, by what each piece does: cluster_nodes.py (the address, connecting, what the
live nodes offer), cluster_remote.py (what runs on the nodes), cluster_jobs.py (the jobs in
flight), cluster_folders.py (what comes back, merged into the device folders), state.py (what
sweep.json keeps of the points); ClusterSweep here owns the sweep folder and drives them.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

from edgebench import results
from edgebench.version import __version__
from edgebench.errors import UserError
from edgebench.sweeps import cluster_nodes
from edgebench.sweeps.cluster_folders import DeviceFolders
from edgebench.sweeps.cluster_jobs import JobQueue
from edgebench.sweeps.cluster_nodes import BUILD_LABEL, check_address, live_nodes
# Still imported from here (by the tests) since they moved out of this module.
from edgebench.sweeps.cluster_nodes import missing_offers, version_mismatch  # noqa: F401
from edgebench.sweeps.grid import Grid
from edgebench.sweeps.state import check_same_grid, point_config  # both also imported from here by local.py


class ClusterSweep:
    """Owns the sweep folder (sweep.json, nodes.json); connects to the cluster and checks it, starts
    or resumes each point, and hands each job that ends to the device folders. Its collaborators:
    `jobs` (a JobQueue: what is in flight) and `folders` (DeviceFolders: what comes back, merged)."""

    def __init__(self, grid: Grid, out: Path, address: str, grid_file: Path | None = None, resume: bool = False,
                 allow_insecure: bool = False, on_event: Callable[[str, dict], None] | None = None):
        from edgebench.sweeps.local import SWEEP_FILE

        check_address(address, allow_insecure)
        self.grid, self.out, self.address = grid, Path(out), address
        self.on_event = on_event or (lambda label, ev: None)
        self.file = self.out / SWEEP_FILE
        if resume:
            if not self.file.is_file():
                raise UserError(f"--resume {self.out}: no {SWEEP_FILE} there; start the sweep without --resume")
            self.state = json.loads(self.file.read_text())
            if self.state.get("executor") != "ray":
                raise UserError(f"--resume {self.out}: this sweep ran locally; resume it with --cluster")
            check_same_grid(self.out, self.state, grid)
        elif self.out.exists() and any(self.out.iterdir()):
            raise UserError(f"--out {self.out}: exists and is not empty; choose a new folder")
        self.grid_file, self.resume = grid_file, resume
        self.jobs = JobQueue()
        self.folders: DeviceFolders | None = None  # once connected: the devices are known then
        self.ray = None

    # -- the sweep folder ----------------------------------------------------------------------
    def _save(self) -> None:
        results.write_json_atomic(self.file, self.state)

    def _new_state(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        if self.grid_file is not None:
            shutil.copyfile(self.grid_file, self.out / "grid.toml")
        self.state = {
            "edgebench_version": __version__, "created_at": results.now_iso(), "executor": "ray",
            "cluster": self.address, "devices": self.devices, "status": "running",
            "environment": results.environment(), "nodes": [], "jobs": [],
            "points": [{"name": p.name, "values": p.values, "config": point_config(p), "status": "pending",
                        "dir": p.name,
                        "devices": {d: {"status": "pending", "dir": f"{p.name}/{d}"} for d in self.devices}}
                       for p in self.grid.points]}

    def _describe(self, nodes: list[dict]) -> None:
        """Each node described once, in nodes.json and sweep.json (a resumed sweep adds new ones)."""
        known = {n["node_id"] for n in self.state["nodes"]}
        for n in nodes:
            if n["node_id"] not in known:
                self.state["nodes"].append(n)
        results.write_json_atomic(self.out / "nodes.json", {"nodes": self.state["nodes"]})

    # -- the sweep ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect and check the cluster (devices offered, versions); write nothing until it passes."""
        t0 = time.perf_counter()
        self.ray = ray = cluster_nodes.connect(self.address)
        try:
            self.devices, nodes = cluster_nodes.check_cluster(ray, self.address, self.grid.devices)
            if self.resume:
                if sorted(self.state["devices"]) != sorted(self.devices):
                    raise UserError(f"--resume {self.out}: the sweep measures on {', '.join(self.state['devices'])}, "
                                    f"the grid now names {', '.join(self.devices)}")
                self.state["status"] = "running"
                self.state.setdefault("resumed_at", []).append(results.now_iso())
            else:
                self._new_state()
            self._describe(nodes)
            self.state["connect_s"] = time.perf_counter() - t0  # connecting, checking and describing the nodes
            self._save()
            self.folders = DeviceFolders(self.out, self.grid, self.devices, self.state, self.jobs, self._save)
        except BaseException:
            ray.shutdown()
            raise

    def execute(self) -> dict:
        if getattr(self, "ray", None) is None:
            self.connect()
        ray = self.ray
        try:
            try:
                self._dispatch(ray)
            except BaseException:  # Ctrl-C, SIGTERM (Ray turns it into SystemExit), or an error of ours
                self.jobs.cancel_all(ray)
                self.state["status"] = "partial"
                self.state["interrupted"] = True
                self._save()
                raise
            self._finish()
            return self.state
        finally:
            ray.shutdown()
            self.ray = None

    def _dispatch(self, ray) -> None:
        self.jobs.start(ray)
        for point, entry in zip(self.grid.points, self.state["points"]):
            self._start_point(ray, point, entry)
        self._progress()
        while self.jobs.refs:
            over = self.jobs.next_over(ray)
            if over is None:
                self._watch(ray)
                continue
            self._settle(ray, *over)
            self._progress()

    def _settle(self, ray, job: dict, value: dict | None, error: str | None, lost: bool = False) -> None:
        """A job is over (its value, or why it failed): record it and merge or fail what it was for. A
        job lost with its node (lost) is recorded as such and redone by --resume; a job's own error is
        final."""
        if job["kind"] == "build":
            self.folders.built(ray, job, value, error, lost)
        else:
            self.folders.measured(job, value, error, lost)
        self.jobs.done += 1

    def _progress(self) -> None:
        points_done = sum(p["status"] not in ("pending", "running") for p in self.state["points"])
        self.on_event("sweep", {"event": "sweep", "points_done": points_done, "points": len(self.grid.points),
                                "jobs_done": self.jobs.done, "jobs": self.jobs.total})

    def _start_point(self, ray, point, entry: dict) -> None:
        """Resume what a point has left, or build it. Finished work is never redone: a build that
        failed by itself stays failed, a device folder that finished is not touched; what was lost
        with a node (or cut short) is done now."""
        if entry["status"] == "complete" or (entry.get("build") or {}).get("status") == "failed":
            return
        built = [self.folders.built_results(point.name, d) for d in self.devices]
        if all(b is not None for b in built):
            for device, r in zip(self.devices, built):
                if r.status == "running" or r.interrupted:
                    entry["status"] = "running"
                    for a in r.artifacts:
                        if a.status == "lost":  # its node left before measuring it: measured now
                            a.status, a.error = "ok", None
                    r.interrupted, r.status = None, "running"
                    results.save(self.folders.device_dir(point.name, device), r)
                    self.folders.measure_all(ray, point, device, r)
                else:
                    entry["devices"][device]["status"] = r.status
            self.folders.point_status(entry)
            return
        shutil.rmtree(self.out / point.name, ignore_errors=True)  # a build cut short: nothing finished in it
        entry.update(status="running", build={"status": "pending"})
        self.jobs.submit_build(point)

    def _watch(self, ray) -> None:
        """Jobs waiting for a device (or the build role) that no live node offers any more fail now."""
        nodes = live_nodes(ray)
        offered = {n["device"] for n in nodes}
        can_build = any(n["build"] for n in nodes)
        for ref, job in list(self.jobs.refs.items()):
            if job["kind"] == "build" and not can_build:
                why = f"no live node offers the build role ({BUILD_LABEL}=true) any more"
            elif job["kind"] == "measure" and job["device"] not in offered:
                why = f"no live node offers device {job['device']!r} any more"
            else:
                continue
            self.jobs.cancel(ray, ref)
            self._settle(ray, job, None, why, lost=True)
        self._progress()

    def _finish(self) -> None:
        from edgebench.sweeps.report import write_all

        statuses = {p["status"] for p in self.state["points"]}
        self.state["status"] = "complete" if statuses == {"complete"} else "partial"
        self.state["finished_at"] = results.now_iso()
        self.state.pop("interrupted", None)
        self._save()
        write_all(self.out, self.grid, self.state)
