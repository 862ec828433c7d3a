"""The command line: a thin typer layer over the library. Every command's options are generated
from the one option table, options.TABLE (a setting's default is its config's own); the progress
display is progress.py's, shared with the Python API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
import typer.core
from rich import box
from rich.table import Table

from edgebench.errors import UserError
from edgebench.options import OUTPUT_FORMATS as FORMATS
from edgebench.progress import ProgressView, console, err_console, progress_bars
from edgebench.report.escape import rich_text as esc

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Train one network fairly in several frameworks, export it to embedded formats, "
                       "and verify every export on its real runtime.")


@app.callback()
def _root() -> None:
    """Train one network fairly in several frameworks, export it to embedded formats, and verify
    every export on its real runtime."""


def with_options(command: str):
    """Give a command function its options from options.TABLE: its own parameters (ctx, arguments)
    stay, and each option of `command` becomes a keyword parameter with the table's flag, default and
    help; the function names the options it reads (keyword-only, no default: the table has it) and
    takes the rest as **settings."""
    import inspect

    from edgebench.options import default_config, for_command

    def typer_option(o, config) -> typer.models.OptionInfo:
        default = o.default_for(config)
        shown = o.shown_default if default is None and o.shown_default else True
        # Help is rich markup: brackets in it ([fixed], [default: ...]) are text, not tags.
        return typer.Option(default, *o.flags, help=esc(o.text), show_default=shown)

    def wrap(fn):
        opts = for_command(command)
        config = default_config(command)
        names = {o.name for o in opts}
        own = [p for p in inspect.signature(fn).parameters.values()
               if p.name not in names and p.kind is not inspect.Parameter.VAR_KEYWORD]
        params = own + [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, annotation=o.type,
                                          default=typer_option(o, config)) for o in opts]
        fn.__signature__ = inspect.Signature(params)
        fn.__annotations__ = {p.name: p.annotation for p in params}
        return fn

    return wrap


def _given(ctx: typer.Context, values: dict) -> dict:
    """The values the user gave (on the command line), leaving the defaults to the API."""
    return {k: v for k, v in values.items()
            if (src := ctx.get_parameter_source(k)) is not None and src.name != "DEFAULT"}


def print_summary(r, run_dir: Path) -> None:
    """Table 1, the comparisons, the deployment matrix and the highlights, from the report's view-model."""
    from edgebench.report import terminal
    from edgebench.report.view import build

    terminal.print_summary(console, build(r), run_dir)


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

        sys.stdout.write(json.dumps(r.model_dump(mode="json"), indent=1) + "\n")
    else:
        print_summary(r, job.dir)
    if r.status == "failed":
        raise typer.Exit(1)


@app.command()
@with_options("run")
def run(ctx: typer.Context, *, config: Optional[Path], resume: Optional[Path], json_output: bool,
        preset: Optional[str], **settings) -> None:
    """Train, export, verify and report."""
    from edgebench import api
    from edgebench.options import load_file

    options = _given(ctx, settings)  # the API fills in the defaults
    if config is not None:
        options = {**load_file(config), **options}  # the command line wins
    if preset is not None:
        options["preset"] = preset
    execute(lambda on_event: api.run_job(on_event=on_event, resume=resume, **options), json_output)


@app.command()
@with_options("deploy")
def deploy(ctx: typer.Context,
           model: Optional[Path] = typer.Argument(None, help="The model file: .keras, a SavedModel folder, .pt2 "
                                                             "(torch.export), .onnx or .tflite."),
           *, resume: Optional[Path], json_output: bool, **settings) -> None:
    """Profile a model file you already have: export it to every embedded format it reaches, verify
    each export against the model's own outputs on its real runtime, time it, size it, and check it
    in TFLite Micro, as `run` does for the models it trains."""
    from edgebench import api

    if resume is None and model is None:
        raise UserError("edgebench deploy: give the model file (or --resume DIR to continue a deploy)")
    # Only the flags given are passed on: DeployConfig fills in the defaults, and a resumed deploy
    # keeps its own (refusing others).
    options = _given(ctx, settings)
    execute(lambda on_event: api.deploy_job(model, on_event=on_event, resume=resume, **options), json_output)


@app.command()
@with_options("sweep")
def sweep(grid: Path = typer.Argument(..., help=esc("GRID.toml: [fixed] run options, [axes] lists of values to vary "
                                                   "(a product; zip = [[...]] moves axes together), devices.")),
          *, out: Optional[Path], resume: bool, cluster: Optional[str], allow_insecure_cluster: bool,
          json_output: bool) -> None:
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

    print_summary(api.report(run_dir).results, run_dir)


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
@with_options("compare")
def compare_cmd(run_a: Path = typer.Argument(..., help="The earlier run folder."),
                run_b: Path = typer.Argument(..., help="The later run folder."),
                *, out: Optional[Path], band: float, accuracy_band: float, format: str) -> None:
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
@with_options("layers")
def layers(run_dir: Path = typer.Argument(..., help="A run or deploy folder."),
           artifact: Optional[str] = typer.Argument(None, help="One artifact, as framework/format-precision "
                                                                "(tensorflow/tflite-int8); default: every one."),
           *, format: str) -> None:
    """Per-layer error of each artifact against its source model, from an existing run: SQNR (whole
    tensor, median and worst channel), cosine, the largest error in int8 steps (or relative), and the
    first layer where the error jumps."""
    from edgebench.report import layers as L
    from edgebench.results import load

    r = load(run_dir)
    tables = L.tables(r, artifact)
    if not tables:
        known = L.names(r)
        if artifact is not None and known:
            raise UserError(f"{run_dir}: no per-layer table for '{artifact}'; there are: {', '.join(known)}")
        raise UserError(f"{run_dir}: no per-layer tables (run with --layers int8 or all, on a runtime that "
                        "exposes intermediate tensors: LiteRT, ONNX Runtime)")
    how = _format(format)
    if how == "json":
        import json

        _write(json.dumps([{"artifact": L.artifact_name(t.artifact), "runtime": t.result.runtime,
                            **(t.result.layers or {})} for t in tables], indent=1, default=str))
        return
    if how == "csv":
        _write(L.dataframe(r, artifact).to_csv(index=False))
        return
    for t in tables:
        if how == "md":
            from edgebench.report.markdown import md_text, table as md_table

            _write(f"### {t.label}\n\n{md_text(t.summary)}\n\n" + (str(md_table(L.HEADER, t.rows)) + "\n\n"
                                                                        if t.rows else ""))
        else:
            console.print(_rich_table(t.label, L.HEADER, t.rows) if t.rows else esc(t.label))
            console.print(esc(str(t.summary)), highlight=False)


@app.command()
@with_options("doctor")
def doctor(*, system: bool, format: str) -> None:
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
@with_options("list runs")
def list_runs(runs_dir: Path = typer.Argument(Path("runs"), help="Folder holding run folders."),
              format: str = "auto") -> None:  # `format` positional too: _list_default and tests call it
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
@with_options("list boards")
def list_boards(*, format: str) -> None:
    """The built-in boards: flash, RAM, core and clock, the QEMU machine that runs their core's code, and
    the datasheets they come from (add your own to a run with --board name:flash_kb:ram_kb[:core:clock_mhz])."""
    from edgebench.firmware.cross import MACHINES
    from edgebench.measure.boards import BOARDS

    def emulated(b) -> str:
        return f"QEMU {MACHINES[b.core].name}" if b.core in MACHINES else "-"

    header = ["Board", "Flash (KB)", "RAM (KB)", "Core", "Clock (MHz)", "Emulated on", "Source"]
    table = [[b.name, f"{b.flash_kb:g}", f"{b.ram_kb:g}", (b.core or "-") + ("" if b.arm or not b.core else " (not Arm)"),
              f"{b.clock_mhz:g}" if b.clock_mhz else "-", emulated(b), b.source] for b in BOARDS]
    _emit_table(_format(format), header, table,
                [b.to_dict() | {"emulator": MACHINES[b.core].name if b.core in MACHINES else None} for b in BOARDS])


@list_app.command("models")
@with_options("list models")
def list_models(*, model: Optional[str], dataset: str) -> None:
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
