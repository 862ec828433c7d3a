"""The run folder: its layout, results.json saved atomically, and reopening an unfinished run.

Progress is explicit: results.json's `progress.done` lists the ids of the finished jobs (ok,
failed or skipped alike), so a resumed run knows what is left without guessing from missing keys.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from edgebench import data, results
from edgebench.errors import UserError
from edgebench.pipeline.jobs import MICROCONTROLLER, artifact_id, train_id
from edgebench.results.schema import RunResults

INPUTS = ("initial_weights.npz", "batch_order.npy", "calibration_indices.npy")


def default_run_dir() -> Path:
    return Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")


class RunStore:
    """Paths inside one run folder, and results.json."""

    def __init__(self, folder: Path):
        self.dir = Path(folder)
        self.work = self.dir / ".work"
        self.logs = self.dir / "logs"
        self.latency = self.dir / "latency"
        self.logits = self.dir / "logits"
        self.inputs = self.dir / "inputs"

    @classmethod
    def create(cls, out: Path) -> "RunStore":
        """A new run folder; never one that holds anything (a run or the user's files)."""
        if out.exists():
            if not out.is_dir():
                raise UserError(f"--out {out}: exists and is a file; choose another folder")
            if (out / results.RESULTS_FILE).exists():
                raise UserError(f"--out {out}: already holds an edgebench run; choose a new folder")
            if any(out.iterdir()):
                raise UserError(f"--out {out}: exists, is not empty and is not an edgebench run; "
                                "choose a new folder (nothing was written)")
        out.mkdir(parents=True, exist_ok=True)
        store = cls(out)
        store._folders(exist_ok=False)
        return store

    @classmethod
    def reopen(cls, folder: Path) -> "RunStore":
        store = cls(folder)
        store._folders(exist_ok=True)
        return store

    def _folders(self, exist_ok: bool) -> None:
        for d in (self.work, self.logs, self.latency, self.logits):
            d.mkdir(exist_ok=exist_ok)

    def input_path(self, name: str) -> Path:
        return self.inputs / name

    def framework_dir(self, fw: str, mode: str, first_mode: str) -> Path:
        """The first mode's model is the one exported, in the framework's own folder."""
        return self.dir / fw if mode == first_mode else self.dir / fw / mode

    def logits_path(self, key: tuple[str, str, str]) -> Path:
        return self.logits / f"{'-'.join(key)}.npy"

    def save(self, r: RunResults) -> None:
        results.save(self.dir, r)

    def check_inputs(self, r: RunResults) -> None:
        """A resumed run trains from the same inputs it started with, or not at all."""
        fair = r.fairness
        for key, name in (("initial_weights", INPUTS[0]), ("batch_order", INPUTS[1])):
            path = self.input_path(name)
            if not path.exists() or data.sha256_file(path) != fair[key]["sha256"]:
                raise UserError(f"--resume {self.dir}: {path} is missing or changed since the run started; "
                                "start a new run")


def forget_unfinished(r: RunResults, done: set[str], first_mode: str) -> None:
    """Drop what an interrupted run left half-done, so its jobs run again from the start."""
    r.trainings = [t for t in r.trainings if train_id(t.framework, t.mode, 1) in done]
    kept = {(t.framework, t.mode) for t in r.trainings}
    r.artifacts = [a for a in r.artifacts if (a.framework, first_mode) in kept]
    for t in r.trainings:
        t.repeats = [x for x in t.repeats if train_id(t.framework, t.mode, x.repeat) in done]
    forget_unfinished_artifacts(r, done)


def forget_unfinished_artifacts(r: RunResults, done: set[str]) -> None:
    """Artifacts whose verification was cut short go back to exported (ok, to be verified again), and a
    microcontroller result that did not finish is dropped (its job runs again)."""
    for a in r.artifacts:
        key = artifact_id(a.key)
        if a.status == "interrupted":
            a.status, a.error = "ok", None
            a.results = [x for x in a.results if x.role != "host"]
        a.results = [x for x in a.results
                     if x.role != "microcontroller" or f"{MICROCONTROLLER}:{x.runtime}:{key}" in done]
