"""The command line: a thin typer layer that builds a RunConfig and calls the library."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgebench.config import (ModelSpec, OptimizerSpec, RunConfig, parse_formats, parse_frameworks,
                              parse_hidden, parse_mode)
from edgebench.errors import ConfigError, UserError
from edgebench.report.escape import rich_text as esc

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Train one network fairly in several frameworks, export it to embedded formats, "
                       "and verify every export on its real runtime.")
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Train one network fairly in several frameworks, export it to embedded formats, and verify
    every export on its real runtime."""


class ProgressView:
    """Turns pipeline events into rich progress bars."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, label: str, ev: dict) -> None:
        kind = ev["event"]
        label = esc(label)
        p = self.progress
        if kind == "start":
            total = ev.get("epochs") if ev["kind"] == "train" else ev.get("total")
            verb = "train" if ev["kind"] == "train" else "verify"
            self.tasks[label] = p.add_task(f"{verb} {label}", total=total)
        elif kind == "epoch":
            p.update(self.tasks[label], completed=ev["epoch"],
                     description=f"train {label}  loss {ev['loss']:.4f} acc {ev['accuracy']:.4f}")
        elif kind == "export":
            p.update(self.tasks[label], description=f"export {label} -> {ev['format']} {ev['precision']}")
        elif kind == "progress":
            p.update(self.tasks[label], completed=ev["done"])
        elif kind == "done" and label in self.tasks:
            task = self.tasks[label]
            p.update(task, completed=p.tasks[task].total,
                     description=f"[green]{'trained' if ev['kind'] == 'train' else 'verified'} {label}")
        elif kind == "failed":
            if label in self.tasks:
                p.update(self.tasks[label], description=f"[red]{label} failed")
            p.console.print(f"[red]{label} failed:[/red] {esc(ev['error'])}")
        elif kind == "skipped":
            p.console.print(f"[yellow]{label} skipped:[/yellow] {esc(ev['reason'])}")


def _artifact_status(a: dict) -> str:
    if a["status"] != "ok":
        error = str(a.get("error"))
        return f"[red]{esc(a['status'])}[/red]: {esc(error if len(error) <= 200 else error[:200] + '…')}"
    if a.get("within_tolerance") is False:
        return "[red]out of tol.[/red]"
    return "[green]ok[/green]"


def print_summary(r: dict, run_dir: Path) -> None:
    from edgebench.report.markdown import (artifact_label, comparison_sentences, highlights, table1_rows,
                                           title)

    t = Table(title="Table 1: training")
    for col in ("Framework", "Training Time (s)", "95% CI", "Test Accuracy"):
        t.add_column(col, justify="left" if col == "Framework" else "right")
    for row in table1_rows(r):
        t.add_row(*map(esc, row))
    console.print(t)
    for sentence in comparison_sentences(r):
        console.print(esc(sentence), soft_wrap=True)
    arts = r.get("artifacts", [])
    if arts:
        a_t = Table(title="Deployment matrix (each artifact verified on its runtime)",
                    box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
        for col in ("Source", "Artifact", "KB", "Acc", "Agree", "p50 us", "Status"):
            left = col in ("Source", "Artifact", "Status")
            a_t.add_column(col, justify="left" if left else "right", no_wrap=col != "Status")
        for a in arts:
            ok = a["status"] == "ok" and "top1_agreement" in a
            a_t.add_row(
                esc(title(a["framework"])), esc(f"{a['format']} {a['precision']}"),
                f"{a['size_bytes'] / 1000:.1f}" if a.get("size_bytes") else "-",
                f"{a['test_accuracy']:.4f}" if ok else "-",
                f"{a['top1_agreement'] * 100:.2f}%" if ok else "-",
                f"{a['latency_ms']['p50'] * 1000:.1f}" if ok and a.get("latency_ms") else "-",
                _artifact_status(a),
            )
        console.print(a_t)
    h = highlights(r)
    if h:
        console.print(f"Smallest within tolerance: {esc(artifact_label(h['smallest']))} "
                      f"({h['smallest']['size_bytes'] / 1000:.1f} KB); most accurate: "
                      f"{esc(artifact_label(h['most_accurate']))} ({h['most_accurate']['test_accuracy']:.4f})"
                      + (f"; fastest: {esc(artifact_label(h['fastest']))} "
                         f"({h['fastest']['latency_ms']['p50'] * 1000:.1f} us)" if "fastest" in h else ""),
                      soft_wrap=True)
    mcu = [a for a in arts if (a.get("microcontroller") or {}).get("status") == "ok"]
    if mcu:
        best = min(mcu, key=lambda a: (a["microcontroller"]["arena_bytes"], a["size_bytes"]))
        m = best["microcontroller"]
        fits = [f["board"] for f in m["fit"] if f["fits"]]
        console.print(f"TFLite Micro: {esc(artifact_label(best))} runs in a {m['arena_bytes']:,}-byte arena with "
                      f"{m['flash_bytes'] / 1000:.1f} KB of flash (accuracy {m['test_accuracy']:.4f}); "
                      f"fits {len(fits)}/{len(m['fit'])} boards", soft_wrap=True)
    console.print(f"Run status: [bold]{esc(r['status'])}[/bold]; wall time {r.get('wall_time_s', 0):.1f} s")
    console.print(esc(f"Results: {run_dir / 'results.json'}\nReport:  {run_dir / 'report.md'}"
                      + (f"\n         {run_dir / 'report.html'}" if (run_dir / "report.html").exists() else "")))


# Which CLI parameter sets each RunConfig field a preset may change.
_PRESET_PARAMS = {"frameworks": "frameworks", "formats": "formats", "repeats": "repeats",
                  "microcontroller": "no_mcu", "limit_train": "limit_train", "limit_test": "limit_test",
                  "epochs": "epochs", "latency_min_time_s": "latency_min_time"}
# Parameters a --config file may not set.
_NOT_IN_CONFIG = {"ctx", "config", "json_output", "resume"}


def apply_preset(cfg: RunConfig, preset: str, given: set[str]) -> RunConfig:
    """Preset values for every field whose parameter was not given (on the command line or in
    the config file)."""
    import dataclasses

    from edgebench.config import PRESETS

    name = preset.strip().lower()
    if name not in PRESETS:
        raise ConfigError(f"unknown --preset '{preset}'; valid choices: {', '.join(PRESETS)}")
    changes = {f: v for f, v in PRESETS[name].items() if _PRESET_PARAMS[f] not in given}
    return dataclasses.replace(cfg, preset=name, **changes)


def resume_config(run_dir: Path, given: set[str]) -> tuple[RunConfig, dict]:
    from edgebench import data, results

    extra = sorted(g for g in given if g not in ("resume", "json_output"))
    if extra:
        raise ConfigError("--resume uses the run's own configuration; drop "
                          + ", ".join("--" + g.replace("_", "-") for g in extra))
    r = results.load(run_dir)
    if r.get("status") == "complete":
        raise UserError(f"--resume {run_dir}: the run is already complete; nothing to resume")
    if "config" not in r or "fairness" not in r:
        raise UserError(f"--resume {run_dir}: the run stopped before its inputs were written; start a new run")
    cfg = RunConfig.from_dict({**r["config"], "out": str(run_dir)})
    now = data.load(cfg.dataset, limit_train=cfg.limit_train, limit_test=cfg.limit_test).checksums
    if now != r["config"].get("dataset_sha256", now):
        raise UserError(f"--resume {run_dir}: the dataset '{cfg.dataset}' changed since the run started")
    return cfg, r


def load_config_file(path: Path, params: dict) -> dict:
    """A TOML file whose keys are `edgebench run` options (dashes or underscores)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config {path}: cannot read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config {path}: not valid TOML ({e})") from None
    valid = sorted(k for k in params if k not in _NOT_IN_CONFIG)
    # Types of the options whose default is None.
    types = {"threads": int, "limit_train": int, "limit_test": int, "formats": str, "out": str, "preset": str,
             "board": list}
    out, unknown = {}, []
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in valid:
            unknown.append(key)
            continue
        want = types.get(name) or type(params[name])
        if isinstance(value, list) and name in ("frameworks", "formats", "hidden"):
            if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
                raise ConfigError(f"--config {path}: '{key}' must be a list of names or numbers, got {value!r}")
            value = ",".join(str(v) for v in value)
        if name == "board" and isinstance(value, str):
            value = [value]
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if ok and want is list:
            ok = all(isinstance(v, str) for v in value)
        if not ok:
            raise ConfigError(f"--config {path}: '{key}' must be {want.__name__}, got {value!r}")
        out[name] = Path(value) if name == "out" else value
    if unknown:
        raise ConfigError(f"--config {path}: unknown key(s) {', '.join(unknown)}; valid keys: "
                          + ", ".join(k.replace("_", "-") for k in valid))
    return out


@app.command()
def run(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, help="TOML file of run options (keys as the flags below); "
                                                     "flags given on the command line override it."),
    resume: Optional[Path] = typer.Option(None, help="Continue an interrupted run in this folder with its own "
                                                     "configuration; finished work is not redone."),
    json_output: bool = typer.Option(False, "--json", help="Print results.json to stdout at the end (progress "
                                                           "goes to stderr), for scripts."),
    preset: Optional[str] = typer.Option(None, help="lab (the published lab: TF + PyTorch, one float export "
                                                    "each), quick (a small slice, seconds), full (everything); "
                                                    "flags given explicitly override it."),
    frameworks: str = typer.Option("tensorflow,pytorch,jax", help="Comma list: tensorflow, pytorch, jax."),
    epochs: int = typer.Option(5, help="Training epochs."),
    batch_size: int = typer.Option(64, help="Mini-batch size."),
    hidden: str = typer.Option("64", help="Hidden layer sizes, comma list (e.g. 128,64)."),
    lr: float = typer.Option(1e-3, help="Learning rate."),
    optimizer: str = typer.Option("adam", help="adam or sgd."),
    adam_epsilon: float = typer.Option(1e-8, help="Adam epsilon, set in every framework."),
    adam_epsilon_placement: str = typer.Option(
        "aligned", help="aligned: every framework uses Keras' epsilon placement; native: each its own."),
    formats: Optional[str] = typer.Option(None, help="Export formats, comma list (tflite, onnx, executorch), "
                                                     "or none [default: all]."),
    bench_threads: int = typer.Option(1, help="Inference threads when timing artifacts (1 = one embedded core)."),
    calibration_samples: int = typer.Option(500, help="Training images that calibrate static int8 exports."),
    board: Optional[list[str]] = typer.Option(None, help="Extra microcontroller budget name:flash_kb:ram_kb "
                                                          "(repeatable)."),
    mode: str = typer.Option("eager", help="eager (what a typical user writes), compiled (each framework's "
                                           "fast path: XLA, torch.compile, lax.scan) or both."),
    repeats: int = typer.Option(3, help="Trainings per framework, each in a fresh process, interleaved; "
                                        "times are reported as mean with a 95% confidence interval."),
    twin: bool = typer.Option(False, "--twin", help="Also report how far the frameworks' weights and logits "
                                                   "drift apart after 1, 10, 100 steps and at the end."),
    no_mcu: bool = typer.Option(False, "--no-mcu", help="Skip TFLite Micro, C arrays and board fit."),
    latency_min_time: float = typer.Option(1.0, help="Seconds of timed batch-1 calls per artifact (and >= 200 calls)."),
    seed: int = typer.Option(0, help="Seed for the initial weights and the batch order."),
    threads: Optional[int] = typer.Option(None, help="Threads per framework [default: all cores]."),
    dataset: str = typer.Option("mnist", help="mnist, fashion-mnist, or a folder of IDX files."),
    limit_train: Optional[int] = typer.Option(None, help="Use only the first N training images."),
    limit_test: Optional[int] = typer.Option(None, help="Use only the first N test images."),
    out: Optional[Path] = typer.Option(None, help="Run folder [default: runs/<timestamp>]."),
) -> None:
    """Train, export, verify and report."""
    o = {k: v for k, v in locals().items() if k != "ctx"}  # first: every parameter, nothing else
    from edgebench.pipeline import Run

    given = {k for k in o if (src := ctx.get_parameter_source(k)) is not None and src.name != "DEFAULT"}
    if config is not None:
        from_file = load_config_file(config, o)
        o.update({k: v for k, v in from_file.items() if k not in given})  # the command line wins
        given |= set(from_file)
    cfg = RunConfig(
        frameworks=parse_frameworks(o["frameworks"]),
        dataset=o["dataset"],
        model=ModelSpec(hidden=parse_hidden(o["hidden"])),
        optimizer=OptimizerSpec(name=o["optimizer"].lower(), learning_rate=o["lr"], epsilon=o["adam_epsilon"],
                                epsilon_placement=o["adam_epsilon_placement"].lower()),
        formats=parse_formats(o["formats"]),
        bench_threads=o["bench_threads"],
        calibration_samples=o["calibration_samples"],
        latency_min_time_s=o["latency_min_time"],
        boards=tuple(o["board"] or ()),
        microcontroller=not o["no_mcu"],
        twin=o["twin"],
        repeats=o["repeats"],
        modes=parse_mode(o["mode"]),
        epochs=o["epochs"],
        batch_size=o["batch_size"],
        seed=o["seed"],
        threads=o["threads"] if o["threads"] is not None else (os.cpu_count() or 1),
        limit_train=o["limit_train"],
        limit_test=o["limit_test"],
        out=o["out"],
    )
    if o["preset"] is not None:
        cfg = apply_preset(cfg, o["preset"], given)
    previous = None
    if resume is not None:
        cfg, previous = resume_config(resume, given)
    # With --json, stdout carries only the JSON document; the progress goes to stderr.
    view = err_console if json_output else console
    import signal

    def on_sigterm(signum, frame):  # a scheduler's stop: handled like Ctrl-C, results kept
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    job = None
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=view, transient=False) as progress:
            job = Run(cfg, on_event=ProgressView(progress), resume=previous)
            progress.console.print(esc(f"Run folder: {job.dir}"))
            r = job.execute()
    except KeyboardInterrupt:
        where = f"; what finished is kept in {job.dir} (status partial)" if job is not None else ""
        err_console.print(esc(f"interrupted{where}"), highlight=False, soft_wrap=True)
        sys.exit(130)
    if json_output:
        import json

        sys.stdout.write(json.dumps(r, indent=1) + "\n")
    else:
        print_summary(r, job.dir)
    if r["status"] == "failed":
        raise typer.Exit(1)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A run folder (holding results.json).")) -> None:
    """Re-render report.md, report.html and the plots from results.json alone; nothing is retrained."""
    from edgebench import results
    from edgebench.report import write_reports

    r = results.load(run_dir)
    try:
        write_reports(r, run_dir)
    except (KeyError, TypeError, IndexError) as e:
        raise UserError(f"{run_dir / 'results.json'} is incomplete: no {e} where the report needs it") from None
    print_summary(r, run_dir)


@app.command("compare")
def compare_cmd(run_a: Path = typer.Argument(..., help="The earlier run folder."),
                run_b: Path = typer.Argument(..., help="The later run folder."),
                out: Optional[Path] = typer.Option(None, help="Where to write the diff [default: RUN_B/compare.md].")) -> None:
    """Side-by-side diff of two runs: times with the significance of the change, accuracies, sizes, latencies."""
    from edgebench import results
    from edgebench.report.compare import compare, render

    a, b = results.load(run_a), results.load(run_b)
    text = render(compare(a, b, run_a, run_b), a)
    target = out or run_b / "compare.md"
    target.write_text(text)
    console.print(text, markup=False, highlight=False)
    console.print(esc(f"written to {target}"))


@app.command()
def doctor() -> None:
    """List every framework, converter and runtime: installed (with version) or how to install it."""
    from edgebench.doctor import availability

    t = Table(title="edgebench doctor", box=box.SIMPLE_HEAD)
    for col in ("Kind", "Name", "Status", "Role"):
        t.add_column(col)
    rows = availability()
    for row in rows:
        status = (f"[green]{row['version'] or 'installed'}[/green]" if row["installed"]
                  else f"[red]missing[/red] ({row['missing']}): {row['install']}")
        t.add_row(row["kind"], row["name"], status, row["role"])
    console.print(t)
    missing = [r for r in rows if not r["installed"]]
    console.print(f"{len(rows) - len(missing)} of {len(rows)} available" +
                  ("; what is missing is skipped in a run, with this reason" if missing else ""))


@app.command("list")
def list_(runs_dir: Path = typer.Argument(Path("runs"), help="Folder holding run folders.")) -> None:
    """Show past runs: when, status, frameworks, best accuracy, artifacts."""
    from edgebench.results import list_runs

    runs = list_runs(runs_dir)
    if not runs:
        console.print(esc(f"no runs in {runs_dir}"))
        return
    t = Table(box=box.SIMPLE_HEAD)
    for col in ("Run", "Created (UTC)", "Status", "Frameworks", "Best acc", "Artifacts ok", "Wall (s)"):
        t.add_column(col, overflow="fold")
    for r in runs:
        created = str(r.get("created_at") or "-")[:16].replace("T", " ")
        t.add_row(esc(r["dir"]), esc(created), esc(r.get("status")), esc(",".join(r.get("frameworks", []))),
                  f"{r['best_accuracy']:.4f}" if r.get("best_accuracy") else "-",
                  str(r.get("artifacts_ok", "-")), f"{r['wall_time_s']:.0f}" if r.get("wall_time_s") else "-")
    console.print(t)


def _fail(message: str, code: int) -> None:
    err_console.print(f"[bold red]error:[/bold red] {esc(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    try:  # typer >= 0.2x vendors its own click
        from typer._click import exceptions as click_exc
    except ImportError:  # pragma: no cover
        from click import exceptions as click_exc

    try:
        code = app(standalone_mode=False)
    except click_exc.NoArgsIsHelpError as e:
        console.print(e.ctx.get_help() if e.ctx else str(e))
        code = 0
    except click_exc.UsageError as e:
        # Click's own usage errors (a non-number for --lr, an unknown option) as one line too.
        _fail(e.format_message(), 2)
    except UserError as e:
        _fail(str(e), e.exit_code)
    except (KeyboardInterrupt, getattr(click_exc, "Abort", KeyboardInterrupt)):
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)
