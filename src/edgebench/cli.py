"""The command line: a thin typer layer over the library. `run`'s options are generated from
options.OPTIONS, whose defaults are RunConfig's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
import typer.core
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgebench.config import DeployConfig
from edgebench.errors import UserError
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
            verb = {"train": "train", "source": "run and export"}.get(ev["kind"], "verify")
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
            if ev.get("status", "ok") != "ok":  # e.g. TFLite Micro cannot run the artifact: not verified
                p.update(task, description=f"[yellow]{esc(ev['status'])}: {label}")
                if ev.get("reason"):
                    p.console.print(f"[yellow]{label} {esc(ev['status'])}:[/yellow] {esc(ev['reason'])}",
                                    highlight=False, soft_wrap=True)
                return
            p.update(task, completed=p.tasks[task].total,
                     description=f"[green]{ {'train': 'trained', 'source': 'ran and exported'}.get(ev['kind'], 'verified')} {label}")
        elif kind == "failed":
            if label in self.tasks:
                p.update(self.tasks[label], description=f"[red]{label} failed")
            p.console.print(f"[red]{label} failed:[/red] {esc(ev['error'])}")
        elif kind == "warning":
            p.console.print(f"[yellow]warning:[/yellow] {esc(ev['message'])}", highlight=False, soft_wrap=True)
        elif kind == "skipped":
            p.console.print(f"[yellow]{label} skipped:[/yellow] {esc(ev['reason'])}")


def progress_bars(view: Console) -> Progress:
    """The progress display. It redraws twice a second on a terminal and never in the background
    otherwise (output to a file or a pipe): a parent that wakes up while a child trains on every
    core costs that child time (PyTorch's OpenMP threads wait for each other at every op), so the
    parent stays quiet and is redrawn only by the children's events."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=view, transient=False, auto_refresh=view.is_terminal, refresh_per_second=2)


def print_summary(r: dict, run_dir: Path) -> None:
    """Table 1, the comparisons, the deployment matrix and the highlights, from the report's view-model."""
    from edgebench.report import terminal
    from edgebench.report.view import build

    terminal.print_summary(console, build(r), run_dir)


def _run(ctx: typer.Context, config: Optional[Path], resume: Optional[Path], json_output: bool,
         preset: Optional[str], **values) -> None:
    """Train, export, verify and report."""
    from edgebench import api
    from edgebench.options import load_file

    given = {p.name for p in ctx.command.params
             if (src := ctx.get_parameter_source(p.name)) is not None and src.name != "DEFAULT"}
    options = {k: v for k, v in values.items() if k in given}  # the API fills in the defaults
    if config is not None:
        from_file = load_file(config)
        options = {**from_file, **options}  # the command line wins
    if preset is not None:
        options["preset"] = preset
    execute(lambda on_event: api.run_job(on_event=on_event, resume=resume, **options), json_output)


def execute(make_job, json_output: bool) -> None:
    """Run a pipeline job (a Run or a Deploy) under progress bars, then print its summary or, with
    --json, results.json. Ctrl-C and SIGTERM keep what finished (exit 130); exit 1 when nothing
    succeeded."""
    # With --json, stdout carries only the JSON document; the progress goes to stderr.
    view = err_console if json_output else console
    import signal

    def on_sigterm(signum, frame):  # a scheduler's stop: handled like Ctrl-C, results kept
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    job = None
    bars: list = []  # the job is made (input checked, nothing drawn yet) before the display starts
    try:
        job = make_job(lambda label, ev: bars[0](label, ev) if bars else None)
        for notice in job.notices:
            view.print(f"[yellow]note:[/yellow] {esc(notice)}", highlight=False, soft_wrap=True)
        with progress_bars(view) as progress:
            bars.append(ProgressView(progress))
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


def _run_command():
    """`edgebench run` with one option per entry of options.OPTIONS (defaults from RunConfig),
    plus the four that steer the command itself."""
    import inspect

    from edgebench.options import OPTIONS, defaults

    own = [
        ("config", Optional[Path], typer.Option(None, help="TOML file of run options (keys as the flags below); "
                                                           "flags given on the command line override it.")),
        ("resume", Optional[Path], typer.Option(None, help="Continue an interrupted run in this folder with its "
                                                           "own configuration; finished work is not redone.")),
        ("json_output", bool, typer.Option(False, "--json", help="Print results.json to stdout at the end "
                                                                 "(progress goes to stderr), for scripts.")),
        ("preset", Optional[str], typer.Option(None, help="lab (the published lab: TF + PyTorch, one float export "
                                                          "each), quick (a small slice, seconds), full (everything); "
                                                          "flags given explicitly override it.")),
    ]
    d = defaults()
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=t)
               for name, t, default in own]
    params += [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, annotation=o.type,
                                 default=typer.Option(d[o.name], *o.flags, help=o.help,
                                                      show_default=o.shown_default or True)) for o in OPTIONS]

    def run(ctx: typer.Context, **kwargs) -> None:
        own_values = {name: kwargs.pop(name) for name, _, _ in own}
        _run(ctx, **own_values, **kwargs)

    run.__doc__ = _run.__doc__
    run.__signature__ = inspect.Signature(params)
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run


run = app.command()(_run_command())


def _dd(name: str):
    """A deploy flag's default: DeployConfig's own, so the flag and the API cannot disagree."""
    import dataclasses

    f = DeployConfig.__dataclass_fields__[name]
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


@app.command()
def deploy(
    ctx: typer.Context,
    model: Optional[Path] = typer.Argument(None, help="The model file: .keras, a SavedModel folder, .pt2 "
                                                     "(torch.export), .onnx or .tflite."),
    resume: Optional[Path] = typer.Option(None, help="Continue an interrupted deploy in this folder with its own "
                                                     "configuration and its copy of the model; finished work is not "
                                                     "redone."),
    dataset: Optional[str] = typer.Option(_dd("dataset"), help="Test (and calibration) data: mnist, fashion-mnist, a "
                                          "folder of IDX files, an .npz with x_test, y_test (optional) and x_calib "
                                          "(optional), or none: inputs generated in the model's own shape and range "
                                          "(no accuracy; agreement between runtimes).",
                                          show_default="mnist if the model takes 28x28x1 images, else none"),
    samples: int = typer.Option(_dd("samples"), help="--dataset none: how many inputs to generate (they also calibrate "
                                          "int8 exports)."),
    input_range: Optional[str] = typer.Option(None, help="--dataset none, float input: the range LO,HI of the "
                                                         "generated values [default: 0,1; a quantized input: the "
                                                         "range its scale and zero point cover]."),
    formats: Optional[str] = typer.Option(None, help="Exports, comma list (tflite, onnx, executorch, or "
                                                     "FORMAT:PRECISION); default: every one the model reaches."),
    board: Optional[list[str]] = typer.Option(None, help="Extra microcontroller budget name:flash_kb:ram_kb[:core:clock_mhz] "
                                                         "(repeatable)."),
    out: Optional[Path] = typer.Option(None, help="Run folder to create [default: runs/TIMESTAMP]."),
    json_output: bool = typer.Option(False, "--json", help="Print results.json to stdout at the end."),
    limit_test: Optional[int] = typer.Option(None, help="Use only the first N test images."),
    limit_train: Optional[int] = typer.Option(None, help="Draw calibration images from the first N training "
                                                         "images only (as a run with --limit-train did)."),
    calibration_samples: int = typer.Option(_dd("calibration_samples"), help="Images that calibrate static int8 exports."),
    threads: int = typer.Option(_dd("threads"),
                                help="Threads for loading, running and exporting the source model."),
    bench_threads: int = typer.Option(_dd("bench_threads"), help="Inference threads when timing artifacts (1 = one embedded core)."),
    latency_min_time: float = typer.Option(_dd("latency_min_time_s"), help="Seconds of timed batch-1 calls per artifact."),
    no_mcu: bool = typer.Option(not _dd("microcontroller"), "--no-mcu", help="Skip TFLite Micro, C arrays and board fit."),
    seed: int = typer.Option(_dd("seed"), help="Seed of the calibration draw."),
    parallel: int = typer.Option(_dd("parallel"), help="Child processes that may do untimed work at once; every timed "
                                 "section still runs alone, the others paused."),
    require_quiet: float = typer.Option(_dd("require_quiet_s"), help="Before each timed section, wait up to this many "
                                        "seconds for other processes to use under 10% of a core, else stop."),
    task: str = typer.Option(_dd("task"), help="classification (outputs are class scores: accuracy, top-1 agreement), "
                             "regression (values, such as an autoencoder's reconstruction: the error and its "
                             "distribution), or auto: classification when the data has labels or the graph ends in "
                             "a softmax, regression when the output has as many values as the input or just one."),
) -> None:
    """Profile a model file you already have: export it to every embedded format it reaches, verify
    each export against the model's own outputs on its real runtime, time it, size it, and check it
    in TFLite Micro, as `run` does for the models it trains."""
    from edgebench import api

    options = dict(dataset=dataset, formats=formats, seed=seed, limit_test=limit_test, limit_train=limit_train,
                   calibration_samples=calibration_samples, threads=threads, bench_threads=bench_threads,
                   latency_min_time=latency_min_time, no_mcu=no_mcu, board=board, out=out, samples=samples,
                   input_range=input_range, parallel=parallel, require_quiet=require_quiet, task=task)
    if resume is not None:  # only the flags given are passed on: the deploy's own are kept (others refused)
        given = {k: v for k, v in options.items()
                 if (src := ctx.get_parameter_source(k)) is not None and src.name != "DEFAULT"}
        execute(lambda on_event: api.deploy_job(model, on_event=on_event, resume=resume, **given), json_output)
        return
    if model is None:
        raise UserError("edgebench deploy: give the model file (or --resume DIR to continue a deploy)")
    execute(lambda on_event: api.deploy_job(model, on_event=on_event, **options), json_output)


@app.command()
def sweep(grid: Path = typer.Argument(..., help="GRID.toml: [fixed] run options, [axes] lists of values to vary "
                                               "(a product; zip = [[...]] moves axes together), devices."),
          out: Optional[Path] = typer.Option(None, help="Sweep folder [default: runs/sweep-TIMESTAMP]."),
          resume: bool = typer.Option(False, help="Continue the sweep in --out: finished points and measurements "
                                                  "are not redone."),
          cluster: Optional[str] = typer.Option(None, help="Address of a running Ray cluster (HOST:PORT): build on "
                                                           "its build nodes, measure on its device nodes. Without "
                                                           "it, points run here one after another."),
          allow_insecure_cluster: bool = typer.Option(False, help="Connect to a --cluster outside the loopback "
                                                                  "range without Ray token authentication."),
          json_output: bool = typer.Option(False, "--json", help="Print sweep.json to stdout at the end.")) -> None:
    """Run every point of a grid of run configurations: here, one after another, or on a Ray cluster
    with each artifact built once and measured on every device. One ordinary run folder per point
    (per point and device on a cluster), sweep.json, results.csv and the sweep report beside them."""
    from edgebench import api
    from edgebench.pipeline.store import default_run_dir

    if resume and out is None:
        raise UserError("--resume needs --out, the sweep folder to continue")
    folder = out or default_run_dir().with_name("sweep-" + default_run_dir().name)
    view = err_console if json_output else console
    job = api.sweep_job(grid, folder, cluster, resume, allow_insecure_cluster)  # every point validated
    if cluster is None and job.grid.devices:
        err_console.print(esc(f"note: {grid} names devices ({', '.join(job.grid.devices)}); a sweep without "
                              "--cluster measures here only"), highlight=False, soft_wrap=True)
    if cluster is not None:
        job.connect()  # the cluster checked before the progress display starts: an error is one line
    try:
        with progress_bars(view) as progress:
            bars = ProgressView(progress)
            overall: dict[str, int] = {}

            def on_event(label, ev):
                if ev["event"] == "point":
                    progress.console.print(esc(f"point {ev['index']}/{ev['total']}: {label}"))
                elif ev["event"] == "sweep":
                    if not overall:
                        overall["points"] = progress.add_task("points", total=ev["points"])
                        if "jobs" in ev:  # a cluster sweep's builds and measurements
                            overall["jobs"] = progress.add_task("jobs (builds and measurements)", total=ev["jobs"])
                    progress.update(overall["points"], completed=ev["points_done"])
                    if "jobs" in overall:
                        progress.update(overall["jobs"], completed=ev["jobs_done"], total=ev["jobs"])
                else:
                    bars(label, ev)

            job.on_event = on_event
            state = job.execute()
    except KeyboardInterrupt:
        err_console.print(esc(f"interrupted; finished points are kept in {folder} (edgebench sweep {grid} --out "
                              f"{folder} --resume{' --cluster ' + cluster if cluster else ''} continues)"),
                          highlight=False, soft_wrap=True)
        sys.exit(130)
    if json_output:
        import json

        sys.stdout.write(json.dumps(state, indent=1) + "\n")
    else:
        for p in state["points"]:
            console.print(esc(f"{p['name']}: {p['status']}" + (f" ({p['error']})" if p.get("error") else "")),
                          soft_wrap=True)
        console.print(esc(f"Sweep {state['status']}: {folder / 'sweep.html'}, {folder / 'results.csv'}"),
                      soft_wrap=True)
    if all(p["status"] == "failed" for p in state["points"]):
        raise typer.Exit(1)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A run folder (holding results.json).")) -> None:
    """Re-render report.md, report.html and the plots from results.json alone; nothing is retrained."""
    from edgebench import api

    print_summary(api.report(run_dir).raw, run_dir)


FORMATS = ("auto", "table", "md", "csv", "json")


def _format(value: str) -> str:
    """--format auto: a rich table sized to a terminal, unwrapped Markdown into a pipe or a file."""
    v = value.lower()
    if v not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {value!r}")
    if v == "auto":
        return "table" if console.is_terminal else "md"
    return v


def _write(text: str) -> None:
    """Plain output, never wrapped (Markdown rows must stay whole)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _csv(rows: list[list]) -> str:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _rich_table(title: str, header: list[str], rows: list[list], left: int = 1) -> Table:
    from edgebench.report.terminal import markup

    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for i, col in enumerate(header):
        t.add_column(col, justify="left" if i < left else "right", overflow="fold")
    for row in rows:
        t.add_row(*(markup(c) for c in row))
    return t


@app.command("compare")
def compare_cmd(run_a: Path = typer.Argument(..., help="The earlier run folder."),
                run_b: Path = typer.Argument(..., help="The later run folder."),
                out: Optional[Path] = typer.Option(None, help="Where to write the Markdown diff [default: RUN_B/compare.md]."),
                band: float = typer.Option(3.0, help="Practical-equivalence band in percent: a ratio within it is 'same'."),
                accuracy_band: float = typer.Option(0.5, help="The same for test accuracy, in percentage points."),
                format: str = typer.Option("auto", "--format", help="auto (a table on a terminal, Markdown into a pipe), "
                                           "table, md, csv or json.")) -> None:
    """Two runs side by side: each figure's ratio B/A with its 95% interval and a verdict (same within
    the band, faster, slower, or unclear)."""
    from edgebench import api

    how = _format(format)
    c = api.compare(run_a, run_b, band=band / 100, accuracy_band=accuracy_band / 100)
    target = out or run_b / "compare.md"
    target.write_text(c["markdown"])
    if how == "md":
        _write(c["markdown"])
    elif how == "csv":
        from edgebench.report.compare import to_csv

        _write(to_csv(c))
    elif how == "json":
        import json

        _write(json.dumps({k: v for k, v in c.items() if k != "markdown"}, indent=1, default=str))
    else:
        from edgebench.report.compare import ARTIFACT_HEADER, TRAINING_HEADER, rows
        from edgebench.results import load

        trainings, artifacts = rows(c, load(run_a))
        console.print(esc(f"A: {c['a']}\nB: {c['b']}"))
        if trainings:
            console.print(_rich_table("Training", TRAINING_HEADER, trainings))
        if artifacts:
            console.print(_rich_table("Artifacts", ARTIFACT_HEADER, artifacts))
        for side in ("a", "b"):
            if c[f"only_in_{side}"]:
                console.print(esc(f"Only in {side.upper()}: " + ", ".join(" ".join(k) for k in c[f"only_in_{side}"])))
        console.print(esc(c["method"]), highlight=False)
    err_console.print(esc(f"written to {target}"), highlight=False, soft_wrap=True)


@app.command()
def doctor(system: bool = typer.Option(False, "--system", help="What on this machine can disturb timings (CPU "
                                       "governor and boost, SMT, the container's CPU and memory limits, load, "
                                       "environment variables that change kernels), each with why it matters."),
           format: str = typer.Option("auto", "--format", help="With --system: auto, table, md, csv or json.")) -> None:
    """List every framework, converter and runtime: installed (with version) or how to install it.
    With --system: what on this machine can disturb timings."""
    if system:
        _doctor_system(_format(format))
        return
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


def _doctor_system(how: str) -> None:
    from edgebench.doctor import system

    rows = system()
    header = ["Check", "Value", "Why it matters"]
    table = [[r["check"], r["value"], (f"{r['status'].upper()}: " if r["status"] != "ok" else "") + r["why"]]
             for r in rows]
    if how == "json":
        import json

        _write(json.dumps(rows, indent=1))
    elif how == "csv":
        _write(_csv([["check", "value", "status", "why"]] + [[r["check"], r["value"], r["status"], r["why"]]
                                                               for r in rows]))
    elif how == "md":
        from edgebench.report.markdown import table as md_table

        _write(str(md_table(header, table)))
    else:
        colour = {"ok": "green", "note": "yellow", "warn": "red"}
        t = Table(title="edgebench doctor --system: what can disturb timings here", box=box.SIMPLE_HEAD,
                  title_justify="left")
        for col in header:
            t.add_column(col)
        for r in rows:
            t.add_row(esc(r["check"]), f"[{colour[r['status']]}]{esc(r['value'])}[/{colour[r['status']]}]",
                      esc(r["why"]))
        console.print(t)
    warn = [r["check"] for r in rows if r["status"] == "warn"]
    err_console.print(esc(f"{len(warn)} to look at: {', '.join(warn)}" if warn else "nothing here should disturb timings"),
                      highlight=False, soft_wrap=True)


class _ListGroup(typer.core.TyperGroup):
    """`edgebench list` names what to list; anything else gets one line saying how to list a folder."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            raise UserError(f"edgebench list: '{args[0]}' is not one of {', '.join(self.commands)}; to list the runs "
                            f"in a folder: edgebench list runs {args[0]}")
        return super().resolve_command(ctx, args)


list_app = typer.Typer(cls=_ListGroup, add_completion=False, help="List past runs (the default), the built-in "
                       "models, or the boards.")
app.add_typer(list_app, name="list")


@list_app.callback(invoke_without_command=True)
def _list_default(ctx: typer.Context) -> None:
    """List past runs (the default: the folder runs/), the built-in models, or the boards."""
    if ctx.invoked_subcommand is None:
        list_runs(Path("runs"), "auto")


@list_app.command("runs")
def list_runs(runs_dir: Path = typer.Argument(Path("runs"), help="Folder holding run folders."),
              format: str = typer.Option("auto", "--format", help="auto (a table on a terminal, Markdown into a "
                                         "pipe), table, md, csv or json.")) -> None:
    """Past runs: when, status, frameworks, best accuracy, artifacts."""
    from edgebench.results import list_runs as find_runs, shown

    runs = find_runs(runs_dir)
    if not runs:
        console.print(esc(f"no runs in {runs_dir}"))
        return
    how = _format(format)
    header = ["Run", "Created (UTC)", "Status", "Frameworks", "Best acc", "Artifacts", "Wall (s)"]
    table = []
    for r in runs:
        table.append([str(shown(r["dir"])), str(r.get("created_at") or "-")[:16].replace("T", " "), str(r.get("status")),
                      ",".join(r.get("frameworks", [])),
                      f"{r['best_accuracy']:.4f}" if r.get("best_accuracy") else "-",
                      str(r.get("artifacts_ok", "-")), f"{r['wall_time_s']:.0f}" if r.get("wall_time_s") else "-"])
    _emit_table(how, header, table, runs, fold="Run", wide=lambda row: [row[0], row[1], row[2],
                                                                       row[3].replace(",", ", "), *row[4:]])


def _emit_table(how: str, header: list[str], table: list[list], raw, fold: str | None = None, wide=None) -> None:
    """One table as json (raw), csv, Markdown or a rich table whose words never split (a cell wraps at
    spaces; a word too long is cut with an ellipsis; the `fold` column folds only when it must)."""
    if how == "json":
        import json

        _write(json.dumps(raw, indent=1, default=str))
    elif how == "csv":
        _write(_csv([header, *table]))
    elif how == "md":
        from edgebench.report.markdown import table as md_table

        _write(str(md_table(header, table)))
    else:
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for col in header:
            t.add_column(col, overflow="fold" if col == fold else "ellipsis")
        for row in table:
            t.add_row(*map(esc, wide(row) if wide else row))
        console.print(t)


@list_app.command("boards")
def list_boards(format: str = typer.Option("auto", "--format", help="auto, table, md, csv or json.")) -> None:
    """The built-in boards: flash, RAM, core and clock, with the datasheets they come from (add your own
    to a run with --board name:flash_kb:ram_kb[:core:clock_mhz])."""
    from edgebench.measure.boards import BOARDS

    header = ["Board", "Flash (KB)", "RAM (KB)", "Core", "Clock (MHz)", "Source"]
    table = [[b.name, f"{b.flash_kb:g}", f"{b.ram_kb:g}", (b.core or "-") + ("" if b.arm or not b.core else " (not Arm)"),
              f"{b.clock_mhz:g}" if b.clock_mhz else "-", b.source] for b in BOARDS]
    _emit_table(_format(format), header, table, [b.to_dict() for b in BOARDS])


@list_app.command("models")
def list_models(model: Optional[str] = typer.Option(None, help="Only this built-in or .toml model."),
                dataset: str = typer.Option("mnist", help="The data set whose images set the shapes.")) -> None:
    """Each model's layers, output shapes, parameters and MACs."""
    _list_models(model, dataset)


def _list_models(only: str | None, dataset: str) -> None:
    from edgebench import data, models

    ds = data.load(dataset, limit_train=1, limit_test=1)
    for name in [only] if only else list(models.BUILTIN):
        net = models.build(name, ds.image_shape, ds.num_classes)
        t = Table(title=esc(f"{net.name}: {net.parameter_count:,} parameters, {net.macs_per_sample:,} MACs per "
                            f"image ({dataset}, input {tuple(net.input_shape)})"), box=box.SIMPLE_HEAD,
                  title_justify="left")
        for col in ("Layer", "Type", "Input", "Output shape", "Parameters", "MACs", "Share"):
            t.add_column(col, justify="right" if col in ("Parameters", "MACs", "Share") else "left")
        for row in net.layer_table():
            t.add_row(esc(row["name"]), row["type"], esc(",".join(row["inputs"])),
                      "x".join(str(d) for d in row["output_shape"]), f"{row['parameters']:,}", f"{row['macs']:,}",
                      f"{row['macs_share']:.1%}")
        console.print(t)


def reflow(text: str | None) -> str | None:
    """A docstring as help: its paragraphs kept, the line breaks of its source joined, so that the help
    reflows to the terminal's width (typer keeps a docstring's own line breaks in command lists)."""
    import inspect

    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in par.splitlines()) for par in paragraphs)


def _reflow_all(typer_app: typer.Typer) -> None:
    """Every command's and group's help, reflowed (see reflow)."""
    for info in typer_app.registered_commands:
        info.help = reflow(info.help or (info.callback.__doc__ if info.callback else None))
    if typer_app.registered_callback is not None:
        cb = typer_app.registered_callback
        cb.help = reflow(cb.help or (cb.callback.__doc__ if cb.callback else None))
    for group in typer_app.registered_groups:
        group.help = reflow(group.help or group.typer_instance.info.help)
        _reflow_all(group.typer_instance)


_reflow_all(app)


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
