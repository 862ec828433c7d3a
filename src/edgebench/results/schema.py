"""results.json as typed models: a run, its trainings, its artifacts and, for each artifact, one
result per runtime that ran it. results.json is written and read only through these models
(results.save / results.load); `SCHEMA_VERSION` changes whenever the shape does, and every
earlier shape is brought forward by an explicit step in results/migrate.py.

Measurement records that have a shape of their own elsewhere (a latency summary from
measure/stats.summarize_ns, a tolerance from measure/parity, a load section from measure/load,
a board fit from measure/boards) are kept as JSON objects here: they are written by one function
each, and typing them twice would let the two copies drift.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 2

Json = dict[str, Any]
# "lost": a cluster sweep's artifact whose device node left before measuring it (--resume measures it).
Status = Literal["pending", "running", "ok", "failed", "skipped", "unsupported", "interrupted", "lost"]


class Record(BaseModel):
    """A typed part of results.json: unknown keys are an error (a writer and this schema disagree)."""

    model_config = ConfigDict(extra="forbid")


class Epoch(Record):
    epoch: int
    loss: float | None = None
    accuracy: float | None = None
    time_s: float
    steps: int | None = None


class Repeat(Record):
    """One timed training of a framework (repeat 1 is the one exported)."""

    repeat: int
    status: Status
    error: str | None = None
    warmup: bool = False
    train_time_s: float | None = None
    first_epoch_s: float | None = None
    steady_epoch_s: float | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    peak_rss_bytes: int | None = None
    import_time_s: float | None = None
    load: Json | None = None  # measure/load's record of the timed section
    attempt: int = 1  # 2, 3...: the repeat run again because an earlier attempt was timed on a busy machine
    rerun: str | None = None  # this attempt was run again (why): kept here, not counted
    process_trainings_before: int | None = None  # trainings its process ran before it (0: a fresh process)
    rewarmed: bool | None = None  # it ran in a worker that replaced a dead one, warmed up first


class TrainingTiming(Record):
    """Statistics over the counted repeats (pipeline/handlers.timing, measure/stats)."""

    train_time_s: Json
    first_epoch_s: Json
    steady_epoch_s: Json
    repeats_counted: list[int] = []
    busy_repeats: list[Json] = []
    rerun_repeats: list[Json] = []  # attempts timed on a busy machine and run again (not counted)
    stability: Json | None = None
    warmups: list[int] = []
    slow_repeats: list[Json] = []
    test_accuracy: Json
    peak_rss_bytes: int | None = None
    efficiency: Json | None = None
    flop_bound_train_s: float | None = None
    epoch_s_for_efficiency: float | None = None
    steady_vs_flop_bound: float | None = None
    steady_vs_step_gemm_bound: float | None = None
    first_epoch_excess_s: Json | None = None


class SourceModel(Record):
    """A model run on the test set in its own framework, in a child process: a training's trained
    model, or a deploy's model file. Its logits are every artifact's reference."""

    status: Status
    error: str | None = None
    exit_code: int | None = None
    test_samples: int | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    confusion_matrix: list[list[int]] | None = None
    test_logits: str | None = None
    peak_rss_bytes: int | None = None
    versions: dict[str, str] = {}
    log: str | None = None
    process_wall_s: float | None = None
    layer_outputs_time_s: float | None = None  # its layers' outputs on the per-layer sample, saved
    layer_outputs_error: str | None = None  # or why they were not


class Training(SourceModel):
    """One framework (in one mode) trained from the shared initial weights and batch order."""

    framework: str
    mode: str = "eager"
    train_time_s: float | None = None  # the statistic over the counted repeats (timing.train_time_s)
    train_time_s_repeat1: float | None = None
    epochs: list[Epoch] = []
    saved_model: str | None = None
    saved_model_error: str | None = None
    save_time_s: float | None = None
    import_time_s: float | None = None
    data_load_s: float | None = None
    repeats: list[Repeat] = []
    timing: TrainingTiming | None = None
    determinism: Json | None = None


class RuntimeResult(Record):
    """What one runtime measured of one artifact, under names every runtime shares.

    `reference` names what its outputs are compared with: "source" (the model the artifact was
    made from, for a host runtime) or the host runtime that verified the same file (for a
    microcontroller runtime). What only one runtime has goes in `details`."""

    runtime: str
    role: Literal["host", "microcontroller"] = "host"
    status: Status
    error: str | None = None
    exit_code: int | None = None
    runtime_version: str | None = None
    reference: str = "source"
    task: str | None = None
    test_samples: int | None = None
    io: Json | None = None
    threads: int | None = None
    accepts_batch: bool | None = None
    load_time_s: float | None = None
    # Accuracy and agreement with the reference.
    test_accuracy: float | None = None
    reference_test_accuracy: float | None = None
    accuracy_change: float | None = None
    agreement: float | None = None
    disagreements: int | None = None
    max_abs_diff: float | None = None
    p99_9_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    reference_logit_range: float | None = None
    note: str | None = None  # what the comparison means for this artifact (e.g. outputs that are values)
    error_distribution: Json | None = None
    error_steps_distribution: Json | None = None
    output_quantization: Json | None = None
    max_diff_steps: int | None = None
    outputs_identical: bool | None = None
    share_within_one_step: float | None = None
    tolerance: Json | None = None
    max_abs_diff_bound: float | None = None
    within_tolerance: bool | None = None
    tolerance_failures: list[str] = []  # each criterion the result missed, in words
    # Speed (on this machine) and memory (on the target).
    latency_ms: Json | None = None
    latency_raw: str | None = None
    throughput: Json | None = None
    peak_rss_bytes: int | None = None
    ram_bytes: int | None = None  # the working memory the target must set aside (TFLM: its tensor arena)
    flash_bytes: int | None = None
    fit: list[Json] = []  # one entry per board (measure/boards.fit)
    log: str | None = None
    load: dict[str, Json] = {}  # measure/load's records of its timed sections, by what they timed
    # Per-layer error against the source model (measure/layer_table): rows, the first jump, the sample.
    layers: Json | None = None
    details: Json = {}


class Artifact(Record):
    """One export of one source model, and every runtime's result on it."""

    framework: str
    format: str
    precision: str
    runtime: str  # the host runtime that verifies it (its results are the reference for the others)
    file: str
    status: Status
    error: str | None = None
    exit_code: int | None = None
    size_bytes: int | None = None
    export_time_s: float | None = None
    calibration_samples: int | None = None
    graph: Json | None = None  # parameters and MACs read back from the file
    graph_error: str | None = None
    weight_quantization: Json | None = None
    measured_on: Json | None = None  # a cluster sweep: the device, node and host that measured it
    results: list[RuntimeResult] = []

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.framework, self.format, self.precision)

    def result(self, runtime: str | None = None) -> RuntimeResult | None:
        """The result of one runtime (default: the host runtime that verifies the artifact)."""
        name = runtime or self.runtime
        return next((x for x in self.results if x.runtime == name), None)

    @property
    def verified(self) -> RuntimeResult | None:
        """The host runtime's result where it finished (ok), else None."""
        res = self.result()
        return res if res is not None and res.status == "ok" else None

    def put(self, result: RuntimeResult) -> RuntimeResult:
        """Record a runtime's result, replacing an earlier one of the same runtime."""
        self.results = [x for x in self.results if x.runtime != result.runtime] + [result]
        return result

    def microcontroller_results(self) -> list[RuntimeResult]:
        return [x for x in self.results if x.role == "microcontroller"]


class Source(SourceModel):
    """deploy: the user's model file, run on the test set (every artifact's reference)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    file: str
    copy_: str | None = Field(None, alias="copy")  # the run folder's own copy of the model file
    sha256: str | None = None
    kind: str | None = None
    kind_title: str | None = None
    framework: str | None = None
    facts: Json = {}
    status: Status = "pending"
    load_time_s: float | None = None
    predict_time_s: float | None = None


class Load(Record):
    """The machine's load around every timed section (measure/load)."""

    threshold_cores: float | None = None
    require_quiet_s: float | None = None
    note: str | None = None
    flagged: list[Json] = []
    waits: list[Json] = []


class Cost(Record):
    """What the run's wall time went to: the timed work against the rest (measure/cost)."""

    training_s: float
    latency_and_throughput_s: float
    microcontroller_latency_s: float = 0.0
    total_s: float
    wall_s: float
    timed_share: float | None = None
    wall_over_timed: float | None = None
    note: str | None = None


class Progress(Record):
    done: list[str] = []
    note: str | None = None


class RunResults(Record):
    """A run (`edgebench run`) or a deploy (`edgebench deploy`): everything it measured."""

    schema_version: int = SCHEMA_VERSION
    edgebench_version: str | None = None
    command: str | None = None  # "deploy" for a deploy; absent for a run
    created_at: str | None = None
    finished_at: str | None = None
    resumed_at: list[str] = []
    status: str = "running"
    interrupted: bool | None = None
    config: Json = {}
    dataset: Json = {}
    model: Json = {}
    task: Json | None = None
    notices: list[str] = []
    fairness: Json = {}
    boards: list[Json] = []
    boards_note: str | None = None
    environment: Json = {}
    warnings: list[Json] = []  # each {"message": ...}: said before the run started
    source: Source | None = None
    trainings: list[Training] = []
    artifacts: list[Artifact] = []
    speed_limit: Json | None = None
    timing_comparisons: list[Json] = []
    twin: Json | None = None
    load: Load | None = None
    overlap: Json | None = None
    workers: Json | None = None  # how tasks were given processes (pipeline/run._record_workers)
    cost: Cost | None = None
    progress: Progress = Field(default_factory=Progress)
    wall_time_s: float | None = None
    wall_time_before_resume_s: float | None = None
    wall_time_breakdown_s: dict[str, float] = {}
    sweep: Json | None = None  # a cluster sweep's device folder: where it was built, for which device

    def training(self, framework: str, mode: str = "eager") -> Training | None:
        return next((t for t in self.trainings if t.framework == framework and t.mode == mode), None)

    def artifact(self, key: tuple[str, str, str]) -> Artifact | None:
        return next((a for a in self.artifacts if a.key == tuple(key)), None)

    @property
    def is_deploy(self) -> bool:
        return self.source is not None
