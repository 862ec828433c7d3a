"""results.json: the single source of truth. Written atomically after every stage."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"



def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False, default=jsonable)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def jsonable(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def read(run_dir: Path) -> dict | None:
    """results.json of a run folder as it is, or None where there is none or it cannot be read
    (a folder a sweep has not finished writing)."""
    try:
        return json.loads((Path(run_dir) / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    """The cores this process may run on (its affinity; all of them where that is not readable)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load(run_dir: Path) -> dict:
    """results.json of a run folder, checked; a UserError names what is wrong."""
    from edgebench.errors import UserError

    path = Path(run_dir) / RESULTS_FILE
    if not Path(run_dir).is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    try:
        with open(path) as f:
            r = json.load(f)
    except FileNotFoundError:
        raise UserError(f"{run_dir}: not an edgebench run (no {RESULTS_FILE})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(r, dict) or "schema_version" not in r:
        raise UserError(f"{path}: not an edgebench results file (no schema_version)")
    if r["schema_version"] > SCHEMA_VERSION:
        raise UserError(f"{path}: schema version {r['schema_version']} is newer than this edgebench "
                        f"understands ({SCHEMA_VERSION}); upgrade edgebench")
    return r


def shown(path: str | Path) -> Path:
    """A path as people read it: relative to the working folder when inside it, else as given."""
    import os

    rel = os.path.relpath(Path(path).resolve(), Path.cwd())
    return Path(path) if rel.startswith("..") else Path(rel)


def list_runs(root: Path) -> list[dict]:
    """Every run folder directly under root, oldest first."""
    runs = []
    if not Path(root).is_dir():
        return runs
    for d in sorted(Path(root).iterdir()):
        f = d / RESULTS_FILE
        if not f.is_file():
            continue
        try:
            r = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            runs.append({"dir": str(d), "status": "unreadable"})
            continue
        ok = [t for t in r.get("trainings", []) if t.get("status") == "ok"]
        src = r.get("source") or {}
        if src.get("status") == "ok" and src.get("test_accuracy") is not None:  # a deploy: its source model
            ok = ok + [{"test_accuracy": src["test_accuracy"]}]
        runs.append({"dir": str(d), "created_at": r.get("created_at"), "status": r.get("status"),
                     "frameworks": [t["framework"] + ("" if t.get("mode", "eager") == "eager" else f"[{t['mode']}]")
                                    for t in r.get("trainings", [])]
                     + ([f"deploy {Path(str(src.get('file'))).name}"] if src else []),
                     "dataset": r.get("dataset", {}).get("name"), "epochs": r.get("config", {}).get("epochs"),
                     "best_accuracy": max((t["test_accuracy"] for t in ok), default=None),
                     "artifacts_ok": sum(a.get("status") == "ok" for a in r.get("artifacts", [])),
                     "wall_time_s": r.get("wall_time_s")})
    return runs


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def environment() -> dict:
    versions = {}
    from edgebench import registry

    for name in registry.distributions():  # read from metadata: nothing is imported
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    usable = usable_cores()
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "memory_bytes": _memory_bytes(),
        "packages": versions,
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
    }
