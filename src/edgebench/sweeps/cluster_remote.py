"""What runs on a cluster's nodes: describing a node, a point's build jobs, one artifact's
measurement. Ray sends these functions by reference, so this module is what each node imports."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from edgebench import results
from edgebench.version import __version__
from edgebench.pipeline.jobs import MICROCONTROLLER, SPEED_LIMIT, TIMING, TRAIN, TWIN, VERIFY

BUILD_KINDS = frozenset({SPEED_LIMIT, TRAIN, TIMING, TWIN})
MEASURE_KINDS = frozenset({VERIFY, MICROCONTROLLER})
SCRATCH = ".work"  # a run folder's scratch: never shipped


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
        r = Run(replace(cfg, out=folder), select=lambda j: j.kind in BUILD_KINDS).execute()
        files = _files(folder, {results.RESULTS_FILE})
    return {"results": r.model_dump(mode="json"), "files": files, **_here(), "start": start, "end": time.time(),
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
        r = Run(replace(cfg, out=folder), resume=results.parse(built, "the build's results"), cache_data=False,
                select=lambda j: j.kind in MEASURE_KINDS and j.artifact == key).execute()
        files = _files(folder, {results.RESULTS_FILE, *shipped})
    art = r.artifact(key).model_dump(mode="json")
    # The run worked on its own copy: `built` is still the build's record.
    spent = {k: v - built.get("wall_time_breakdown_s", {}).get(k, 0.0) for k, v in r.wall_time_breakdown_s.items()}
    had = set(built["progress"]["done"])
    done = [j for j in r.progress.done if j not in had]
    return {"artifact": art, "done": done, "files": files, "breakdown": {k: v for k, v in spent.items() if v > 0},
            **_here(), "start": start, "end": time.time(), "wall_s": time.perf_counter() - t0}
