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
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from edgebench import __version__, results
from edgebench.errors import UserError
from edgebench.pipeline.jobs import MICROCONTROLLER, SPEED_LIMIT, TIMING, TRAIN, TWIN, VERIFY, artifact_id
from edgebench.sweeps.grid import Grid

SLOT = "edgebench_slot"
DEVICE_LABEL = "edgebench-device"
BUILD_LABEL = "edgebench-build"
BUILD_KINDS = frozenset({SPEED_LIMIT, TRAIN, TIMING, TWIN})
MEASURE_KINDS = frozenset({VERIFY, MICROCONTROLLER})
SCRATCH = ".work"  # a run folder's scratch: never shipped
RETRIES = 3  # Ray's retries of a job whose node died (its own errors are not retried)
WATCH_S = 2.0  # how often the driver checks that every device it waits on still has a live node


# -- the address ------------------------------------------------------------------------------
def check_address(address: str, allow_insecure: bool) -> None:
    """A Ray cluster without authentication runs any code it is sent: an address outside the
    loopback range is refused unless token authentication is on (RAY_AUTH_MODE=token) or the user
    says --allow-insecure-cluster. "auto" is checked as what Ray resolves it to."""
    if allow_insecure or os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
        return
    refuse = UserError(f"--cluster {address}: not a loopback address and Ray token authentication is off (a "
                       "cluster without it runs any code it is sent); start the cluster and this driver with "
                       "RAY_AUTH_MODE=token (README, Sweeps), or pass --allow-insecure-cluster on a network you trust")
    target = address.strip()
    if target == "auto":
        target = os.environ.get("RAY_ADDRESS", "").strip()
        if not target:
            try:
                target = Path("/tmp/ray/ray_current_cluster").read_text().strip()
            except OSError:
                return  # nothing to connect to: Ray will say so
    if "://" in target:
        target = target.split("://", 1)[1]
    if not target or any(c in target for c in "@?#/"):
        raise refuse  # only a plain HOST:PORT is checked; anything else is not taken on trust
    if target.startswith("["):
        host = target[1:].split("]", 1)[0]
    elif target.count(":") == 1:
        host = target.split(":", 1)[0]
    else:
        host = target
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise refuse


# -- what runs on the nodes ------------------------------------------------------------------
def _here() -> dict:
    import ray

    return {"node_id": ray.get_runtime_context().get_node_id(), "hostname": platform.node(), "pid": os.getpid()}


def describe_node() -> dict:
    """This node, once per sweep: versions (which must match the driver's) and the machine."""
    import ray

    return {**_here(), "python": platform.python_version(), "ray": ray.__version__, "edgebench": __version__,
            "machine_facts": results.environment()}


def _files(folder: Path, skip: set[str] = frozenset()) -> dict[str, bytes]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not rel.startswith(SCRATCH + "/") and rel not in skip:
            out[rel] = p.read_bytes()
    return out


def build_point(cfg) -> dict:
    """The point's build jobs in a scratch run folder; its results and files go back to the driver."""
    from edgebench.pipeline import Run

    start, t0 = time.time(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgebench-build-") as tmp:
        folder = Path(tmp) / "run"
        r = Run(replace(cfg, out=folder), select=lambda j: j.kind in BUILD_KINDS, reports=False).execute()
        files = _files(folder, {results.RESULTS_FILE})
    return {"results": r, "files": files, **_here(), "start": start, "end": time.time(),
            "wall_s": time.perf_counter() - t0}


def measure_artifact(cfg, built: dict, shipped: dict, key: tuple[str, str, str]) -> dict:
    """One artifact's verification (and TFLite Micro) on this node: the build's run resumed in a
    scratch folder with only that artifact's jobs. `shipped`: {path in the run folder: ObjectRef}."""
    import ray

    from edgebench.pipeline import Run

    start, t0 = time.time(), time.perf_counter()
    key = tuple(key)
    with tempfile.TemporaryDirectory(prefix="edgebench-measure-") as tmp:
        folder = Path(tmp) / "run"
        refs = list(shipped.values())
        for rel, blob in zip(shipped, ray.get(refs)):
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        results.write_json_atomic(folder / results.RESULTS_FILE, built)
        r = Run(replace(cfg, out=folder), resume=copy.deepcopy(built), reports=False, cache_data=False,
                select=lambda j: j.kind in MEASURE_KINDS and j.artifact == key).execute()
        files = _files(folder, {results.RESULTS_FILE, *shipped})
    art = next(a for a in r["artifacts"] if (a["framework"], a["format"], a["precision"]) == key)
    # The run worked on its own copy: `built` is still the build's record.
    spent = {k: v - built.get("wall_time_breakdown_s", {}).get(k, 0.0)
             for k, v in r.get("wall_time_breakdown_s", {}).items()}
    had = set(built["progress"]["done"])
    done = [j for j in r["progress"]["done"] if j not in had]
    return {"artifact": art, "done": done, "files": files, "breakdown": {k: v for k, v in spent.items() if v > 0},
            **_here(), "start": start, "end": time.time(), "wall_s": time.perf_counter() - t0}


# -- the driver ------------------------------------------------------------------------------
def version_mismatch(driver: dict, nodes: list[dict]) -> str | None:
    """The first node whose Python, Ray or edgebench version differs from the driver's, in words."""
    for n in nodes:
        differ = [f"{k} {n.get(k)} (driver {driver[k]})" for k in ("python", "ray", "edgebench")
                  if n.get(k) != driver[k]]
        if differ:
            where = n.get("device") or "build node"
            return (f"node {n['node_id'][:12]} ({n.get('hostname')}, {where}) runs " + ", ".join(differ)
                    + "; Ray needs the same Python and Ray versions on every node, and edgebench the same version")
    return None


def _offers(node: dict) -> tuple[str | None, bool]:
    labels = node.get("Labels") or {}
    return labels.get(DEVICE_LABEL), labels.get(BUILD_LABEL) == "true"


def live_nodes(ray) -> list[dict]:
    """Live nodes that take timed jobs (they offer the slot), with what they offer."""
    out = []
    for n in ray.nodes():
        if n.get("Alive") and (n.get("Resources") or {}).get(SLOT, 0) >= 1:
            device, build = _offers(n)
            out.append({"node_id": n["NodeID"], "address": n.get("NodeManagerAddress"), "device": device,
                        "build": build})
    return out


def missing_offers(nodes: list[dict], devices: list[str]) -> str | None:
    """Why the sweep cannot run on these nodes, in one line, or None."""
    offered = sorted({n["device"] for n in nodes if n["device"]})
    lacking = [d for d in devices if d not in offered]
    if lacking:
        return (f"no live node offers device {', '.join(repr(d) for d in lacking)} (label {DEVICE_LABEL}=NAME and "
                f"resource {SLOT}=1); the cluster's nodes offer {', '.join(offered) or 'no device'}")
    if not any(n["build"] for n in nodes):
        return f"no live node offers the build role (label {BUILD_LABEL}=true and resource {SLOT}=1)"
    return None


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


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _safe_write(folder: Path, files: dict[str, bytes]) -> None:
    root = folder.resolve()
    for rel, blob in files.items():
        path = (folder / rel).resolve()
        if root not in path.parents:  # a path from a node never leaves the run folder
            raise UserError(f"a node returned a file outside its run folder: {rel!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    cause = getattr(e, "cause", None)
    if cause is not None:
        text = [f"{type(cause).__name__}: {cause}".splitlines()[0]]
    return f"{type(e).__name__}: {text[-1] if text else ''}"[:500]


class ClusterSweep:
    """Owns the sweep folder; dispatches build and measure jobs; merges what comes back."""

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
                raise UserError(f"--resume {self.out}: this sweep ran locally; resume it without --cluster")
            check_same_grid(self.out, self.state, grid)
        elif self.out.exists() and any(self.out.iterdir()):
            raise UserError(f"--out {self.out}: exists and is not empty; choose a new folder")
        self.grid_file, self.resume = grid_file, resume
        self.refs: dict = {}  # ObjectRef -> the job it runs
        self.blobs: dict[str, Any] = {}  # sha256 -> ObjectRef: each file put into the object store once
        self.jobs_total = self.jobs_done = 0
        self.ray = None

    # -- connection and checks ---------------------------------------------------------------
    def _connect(self):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        import ray

        try:
            ray.init(address=self.address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
        except Exception as e:  # noqa: BLE001 - any failure to connect is the user's address
            raise UserError(f"--cluster {self.address}: cannot connect to a Ray cluster there "
                            f"({_one_line(e)})") from None
        return ray

    def _check_cluster(self, ray) -> list[dict]:
        nodes = live_nodes(ray)
        devices = list(self.grid.devices) or sorted({n["device"] for n in nodes if n["device"]})
        if not devices:
            raise UserError(f"--cluster {self.address}: no node is labelled with a device ({DEVICE_LABEL}=NAME) "
                            f"and the grid names none")
        why = missing_offers(nodes, devices)
        if why:
            raise UserError(f"--cluster {self.address}: {why}")
        self.devices = devices
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        describe = ray.remote(describe_node)
        refs = [describe.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            n["node_id"], soft=False)).remote() for n in nodes]
        ready, waiting = ray.wait(refs, num_returns=len(refs), timeout=120)
        if waiting:
            late = [n for n, r in zip(nodes, refs) if r in waiting]
            raise UserError(f"--cluster {self.address}: node {late[0]['node_id'][:12]} ({late[0]['address']}) did "
                            "not answer within 120 s; is edgebench installed there?")
        described = []
        for n, ref in zip(nodes, refs):
            try:
                described.append({**n, **ray.get(ref)})
            except Exception as e:  # noqa: BLE001
                raise UserError(f"--cluster {self.address}: node {n['node_id'][:12]} ({n['address']}) cannot run "
                                f"edgebench: {_one_line(e)}") from None
        me = {"python": platform.python_version(), "ray": ray.__version__, "edgebench": __version__}
        differs = version_mismatch(me, described)
        if differs:
            raise UserError(f"--cluster {self.address}: {differs}")
        return described

    # -- folders -----------------------------------------------------------------------------
    def device_dir(self, point_name: str, device: str) -> Path:
        return self.out / point_name / device

    def _save(self) -> None:
        results.write_json_atomic(self.file, self.state)

    def _new_state(self, nodes: list[dict]) -> None:
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
        self.ray = ray = self._connect()
        try:
            nodes = self._check_cluster(ray)
            if self.resume:
                if sorted(self.state["devices"]) != sorted(self.devices):
                    raise UserError(f"--resume {self.out}: the sweep measures on {', '.join(self.state['devices'])}, "
                                    f"the grid now names {', '.join(self.devices)}")
                self.state["status"] = "running"
                self.state.setdefault("resumed_at", []).append(results.now_iso())
            else:
                self._new_state(nodes)
            self._describe(nodes)
            self.state["connect_s"] = time.perf_counter() - t0  # connecting, checking and describing the nodes
            self._save()
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
                for ref in list(self.refs):
                    ray.cancel(ref, force=True)
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
        # Every timed section already runs in a fresh process of its own (the run's child per training and
        # per artifact, as in `run`), so the Ray worker that drives it is reused: a fresh Ray worker per
        # job (max_calls=1) would add its start-up to every job and isolate nothing more.
        timed = dict(num_cpus=0, resources={SLOT: 1}, max_retries=RETRIES, retry_exceptions=False)
        self.build_fn = ray.remote(**timed)(build_point).options(label_selector={BUILD_LABEL: "true"})
        self.measure_fn = ray.remote(**timed)(measure_artifact)
        for point, entry in zip(self.grid.points, self.state["points"]):
            self._start_point(ray, point, entry)
        self._progress()
        while self.refs:
            ready, _ = ray.wait(list(self.refs), num_returns=1, timeout=WATCH_S)
            if not ready:
                self._watch(ray)
                continue
            ref = ready[0]
            job = self.refs.pop(ref)
            lost = False
            try:
                value, error = ray.get(ref), None
            except ray.exceptions.RayTaskError as e:  # the job's own error: a result, final
                value, error = None, _one_line(e)
            except Exception as e:  # noqa: BLE001 - its node (or worker) lost RETRIES times: not its fault
                value, error, lost = None, _one_line(e), True
            self._settle(ray, job, value, error, lost)
            self._progress()

    def _settle(self, ray, job: dict, value: dict | None, error: str | None, lost: bool = False) -> None:
        """A job is over (its value, or why it failed): record it and merge or fail what it was for. A
        job lost with its node (lost) is recorded as such and redone by --resume; a job's own error is
        final."""
        if job["kind"] == "build":
            self._built(ray, job, value, error, lost)
        else:
            self._measured(job, value, error, lost)
        self.jobs_done += 1

    def _progress(self) -> None:
        points_done = sum(p["status"] not in ("pending", "running") for p in self.state["points"])
        self.on_event("sweep", {"event": "sweep", "points_done": points_done, "points": len(self.grid.points),
                                "jobs_done": self.jobs_done, "jobs": self.jobs_total})

    def _start_point(self, ray, point, entry: dict) -> None:
        """Resume what a point has left, or build it. Finished work is never redone: a build that
        failed by itself stays failed, a device folder that finished is not touched; what was lost
        with a node (or cut short) is done now."""
        if entry["status"] == "complete" or (entry.get("build") or {}).get("status") == "failed":
            return
        built = [self._built_results(point.name, d) for d in self.devices]
        if all(b is not None for b in built):
            for device, r in zip(self.devices, built):
                if r["status"] == "running" or r.get("interrupted"):
                    entry["status"] = "running"
                    for a in r["artifacts"]:
                        if a["status"] == "lost":  # its node left before measuring it: measured now
                            a.update(status="ok", error=None)
                    r.pop("interrupted", None)
                    r["status"] = "running"
                    results.write_json_atomic(self.device_dir(point.name, device) / results.RESULTS_FILE, r)
                    self._measure_all(ray, point, device, r)
                else:
                    entry["devices"][device]["status"] = r["status"]
            self._point_status(entry)
            return
        shutil.rmtree(self.out / point.name, ignore_errors=True)  # a build cut short: nothing finished in it
        entry.update(status="running", build={"status": "pending"})
        self._submit(self.build_fn.remote(point.config), {"kind": "build", "point": point.name})

    def _submit(self, ref, job: dict) -> None:
        self.refs[ref] = job
        self.jobs_total += 1

    def _built_results(self, name: str, device: str) -> dict | None:
        r = results.read(self.device_dir(name, device))
        return r if r is not None and (r.get("sweep") or {}).get("built") else None

    def _job_record(self, job: dict, value: dict | None, error: str | None, lost: bool = False) -> dict:
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

    def _built(self, ray, job: dict, value: dict | None, error: str | None, lost: bool = False) -> None:
        point = next(p for p in self.grid.points if p.name == job["point"])
        entry = next(e for e in self.state["points"] if e["name"] == point.name)
        rec = self._job_record(job, value, error, lost)
        entry["build"] = {k: rec.get(k) for k in ("status", "error", "node_id", "wall_s")}
        if error is not None:
            # Lost with its node: not finished (--resume builds it); its own error: failed, final.
            entry.update(status="lost" if lost else "failed", error=f"build: {error}")
            for d in entry["devices"].values():
                d["status"] = entry["status"]
            self._save()
            return
        r = value["results"]
        r["sweep"] = {"built": True, "executor": "ray", "build_node": value["node_id"],
                      "build_hostname": value["hostname"], "build_wall_s": value["wall_s"]}
        r["status"], r["wall_time_s"] = "running", value["wall_s"]
        r.pop("finished_at", None)
        for device in self.devices:
            folder = self.device_dir(point.name, device)
            folder.mkdir(parents=True, exist_ok=True)
            _safe_write(folder, value["files"])
            mine = copy.deepcopy(r)
            mine["sweep"]["device"] = device
            results.write_json_atomic(folder / results.RESULTS_FILE, mine)
        self._save()
        for device in self.devices:
            self._measure_all(ray, point, device, self._built_results(point.name, device))

    def _measure_all(self, ray, point, device: str, r: dict) -> None:
        """Submit a measure job for every artifact this device has not measured yet."""
        folder = self.device_dir(point.name, device)
        done = set(r["progress"]["done"])
        todo = [a for a in r["artifacts"] if a["status"] == "ok"
                and f"{VERIFY}:{artifact_id((a['framework'], a['format'], a['precision']))}" not in done]
        if not todo:
            self._device_finished(point.name, device, r)
            return
        built = {k: v for k, v in r.items() if k != "sweep"}
        for a in todo:
            key = (a["framework"], a["format"], a["precision"])
            need = [p.relative_to(folder).as_posix() for p in sorted((folder / "inputs").glob("*"))]
            need += [a["file"], f"{a['framework']}/test_logits.npy"]
            blobs = {rel: self._blob(ray, folder / rel) for rel in need if (folder / rel).is_file()}
            shipped = {rel: ref for rel, (ref, _) in blobs.items()}
            ref = self.measure_fn.options(label_selector={DEVICE_LABEL: device}).remote(
                point.config, built, shipped, key)
            self._submit(ref, {"kind": "measure", "point": point.name, "device": device, "key": key,
                               "artifact_sha256": blobs[a["file"]][1]})

    def _blob(self, ray, path: Path) -> tuple[Any, str]:
        """The file's ObjectRef (put once per content) and its sha256."""
        blob = path.read_bytes()
        h = sha256(blob)
        if h not in self.blobs:
            self.blobs[h] = ray.put(blob)
        return self.blobs[h], h

    def _measured(self, job: dict, value: dict | None, error: str | None, lost: bool = False) -> None:
        rec = self._job_record(job, value, error, lost)
        folder = self.device_dir(job["point"], job["device"])
        r = json.loads((folder / results.RESULTS_FILE).read_text())
        key = tuple(job["key"])
        art = next(a for a in r["artifacts"] if (a["framework"], a["format"], a["precision"]) == key)
        ids = [f"{VERIFY}:{artifact_id(key)}"]
        if error is not None and lost:  # not measured, through no fault of its own: --resume measures it
            art.update(status="lost", error=f"not measured on {job['device']}: {error}; --resume measures it")
            ids = []
            r["interrupted"] = True
        elif error is not None:
            art.update(status="failed", error=f"measuring on {job['device']}: {error}")
        else:
            _safe_write(folder, value["files"])
            art.clear()
            art.update(value["artifact"])
            ids = value["done"]
            for k, v in value["breakdown"].items():
                spent = r.setdefault("wall_time_breakdown_s", {})
                spent[k] = spent.get(k, 0.0) + v
            r["wall_time_s"] = r.get("wall_time_s", 0.0) + value["wall_s"]
        art["measured_on"] = {"device": job["device"], "node_id": rec.get("node_id"), "hostname": rec.get("hostname")}
        r["progress"]["done"] += [i for i in ids if i not in r["progress"]["done"]]
        results.write_json_atomic(folder / results.RESULTS_FILE, r)
        waiting = any(j.get("point") == job["point"] and j.get("device") == job["device"] for j in self.refs.values())
        if not waiting:
            self._device_finished(job["point"], job["device"], r)
        self._save()

    def _device_finished(self, name: str, device: str, r: dict) -> None:
        from edgebench.pipeline.run import overall_status
        from edgebench.report import write_reports

        folder = self.device_dir(name, device)
        r["status"] = overall_status([t["status"] for t in r["trainings"]] + [a["status"] for a in r["artifacts"]])
        r["finished_at"] = results.now_iso()
        # The reports first: results.json saying finished is the last thing written, so a sweep cut
        # short in between finishes this folder again on --resume.
        write_reports(r, folder, figures=True)
        results.write_json_atomic(folder / results.RESULTS_FILE, r)
        entry = next(e for e in self.state["points"] if e["name"] == name)
        entry["devices"][device]["status"] = r["status"]
        self._point_status(entry)
        self._save()
        from edgebench.sweeps.report import write_all

        write_all(self.out, self.grid, self.state, figures=False)

    @staticmethod
    def _point_status(entry: dict) -> None:
        """A point is finished when every device folder is: complete on all, failed on all, else partial."""
        statuses = {d["status"] for d in entry["devices"].values()}
        if statuses <= {"complete", "partial", "failed"}:
            entry["status"] = next(iter(statuses)) if len(statuses) == 1 else "partial"

    def _watch(self, ray) -> None:
        """Jobs waiting for a device (or the build role) that no live node offers any more fail now."""
        nodes = live_nodes(ray)
        offered = {n["device"] for n in nodes}
        can_build = any(n["build"] for n in nodes)
        for ref, job in list(self.refs.items()):
            if job["kind"] == "build" and not can_build:
                why = f"no live node offers the build role ({BUILD_LABEL}=true) any more"
            elif job["kind"] == "measure" and job["device"] not in offered:
                why = f"no live node offers device {job['device']!r} any more"
            else:
                continue
            ray.cancel(ref, force=True)
            del self.refs[ref]
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
