"""What a cluster sweep's jobs return, merged into its folders: one ordinary run folder per point
and device (`POINT/DEVICE/`). A build's results and files are written into each of the point's
device folders, and each artifact then measured on each device; a measurement's record and files
are merged into that device's results.json; a device folder whose measurements are all in gets its
reports. Every job is also recorded in sweep.json."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from edgebench import results
from edgebench.errors import UserError
from edgebench.pipeline.jobs import VERIFY, artifact_id
from edgebench.results.schema import Artifact, RunResults
from edgebench.sweeps.cluster_jobs import JobQueue
from edgebench.sweeps.grid import Grid


def _safe_write(folder: Path, files: dict[str, bytes]) -> None:
    root = folder.resolve()
    for rel, blob in files.items():
        path = (folder / rel).resolve()
        if root not in path.parents:  # a path from a node never leaves the run folder
            raise UserError(f"a node returned a file outside its run folder: {rel!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)



class DeviceFolders:
    """The sweep folder's device run folders and sweep.json's record of points and jobs (`state`,
    shared with the sweep, saved through `save`); `jobs` takes the measurements to submit."""

    def __init__(self, out: Path, grid: Grid, devices: list[str], state: dict, jobs: JobQueue,
                 save: Callable[[], None]) -> None:
        self.out, self.grid, self.devices, self.state, self.jobs, self.save = out, grid, devices, state, jobs, save

    def device_dir(self, point_name: str, device: str) -> Path:
        return self.out / point_name / device

    def entry(self, point_name: str) -> dict:
        return next(e for e in self.state["points"] if e["name"] == point_name)

    def built_results(self, name: str, device: str) -> RunResults | None:
        r = results.read(self.device_dir(name, device))
        return r if r is not None and (r.sweep or {}).get("built") else None

    def record(self, job: dict, value: dict | None, error: str | None, lost: bool = False) -> dict:
        """The job's line in sweep.json: what it was, where and when it ran, how it ended."""
        rec = {k: job[k] for k in ("kind", "point") if k in job}
        if "device" in job:
            rec.update(device=job["device"], artifact=artifact_id(job["key"]), artifact_sha256=job["artifact_sha256"])
        if value is not None:
            rec.update({k: value[k] for k in ("node_id", "hostname", "pid", "start", "end", "wall_s")})
        rec["status"] = "ok" if error is None else ("lost" if lost else "failed")
        if error:
            rec["error"] = error
        self.state["jobs"].append(rec)
        return rec

    # -- a build ---------------------------------------------------------------------------------
    def built(self, ray, job: dict, value: dict | None, error: str | None, lost: bool = False) -> None:
        """A point's build is over: its files and results into every device folder, then every
        artifact measured on every device (or the point failed, or lost with its node)."""
        point = next(p for p in self.grid.points if p.name == job["point"])
        entry = self.entry(point.name)
        rec = self.record(job, value, error, lost)
        entry["build"] = {k: rec.get(k) for k in ("status", "error", "node_id", "wall_s")}
        if error is not None:
            # Lost with its node: not finished (--resume builds it); its own error: failed, final.
            entry.update(status="lost" if lost else "failed", error=f"build: {error}")
            for d in entry["devices"].values():
                d["status"] = entry["status"]
            self.save()
            return
        r = results.parse(value["results"], f"the build of {point.name}")
        r.sweep = {"built": True, "executor": "ray", "build_node": value["node_id"],
                   "build_hostname": value["hostname"], "build_wall_s": value["wall_s"]}
        r.status, r.wall_time_s, r.finished_at = "running", value["wall_s"], None
        for device in self.devices:
            folder = self.device_dir(point.name, device)
            folder.mkdir(parents=True, exist_ok=True)
            _safe_write(folder, value["files"])
            mine = r.model_copy(deep=True)
            mine.sweep["device"] = device
            results.save(folder, mine)
        self.save()
        for device in self.devices:
            self.measure_all(ray, point, device, self.built_results(point.name, device))

    def measure_all(self, ray, point, device: str, r: RunResults) -> None:
        """Submit a measure job for every artifact this device has not measured yet."""
        folder = self.device_dir(point.name, device)
        done = set(r.progress.done)
        todo = [a for a in r.artifacts if a.status == "ok" and f"{VERIFY}:{artifact_id(a.key)}" not in done]
        if not todo:
            self.device_finished(point.name, device, r)
            return
        built = r.model_dump(mode="json", exclude={"sweep"})
        for a in todo:
            self.jobs.submit_measure(ray, point, device, folder, a, built)

    # -- a measurement ---------------------------------------------------------------------------
    def measured(self, job: dict, value: dict | None, error: str | None, lost: bool = False) -> None:
        """An artifact's measurement on a device is over: merged into that device's results.json
        (or the artifact failed, or is left for --resume); the folder finished if it was the last."""
        rec = self.record(job, value, error, lost)
        folder = self.device_dir(job["point"], job["device"])
        r = results.load(folder)
        key = tuple(job["key"])
        art = r.artifact(key)
        ids = [f"{VERIFY}:{artifact_id(key)}"]
        if error is not None and lost:  # not measured, through no fault of its own: --resume measures it
            art.status, art.error = "lost", f"not measured on {job['device']}: {error}; --resume measures it"
            ids = []
            r.interrupted = True
        elif error is not None:
            art.status, art.error = "failed", f"measuring on {job['device']}: {error}"
        else:
            _safe_write(folder, value["files"])
            r.artifacts[r.artifacts.index(art)] = art = Artifact.model_validate(value["artifact"])
            ids = value["done"]
            for k, v in value["breakdown"].items():
                r.wall_time_breakdown_s[k] = r.wall_time_breakdown_s.get(k, 0.0) + v
            r.wall_time_s = (r.wall_time_s or 0.0) + value["wall_s"]
        art.measured_on = {"device": job["device"], "node_id": rec.get("node_id"), "hostname": rec.get("hostname")}
        r.progress.done += [i for i in ids if i not in r.progress.done]
        results.save(folder, r)
        if not self.jobs.waiting_on(job["point"], job["device"]):
            self.device_finished(job["point"], job["device"], r)
        self.save()

    def device_finished(self, name: str, device: str, r: RunResults) -> None:
        from edgebench.pipeline.run import overall_status
        from edgebench.report import write_reports

        folder = self.device_dir(name, device)
        r.status = overall_status([t.status for t in r.trainings] + [a.status for a in r.artifacts])
        r.finished_at = results.now_iso()
        # The reports first: results.json saying finished is the last thing written, so a sweep cut
        # short in between finishes this folder again on --resume.
        write_reports(r, folder, figures=True)
        results.save(folder, r)
        entry = self.entry(name)
        entry["devices"][device]["status"] = r.status
        self.point_status(entry)
        self.save()
        from edgebench.sweeps.report import write_all

        write_all(self.out, self.grid, self.state, figures=False)

    @staticmethod
    def point_status(entry: dict) -> None:
        """A point is finished when every device folder is: complete on all, failed on all, else partial."""
        statuses = {d["status"] for d in entry["devices"].values()}
        if statuses <= {"complete", "partial", "failed"}:
            entry["status"] = next(iter(statuses)) if len(statuses) == 1 else "partial"
