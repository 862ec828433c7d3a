"""The progress display, shared by the command line and the Python API (progress=True): pipeline
events drawn as rich progress bars on the shared console. It lives below both so that the API
never imports the CLI."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgebench.report.escape import rich_text as esc

console = Console()
err_console = Console(stderr=True)


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
            self._done(label, ev)
        elif kind == "failed":
            if label in self.tasks:
                p.update(self.tasks[label], description=f"[red]{label} failed")
            p.console.print(f"[red]{label} failed:[/red] {esc(ev['error'])}")
        elif kind == "warning":
            p.console.print(f"[yellow]warning:[/yellow] {esc(ev['message'])}", highlight=False, soft_wrap=True)
        elif kind == "skipped":
            p.console.print(f"[yellow]{label} skipped:[/yellow] {esc(ev['reason'])}")

    def _done(self, label: str, ev: dict) -> None:
        p, task = self.progress, self.tasks[label]
        if ev.get("status", "ok") != "ok":  # e.g. TFLite Micro cannot run the artifact: not verified
            p.update(task, description=f"[yellow]{esc(ev['status'])}: {label}")
            if ev.get("reason"):
                p.console.print(f"[yellow]{label} {esc(ev['status'])}:[/yellow] {esc(ev['reason'])}",
                                highlight=False, soft_wrap=True)
            return
        done = {"train": "trained", "source": "ran and exported"}.get(ev["kind"], "verified")
        p.update(task, completed=p.tasks[task].total, description=f"[green]{done} {label}")


def progress_bars(view: Console) -> Progress:
    """The progress display. It redraws twice a second on a terminal and never in the background
    otherwise (output to a file or a pipe): a parent that wakes up while a child trains on every
    core costs that child time (PyTorch's OpenMP threads wait for each other at every op), so the
    parent stays quiet and is redrawn only by the children's events."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=view, transient=False, auto_refresh=view.is_terminal, refresh_per_second=2)
