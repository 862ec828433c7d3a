"""Typed jobs, and the tasks and outcomes that parent and child exchange.

A Job is one step of a run's plan (frozen, with an id and the ids it needs). A task is what a
child process is told to do; an outcome is what it reports. Both travel as JSON and are
validated on read (pydantic), so a field that is missing or of the wrong type is an error that
names it, never a KeyError deep in a handler.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal, Union

# Job kinds, in the order a run meets them.
SPEED_LIMIT, TRAIN, TIMING, TWIN, VERIFY, MICROCONTROLLER = (
    "speed_limit", "train", "timing", "twin", "verify", "microcontroller")
SOURCE = "source"  # deploy: the user's model file, run on the test set and exported
# A child's stdout line that starts with this carries an event (JSON) for its parent.
EVENT_PREFIX = "@@edgebench "


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    stage: str  # the wall_time_breakdown_s entry its time goes to
    needs: tuple[str, ...] = ()
    framework: str | None = None
    mode: str | None = None
    repeat: int | None = None
    artifact: tuple[str, str, str] | None = None  # (framework, format, precision)
    runtime: str | None = None


def worker_key(job: Job) -> str | None:
    """The long-lived worker a job's task runs in (pipeline/runner.WorkerPool): one per framework and
    mode for trainings, one per runtime for verifications and microcontroller checks; None: a child
    of its own (deploy's source pass, the derived jobs)."""
    if job.kind == TRAIN:
        return f"train:{job.framework}:{job.mode}"
    if job.kind in (VERIFY, MICROCONTROLLER) and job.runtime:
        return f"{job.kind}:{job.runtime}"
    return None


def train_id(fw: str, mode: str, repeat: int) -> str:
    return f"train:{fw}:{mode}:r{repeat}"


def artifact_id(key: tuple[str, str, str]) -> str:
    return ":".join(key)


@dataclass(frozen=True)
class DataRef:
    """Where a child reads the data: the parent's decoded copy when it made one, else the files."""

    dataset: str
    limit_train: int | None = None
    limit_test: int | None = None
    cache: str | None = None
    num_classes: int | None = None


@dataclass(frozen=True)
class Bench:
    min_iters: int
    min_time_s: float
    throughput_batch: int = 256


@dataclass(frozen=True)
class TrainTask:
    name: str
    framework: str
    fw_dir: str
    data: DataRef
    threads: int
    model: dict  # the network's description (Network.describe())
    optimizer: dict  # OptimizerSpec as a dict
    batch_size: int
    weights_path: str
    order_path: str
    calibration_path: str
    exports: tuple[str, ...]  # exporter names ("framework:format:precision"), in registry order
    snapshot_steps: tuple[int, ...]
    mode: str
    result_path: str = ""
    # The exported training: each layer's output on the first `layer_samples` test images, saved here
    # (measure/layer_table.source_layers) for the per-layer comparison of its artifacts.
    layer_samples: int = 0
    layer_outputs: str = ""
    kind: Literal["train"] = "train"


@dataclass(frozen=True)
class _ArtifactTask:
    """What every task on an exported artifact has: the file, the runtime, the test data."""

    name: str
    file: str
    runtime: str
    data: DataRef
    bench: Bench
    network: dict  # Network.describe(): input shape (channels-last; the runtime maps it to the artifact's
    #                layout) and the depth and fan-ins its tolerances follow from


@dataclass(frozen=True)
class VerifyTask(_ArtifactTask):
    precision: str
    threads: int
    raw_dir: str
    source_logits: str
    logits_path: str
    result_path: str = ""
    task: str = "classification"  # or "regression": outputs are values, not class scores
    layer_source: str = ""  # the source model's layer outputs (TrainTask.layer_outputs): compare layer by layer
    kind: Literal["verify"] = "verify"


@dataclass(frozen=True)
class MicrocontrollerTask(_ArtifactTask):
    run_dir: str
    reference_logits: str
    c_dir: str
    boards: tuple[dict, ...]
    result_path: str = ""
    task: str = "classification"
    # Where this runtime saves its (dequantized) outputs on the test set, for a runtime checked against it.
    outputs_path: str = ""
    # A runtime checked against another microcontroller runtime (the generated firmware against TFLite
    # Micro): that runtime's saved outputs and the figures of its result it compares with (RAM, flash).
    reference_runtime: str = ""
    reference_outputs: str = ""
    reference_figures: dict = field(default_factory=dict)
    emulate_samples: int = 100  # inputs run on each emulated core (the firmware runtime)
    layer_samples: int = 0  # inputs on which every tensor is compared with the reference runtime's (0: none)
    kind: Literal["microcontroller"] = "microcontroller"


@dataclass(frozen=True)
class InspectTask:
    """Open a user's model file and describe it (sources.Source.facts), before a deploy writes
    anything."""

    name: str
    file: str
    source_kind: str
    result_path: str = ""
    kind: Literal["inspect"] = "inspect"


@dataclass(frozen=True)
class SourceTask:
    """Deploy's counterpart of training: open the model file, record its logits on the test set,
    export it to every selected format."""

    name: str
    file: str
    source_kind: str
    fw_dir: str
    data: DataRef
    threads: int
    network: dict  # ModelShape.describe()
    exports: tuple[str, ...]
    calibration_path: str
    result_path: str = ""
    layer_samples: int = 0  # as TrainTask's: the source's layer outputs for the per-layer comparison
    layer_outputs: str = ""
    kind: Literal["source"] = "source"


Task = Union[TrainTask, VerifyTask, MicrocontrollerTask, InspectTask, SourceTask]


@dataclass(frozen=True)
class Outcome:
    """What a child reports. `record` holds the figures that go into results.json as they are;
    `artifacts` (training only) the exports it attempted, in order."""

    status: Literal["ok", "failed", "unsupported", "skipped"]
    error: str | None = None
    record: dict = field(default_factory=dict)
    artifacts: tuple[dict, ...] = ()


def _adapter(cls):
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


def task_to_json(task: Task) -> str:
    return json.dumps(asdict(task), indent=1)


def task_from_json(text: str) -> Task:
    from pydantic import Field
    from typing import Annotated

    return _adapter(Annotated[Task, Field(discriminator="kind")]).validate_json(text)


def outcome_to_json(outcome: Outcome) -> str:
    from edgebench.results import jsonable

    return json.dumps(asdict(outcome), indent=1, default=jsonable)


def outcome_from_json(text: str) -> Outcome:
    return _adapter(Outcome).validate_json(text)

