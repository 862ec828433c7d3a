"""results.json: the single source of truth, written atomically after every stage, and read and
written only through the typed models of results/schema.py (older shapes through results/migrate.py)."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from edgebench.results.schema import SCHEMA_VERSION, RunResults

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


def save(run_dir: Path, r: RunResults) -> None:
    """results.json of a run folder, written atomically from its typed model."""
    write_json_atomic(Path(run_dir) / RESULTS_FILE, r.model_dump(mode="json"))


def parse(raw: object, where: str | Path) -> RunResults:
    """A results.json object of any known schema, migrated and validated; a UserError names the file
    and the first field that is wrong."""
    from pydantic import ValidationError

    from edgebench.errors import UserError
    from edgebench.results.migrate import migrate

    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise UserError(f"{where}: not an edgebench results file (no schema_version)")
    version = raw["schema_version"]
    if not isinstance(version, int) or version < 1:
        raise UserError(f"{where}: schema_version must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise UserError(f"{where}: schema version {version} is newer than this edgebench "
                        f"understands ({SCHEMA_VERSION}); upgrade edgebench")
    try:
        return RunResults.model_validate(migrate(raw))
    except (ValidationError, KeyError, TypeError, AttributeError) as e:
        first = e.errors()[0] if isinstance(e, ValidationError) else None
        what = (f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}" if first
                else f"{type(e).__name__}: {e}")
        raise UserError(f"{where}: not a valid schema-{version} results file ({what})") from None


def read(run_dir: Path) -> RunResults | None:
    """results.json of a run folder, or None where there is none or it cannot be read or
    understood (a folder a sweep has not finished writing)."""
    from edgebench.errors import UserError

    try:
        return parse(json.loads((Path(run_dir) / RESULTS_FILE).read_text()), Path(run_dir) / RESULTS_FILE)
    except (OSError, ValueError, UserError):
        return None


def usable_cores() -> int:
    """The cores this process may run on (its affinity; all of them where that is not readable)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load(run_dir: Path) -> RunResults:
    """results.json of a run folder, migrated and validated; a UserError names what is wrong."""
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
    return parse(r, path)


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
        if not (d / RESULTS_FILE).is_file():
            continue
        r = read(d)
        if r is None:
            runs.append({"dir": str(d), "status": "unreadable"})
            continue
        accs = [t.test_accuracy for t in r.trainings if t.status == "ok"]
        if r.source is not None and r.source.status == "ok" and r.source.test_accuracy is not None:
            accs.append(r.source.test_accuracy)  # a deploy: its source model
        runs.append({"dir": str(d), "created_at": r.created_at, "status": r.status,
                     "frameworks": [t.framework + ("" if t.mode == "eager" else f"[{t.mode}]") for t in r.trainings]
                     + ([f"deploy {Path(r.source.file).name}"] if r.source is not None else []),
                     "dataset": r.dataset.get("name"), "epochs": r.config.get("epochs"),
                     "best_accuracy": max((a for a in accs if a is not None), default=None),
                     "artifacts_ok": sum(a.status == "ok" for a in r.artifacts),
                     "wall_time_s": r.wall_time_s})
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
