"""The Python API (issue 18, first step): what the CLI does, from a notebook or a script.

    import edgebench
    r = edgebench.run(frameworks="tensorflow,pytorch", epochs=2, limit_train=5000)
    r                      # in Jupyter: the report (summary, Table 1, the matrix, the plots)
    r.trainings[0].train_time_s, r.artifacts[0].size_bytes
    r.table1()             # a pandas DataFrame when pandas is installed, else a list of dicts
    edgebench.load("runs/20261201-120000"), edgebench.compare(a, b)

Options are `edgebench run`'s, by the same names (underscores or dashes) and with the same
defaults, read from the one option table (options.py) and checked by the same code: a bad value
raises UserError (ConfigError) with the line the CLI prints. Nothing here draws progress bars
unless asked (progress=True).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from edgebench.errors import UserError

__all__ = ["Artifact", "Results", "SweepResults", "Training", "compare", "deploy", "load", "report", "run", "sweep"]


@dataclass(frozen=True)
class Training:
    """One framework's training (in one mode): the headline figures of results.json's entry."""

    framework: str
    mode: str
    status: str
    train_time_s: float | None  # geometric mean over the counted repeats
    ci_low: float | None
    ci_high: float | None
    repeats: int
    test_accuracy: float | None
    error: str | None


@dataclass(frozen=True)
class Artifact:
    """One export and what its runtime made of it."""

    framework: str
    format: str
    precision: str
    status: str
    file: str | None
    size_bytes: int | None
    test_accuracy: float | None
    top1_agreement: float | None
    within_tolerance: bool | None
    latency_p50_ms: float | None
    throughput_images_per_s: float | None
    runtime: str  # the host runtime that verified it (the figures above are its)
    microcontroller_ram_bytes: dict[str, int | None]  # by microcontroller runtime that ran it
    error: str | None


class _Folder:
    """An edgebench folder and its JSON document (`raw`)."""

    def __init__(self, raw: dict, folder: Path):
        self.raw, self.folder = raw, Path(folder)

    @property
    def status(self) -> str:
        return self.raw.get("status")


class Results(_Folder):
    """A run (or deploy) folder's results: `results` is the typed model (edgebench.results.schema,
    older runs migrated), `raw` the same as a JSON document."""

    def __init__(self, results, folder: Path):
        self.results, self.folder = results, Path(folder)

    @cached_property
    def raw(self) -> dict:
        return self.results.model_dump(mode="json")

    @property
    def status(self) -> str:
        return self.results.status

    @property
    def trainings(self) -> list[Training]:
        out = []
        for t in self.results.trainings:
            tt = t.timing.train_time_s if t.timing else {}
            out.append(Training(t.framework, t.mode, t.status, t.train_time_s, tt.get("ci_low"), tt.get("ci_high"),
                                len(t.repeats), t.test_accuracy, t.error))
        return out

    @property
    def artifacts(self) -> list[Artifact]:
        out = []
        for a in self.results.artifacts:
            host = a.result()
            out.append(Artifact(a.framework, a.format, a.precision, a.status, a.file, a.size_bytes,
                                host and host.test_accuracy, host and host.agreement, host and host.within_tolerance,
                                host and (host.latency_ms or {}).get("p50"),
                                host and (host.throughput or {}).get("images_per_s"), a.runtime,
                                {m.runtime: m.ram_bytes for m in a.microcontroller_results()}, a.error))
        return out

    def table1(self):
        """Table 1 (one row per training) as a pandas DataFrame, or a list of dicts without pandas."""
        return _frame([t.__dict__ for t in self.trainings])

    def matrix(self):
        """The deployment matrix (one row per artifact), as a DataFrame or a list of dicts; each
        microcontroller runtime's RAM in a column of its own, named as in artifacts.csv
        (`tflm_arena_bytes`)."""
        rows = []
        for a in self.artifacts:
            row = {k: v for k, v in a.__dict__.items() if k != "microcontroller_ram_bytes"}
            rows.append(row | {f"{rt}_arena_bytes": ram for rt, ram in a.microcontroller_ram_bytes.items()})
        return _frame(rows)

    def layers(self, artifact: str | None = None):
        """Per-layer error against the source model (one row per artifact, runtime and layer) as a
        pandas DataFrame; artifact: one of them, as "framework/format-precision"."""
        from edgebench.report.layers import dataframe

        return dataframe(self.results, artifact)

    def _repr_html_(self) -> str:
        """The report itself (report.html's body: summary cards, Table 1, the matrix, the plots)."""
        return _body(self.folder / "report.html", repr(self))

    def __repr__(self) -> str:
        return (f"Results({str(self.folder)!r}, status={self.status!r}, trainings={len(self.results.trainings)}, "
                f"artifacts={len(self.results.artifacts)})")


class SweepResults(_Folder):
    """A sweep folder: sweep.json (`raw`) and the run folder of every point (and device)."""

    def points(self) -> list[Results]:
        from edgebench.sweeps.report import run_dirs

        return [load(folder) for _, _, folder in run_dirs(self.folder, self.raw)
                if (folder / "results.json").is_file()]

    def table(self):
        """results.csv's rows (one per point x artifact x device), as a DataFrame or a list of dicts."""
        import csv

        with open(self.folder / "results.csv", newline="") as f:
            return _frame(list(csv.DictReader(f)))

    def _repr_html_(self) -> str:
        """The sweep report (sweep.html's body: the tables and the Pareto plots)."""
        return _body(self.folder / "sweep.html", repr(self))

    def __repr__(self) -> str:
        return f"SweepResults({str(self.folder)!r}, status={self.status!r}, points={len(self.raw.get('points', []))})"


def _body(page: Path, fallback: str) -> str:
    """An edgebench HTML page's body, for a notebook cell; the object's repr, escaped, without one."""
    if page.is_file():
        text = page.read_text()
        start, end = text.find("<body>"), text.rfind("</body>")
        if start >= 0 and end > start:
            return text[start + len("<body>"):end]
    return f"<pre>{html.escape(fallback)}</pre>"


def _frame(rows: list[dict]):
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)


def _quiet(label: str, ev: dict) -> None:
    return None


def _events(progress: bool):
    """The CLI's progress bars (rich, which also renders in Jupyter) when asked, else nothing."""
    if not progress:
        return None, _quiet
    from edgebench.progress import ProgressView, console, progress_bars

    bars = progress_bars(console)
    view = ProgressView(bars)
    return bars, view


def run_config(**options: Any):
    """The RunConfig these options give: `run`'s option table, its defaults and its checks.
    preset= applies a preset to the options not given."""
    from edgebench.config import validate
    from edgebench.options import apply_preset, check_values, defaults, to_config

    preset = options.pop("preset", None)
    given = check_values({k: str(v) if isinstance(v, Path) else v for k, v in options.items()}, "edgebench.run()")
    cfg = to_config({**defaults(), **given})
    if preset is not None:
        cfg = apply_preset(cfg, preset, set(given))
    validate(cfg)
    return cfg


def _resumable(run_dir: Path, noun: str, own: str, extra: list[str], check=None):
    """An unfinished run's or deploy's results.json, or a one-line error: options given beside --resume
    (it keeps its own), a folder `check` refuses, a finished one, or one stopped before its inputs."""
    from edgebench import results
    from edgebench.errors import ConfigError

    if extra:
        raise ConfigError(f"--resume uses the {noun}'s own {own}; drop " + ", ".join(extra))
    r = results.load(run_dir)
    if check is not None:
        check(r)
    if r.status == "complete":
        raise UserError(f"--resume {run_dir}: the {noun} is already complete; nothing to resume")
    if not r.config or not r.fairness:
        raise UserError(f"--resume {run_dir}: the {noun} stopped before its inputs were written; start a new {noun}")
    return r


def resume_config(run_dir: Path, given: set[str]):
    """The configuration and results of an unfinished run, to continue it (`run --resume`)."""
    from edgebench import data
    from edgebench.config import RunConfig

    extra = ["--" + g.replace("_", "-") for g in sorted(given) if g not in ("resume", "json_output")]
    r = _resumable(run_dir, "run", "configuration", extra)
    cfg = RunConfig.from_dict({**r.config, "out": str(run_dir)})
    now = data.load(cfg.dataset, limit_train=cfg.limit_train, limit_test=cfg.limit_test,
                    num_classes=cfg.num_classes).checksums
    if now != r.config.get("dataset_sha256", now):
        raise UserError(f"--resume {run_dir}: the dataset '{cfg.dataset}' changed since the run started")
    return cfg, r


def _writer():
    """What a run or deploy writes beside results.json after each save: its reports."""
    from edgebench.report import write_reports

    return write_reports


def run_job(on_event=None, resume: str | Path | None = None, **options: Any):
    """A run made and checked, not started: its folder is `.dir`, `.execute()` runs it (the CLI
    draws its progress around that). resume= continues an unfinished run with its own options."""
    from edgebench.pipeline import Run

    if resume is not None:
        cfg, previous = resume_config(Path(resume), set(options))
        return Run(cfg, on_event=on_event, resume=previous, writer=_writer())
    return Run(run_config(**options), on_event=on_event, writer=_writer())


def run(progress: bool = False, **options: Any) -> Results:
    """`edgebench run` with these options (preset= and resume= too); returns its Results. Ctrl-C
    (or a notebook's stop button) keeps what finished, as on the command line, and raises
    KeyboardInterrupt."""
    return _execute(lambda on_event: run_job(on_event=on_event, **options), progress)


def _execute(make_job, progress: bool) -> Results:
    """Make the job (its inputs checked), run it under progress bars if asked, wrap its results."""
    bars, on_event = _events(progress)
    job = make_job(on_event)
    if bars is None:
        r = job.execute()
    else:
        with bars:
            r = job.execute()
    return Results(r, job.dir)


def _deploy_names() -> dict[str, str]:
    """deploy's options by their CLI names -> DeployConfig's fields, where they differ (the option table's)."""
    from edgebench.options import for_command

    return {o.name: o.field for o in for_command("deploy") if o.setting and o.field and o.field != o.name}


def parse_range(text) -> tuple[float, float] | None:
    """--input-range LO,HI (a string, or a pair)."""
    if text is None:
        return None
    if not isinstance(text, str):
        return tuple(float(v) for v in text)
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--input-range {text!r}: expected LO,HI, two numbers, e.g. -1,1") from None
    return lo, hi


def deploy_resume_config(run_dir: Path, given: set[str]):
    """The configuration and results of an unfinished deploy, to continue it (`deploy --resume`)."""
    from edgebench.config import DeployConfig

    def a_deploy(r) -> None:
        if r.config.get("command") != "deploy" or r.source is None:
            raise UserError(f"--resume {run_dir}: not a deploy's folder (edgebench run --resume continues a run)")

    extra = ["the model file" if g == "model" else "--" + g.replace("_", "-") for g in sorted(given)]
    r = _resumable(run_dir, "deploy", "configuration and its copy of the model", extra, a_deploy)
    return DeployConfig.from_dict({**r.config, "out": str(run_dir)}), r


def deploy_job(model: str | Path | None, on_event=None, resume: str | Path | None = None, **options: Any):
    """A deploy made and checked (the model file read in a child), not started. resume= continues an
    unfinished deploy with its own options."""
    from edgebench.config import DeployConfig, parse_formats
    from edgebench.pipeline.deploy import Deploy

    if resume is not None:
        given = set(options) | ({"model"} if model is not None else set())
        cfg, previous = deploy_resume_config(Path(resume), given)
        return Deploy(cfg, on_event=on_event, resume=previous, writer=_writer())

    fields, names = DeployConfig.__dataclass_fields__, _deploy_names()
    values = {}
    for key, value in options.items():
        name = key.replace("-", "_")
        field = names.get(name, name)
        if field not in fields or field == "model":
            option = {f: n for n, f in names.items()}
            raise UserError(f"edgebench.deploy(): unknown option {key}; valid: "
                            + ", ".join(sorted({option.get(f, f) for f in fields if f != "model"})))
        values[field] = (not value) if name == "no_mcu" else value
    if isinstance(values.get("formats"), str):
        values["formats"] = parse_formats(values["formats"])
    values["boards"] = tuple(values.get("boards") or ())
    values["input_range"] = parse_range(values.get("input_range"))
    if values.get("out") is not None:
        values["out"] = Path(values["out"])
    return Deploy(DeployConfig(model=str(model), **values), on_event=on_event, writer=_writer())


def deploy(model: str | Path | None = None, progress: bool = False, **options: Any) -> Results:
    """`edgebench deploy MODEL` with these options, by the CLI's names (dataset=, formats=,
    samples=, input_range=, board=, no_mcu=, ...); resume=DIR continues an unfinished deploy."""
    return _execute(lambda on_event: deploy_job(model, on_event=on_event, **options), progress)


def sweep_job(grid: str | Path, out: str | Path, cluster: str | None = None, resume: bool = False,
              allow_insecure_cluster: bool = False, on_event=None):
    """A sweep made (its grid checked, every point validated), not started: a LocalSweep, or a
    ClusterSweep (whose connect() checks the cluster)."""
    from edgebench.sweeps.grid import load as load_grid

    g = load_grid(Path(grid))
    if resume and out is None:
        raise UserError("--resume needs --out, the sweep folder to continue")
    if cluster is None:
        from edgebench.sweeps.local import LocalSweep

        return LocalSweep(g, Path(out), grid_file=None if resume else Path(grid), resume=resume, on_event=on_event)
    from edgebench.sweeps.cluster import ClusterSweep

    return ClusterSweep(g, Path(out), cluster, grid_file=None if resume else Path(grid), resume=resume,
                        allow_insecure=allow_insecure_cluster, on_event=on_event)


def sweep(grid: str | Path, out: str | Path, cluster: str | None = None, resume: bool = False,
          allow_insecure_cluster: bool = False) -> SweepResults:
    """`edgebench sweep GRID.toml --out DIR [--cluster ADDRESS] [--resume]`."""
    job = sweep_job(grid, out, cluster, resume, allow_insecure_cluster)
    return SweepResults(job.execute(), Path(out))


def load(run_dir: str | Path) -> Results:
    """A finished (or partial) run or deploy folder."""
    from edgebench import results

    return Results(results.load(Path(run_dir)), Path(run_dir))


def report(run_dir: str | Path) -> Results:
    """Re-render report.md, report.html and the plots from results.json alone (`edgebench report`)."""
    from edgebench.report import write_reports

    r = load(run_dir)
    try:
        write_reports(r.results, r.folder)
    except (KeyError, TypeError, IndexError) as e:
        raise UserError(f"{r.folder / 'results.json'} is incomplete: no {e} where the report needs it") from None
    return r


def compare(a: Results | str | Path, b: Results | str | Path, band: float = 0.03,
            accuracy_band: float = 0.005) -> dict:
    """`edgebench compare A B` as data: for each figure the two runs share, B/A (accuracy: B - A)
    with its 95% interval and a verdict (same / faster / slower / unclear) against the band
    (a fraction: 0.03 is +-3%; accuracy_band in accuracy units: 0.005 is 0.5 points). The
    Markdown the CLI writes is compare(a, b)["markdown"]."""
    from edgebench.report.compare import compare as diff
    from edgebench.report.compare import render

    if not (0 <= band < 1) or not (0 <= accuracy_band < 1):
        raise UserError(f"--band must be a percentage from 0 to 100 and --accuracy-band points from 0 to 100, "
                        f"got {band * 100:g} and {accuracy_band * 100:g}")
    ra = a if isinstance(a, Results) else load(a)
    rb = b if isinstance(b, Results) else load(b)
    from edgebench.results import shown

    c = diff(ra.results, rb.results, shown(ra.folder), shown(rb.folder), band=band, accuracy_band=accuracy_band)
    return {**c, "markdown": render(c, ra.results)}

