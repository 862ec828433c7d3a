"""Run settings: frozen dataclasses, validated once, recorded whole in results.json."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.errors import ConfigError

# --layers: which artifacts get a per-layer comparison with their source model.
LAYER_CHOICES = ("int8", "all", "none")

# Frameworks, formats and precisions are the registries' (registry.py): nothing is listed here.
OPTIMIZERS = ("adam", "sgd")
EPSILON_PLACEMENTS = ("aligned", "native")
MODES = ("eager", "compiled")


def _framework_name(name: str) -> str:
    from edgebench import registry

    return registry.framework_name(name)


def parse_mode(text: str) -> tuple[str, ...]:
    key = text.strip().lower()
    if key == "both":
        return MODES
    if key in MODES:
        return (key,)
    raise ConfigError(f"--mode must be eager, compiled or both, got '{text}'")


@dataclass(frozen=True)
class ModelSpec:
    """Which network: a built-in name (models.BUILTIN) or a .toml file (models/).
    hidden sizes the MLP's layers; input_size and num_classes follow the data set. The network
    itself, with its shapes and costs, is `network(image_shape)`."""

    input_size: int = 784
    hidden: tuple[int, ...] = (64,)
    num_classes: int = 10
    name: str = "mlp"

    def network(self, image_shape: tuple[int, ...] | None = None):
        from edgebench import models

        return models.build(self.name, image_shape or (self.input_size,), self.num_classes, self.hidden)

    @property
    def layer_sizes(self) -> list[tuple[int, int]]:
        sizes = [self.input_size, *self.hidden, self.num_classes]
        return list(zip(sizes[:-1], sizes[1:]))

    @property
    def parameter_count(self) -> int:
        return sum(i * o + o for i, o in self.layer_sizes)


@dataclass(frozen=True)
class OptimizerSpec:
    """Every hyper-parameter set explicitly, so no framework default leaks in.

    epsilon: Keras and PyTorch both add it to the square root of the second moment, but
    Keras adds it *before* the bias correction and PyTorch *after*: with the same value,
    Keras' effective epsilon is epsilon / sqrt(1 - beta2**t) (31.6x larger at step 1,
    converging to epsilon).
    epsilon_placement: "aligned" (default) gives every framework Keras' rule (the
    "epsilon hat" form of Kingma & Ba, section 2): PyTorch's epsilon is set to
    epsilon / sqrt(1 - beta2**t) before step t, which makes the two updates algebraically
    identical. "native" leaves each framework's stock rule.
    """

    name: str = "adam"
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    epsilon_placement: str = "aligned"


def known_frameworks() -> tuple[str, ...]:
    from edgebench import registry

    return tuple(registry.frameworks())


def default_frameworks() -> tuple[str, ...]:
    from edgebench import registry

    return tuple(name for name, fw in registry.frameworks().items() if fw.default)


@dataclass(frozen=True)
class RunConfig:
    frameworks: tuple[str, ...] = field(default_factory=default_frameworks)
    dataset: str = "mnist"
    model: ModelSpec = field(default_factory=ModelSpec)
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    epochs: int = 5
    batch_size: int = 64
    seed: int = 0
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    limit_train: int | None = None
    limit_test: int | None = None
    num_classes: int | None = None  # None: the largest label + 1, every class with a training example
    formats: tuple[str, ...] | None = None  # None: every format a framework can export
    calibration_samples: int = 500  # representative set for static int8, drawn from the train set
    bench_threads: int = 1  # inference threads when timing artifacts (one embedded core)
    latency_min_iters: int = 200
    latency_min_time_s: float = 1.0
    throughput_batch: int = 256
    repeats: int = 3  # trainings per framework, interleaved, in one long-lived worker per framework and mode
    warmup: int = 1  # trainings per framework before the repeats, in the worker then timed: recorded, not counted
    fresh_process_per_repeat: bool = False  # one child process per training and per artifact (the old way)
    rerun_busy: int = 1  # a counted repeat timed while the machine was busy is run again, up to this many times
    parallel: int = 2  # children doing untimed work at once; every timed section runs alone (pipeline/gate.py)
    require_quiet_s: float = 0.0  # wait up to this long before each timed section for a quiet machine; 0: no wait
    modes: tuple[str, ...] = ("eager",)  # eager and/or compiled; the first mode's model is exported
    preset: str | None = None  # recorded; its values are already applied to the fields
    twin: bool = False  # save weights at twin_steps and report the frameworks' drift
    twin_steps: tuple[int, ...] = (1, 10, 100)
    microcontroller: bool = True  # run .tflite artifacts in TFLite Micro, emit C arrays, fit boards
    emulate_samples: int = 100  # test inputs run on each emulated Cortex-M core (generated firmware)
    layers: str = "int8"  # per-layer error against the source model: for int8 artifacts, all, or none
    layer_samples: int = 256  # test images the per-layer comparison runs on (the first N)
    boards: tuple[str, ...] = ()  # extra boards, "name:flash_kb:ram_kb"
    out: Path | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["out"] = str(self.out) if self.out else None
        d["frameworks"] = list(self.frameworks)
        d["boards"] = list(self.boards)
        d["modes"] = list(self.modes)
        d["twin_steps"] = list(self.twin_steps)
        d["formats"] = list(self.formats) if self.formats is not None else None
        d["model"]["hidden"] = list(self.model.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}  # results.json adds records such as dataset_sha256
        known = {f.name for f in dataclasses.fields(ModelSpec)}
        model = ModelSpec(**{k: v for k, v in d.pop("model", {}).items() if k in known})
        model = dataclasses.replace(model, hidden=tuple(model.hidden))
        opt = OptimizerSpec(**d.pop("optimizer", {}))
        out = d.pop("out", None)
        formats = d.pop("formats", None)
        d["boards"] = tuple(d.get("boards", ()))
        d["modes"] = tuple(d.get("modes", ("eager",)))
        d["twin_steps"] = tuple(d.get("twin_steps", (1, 10, 100)))
        return cls(
            model=model,
            optimizer=opt,
            out=Path(out) if out else None,
            frameworks=tuple(d.pop("frameworks", None) or default_frameworks()),
            formats=tuple(formats) if formats is not None else None,
            **d,
        )


def parse_frameworks(text: str) -> tuple[str, ...]:
    known = known_frameworks()
    names = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        name = _framework_name(name)
        if name not in known:
            raise ConfigError(
                f"unknown framework '{raw.strip()}' in --frameworks; valid choices: {', '.join(known)}"
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ConfigError(f"--frameworks is empty; valid choices: {', '.join(known)}")
    return tuple(names)


def format_problem(item: str) -> str | None:
    """An export selector is FORMAT, FORMAT:PRECISION or FRAMEWORK:FORMAT:PRECISION."""
    from edgebench import registry

    fws, fmts, precs = known_frameworks(), registry.formats(), registry.precisions()
    parts = item.split(":")
    if len(parts) > 3:
        return f"--formats item '{item}': use FORMAT, FORMAT:PRECISION or FRAMEWORK:FORMAT:PRECISION"
    fw = parts[0] if len(parts) == 3 else None
    fmt = parts[-2] if len(parts) == 3 else parts[0]
    prec = parts[-1] if len(parts) > 1 else None
    if fw is not None and _framework_name(fw) not in fws:
        return f"unknown framework '{fw}' in --formats item '{item}'; valid choices: {', '.join(fws)}"
    if fmt not in fmts:
        return f"unknown format '{fmt}' in --formats; valid choices: {', '.join(fmts)}, all, none"
    if prec is not None and prec not in precs:
        return f"unknown precision '{prec}' in --formats item '{item}'; valid choices: {', '.join(precs)}"
    return None


def export_selected(formats: tuple[str, ...] | list[str] | None, framework: str, fmt: str, precision: str,
                    opt_in: bool = False) -> bool:
    """Does --formats select this export? An opt-in export (a variant kept for comparison, such as ONNX's
    per-tensor int8) only when an item names its precision."""
    if formats is None:
        return not opt_in
    for item in formats:
        parts = item.split(":")
        if len(parts) == 3:
            fw_ok = _framework_name(parts[0]) == framework
            if fw_ok and parts[1] == fmt and parts[2] == precision:
                return True
        elif len(parts) == 2:
            if parts[0] == fmt and parts[1] == precision:
                return True
        elif parts[0] == fmt and not opt_in:
            return True
    return False


def parse_formats(text: str | None) -> tuple[str, ...] | None:
    if text is None or text.strip().lower() in ("", "all"):
        return None
    if text.strip().lower() == "none":
        return ()
    names = tuple(dict.fromkeys(s.strip().lower() for s in text.split(",") if s.strip()))
    for name in names:
        problem = format_problem(name)
        if problem:
            raise ConfigError(problem)
    return names


PRESETS = {
    # The published lab: TensorFlow and PyTorch, one float32 export each, one run.
    "lab": {"frameworks": ("tensorflow", "pytorch"), "formats": ("tensorflow:tflite:float32", "pytorch:onnx:float32"),
            "repeats": 1, "warmup": 0, "microcontroller": False},
    # A first look in seconds: a small slice, one epoch, one run, float exports only.
    "quick": {"limit_train": 5000, "limit_test": 1000, "epochs": 1, "repeats": 1, "warmup": 0, "microcontroller": False,
              "formats": ("tflite:float32", "onnx:float32"), "latency_min_time_s": 0.2},
    # Everything edgebench can do (the defaults).
    "full": {},
}


def parse_hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--hidden must be a comma list of positive integers, got '{text}'") from None
    return sizes


# deploy --task: what the model's outputs are (pipeline/deploy.output_task decides for auto).
TASKS = ("auto", "classification", "regression")


@dataclass(frozen=True)
class DeployConfig:
    """`edgebench deploy MODEL`: the deployment half of a run on a model file a user brings.
    The fields it shares with RunConfig mean the same and have the same defaults."""

    model: str
    # None: MNIST when the model's input fits its images, else inputs generated in the model's own
    # shape and range (as --dataset none), said on the first line.
    dataset: str | None = None
    formats: tuple[str, ...] | None = None
    seed: int = 0
    limit_test: int | None = None
    limit_train: int | None = None  # calibration is drawn from the first N training images (as a run's is)
    calibration_samples: int = 500
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)  # loading, predicting, exporting
    bench_threads: int = 1
    latency_min_iters: int = 200
    latency_min_time_s: float = 1.0
    throughput_batch: int = 256
    microcontroller: bool = True
    emulate_samples: int = 100  # test inputs run on each emulated Cortex-M core (generated firmware)
    layers: str = "int8"  # per-layer comparison (TFLite Micro against LiteRT, tensor by tensor): int8, all, none
    layer_samples: int = 256  # test inputs the per-layer comparison runs on (the first N)
    boards: tuple[str, ...] = ()
    out: Path | None = None
    samples: int = 300  # --dataset none: how many inputs to generate
    input_range: tuple[float, float] | None = None  # --dataset none, float input: [0, 1] unless given
    parallel: int = 2  # children doing untimed work at once; every timed section runs alone
    require_quiet_s: float = 0.0  # wait up to this long before each timed section for a quiet machine
    fresh_process_per_repeat: bool = False  # one child process per artifact (else one worker per runtime)
    task: str = "auto"  # classification (outputs are class scores), regression (values), or auto: decided

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["out"] = str(self.out) if self.out is not None else None
        d["input_range"] = list(self.input_range) if self.input_range is not None else None
        d["formats"] = list(self.formats) if self.formats is not None else None
        d["boards"] = list(self.boards)
        d["command"] = "deploy"
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DeployConfig":
        """The configuration a deploy recorded in its results.json (records such as dataset_sha256 left out)."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        for key in ("formats", "input_range"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        d["boards"] = tuple(d.get("boards") or ())
        if d.get("out"):
            d["out"] = Path(d["out"])
        return cls(**d)


def validate_deploy(cfg: DeployConfig) -> None:
    problems = []
    if cfg.task not in TASKS:
        problems.append(f"--task must be {', '.join(TASKS[:-1])} or {TASKS[-1]}, got {cfg.task!r}")
    if isinstance(cfg.samples, bool) or not isinstance(cfg.samples, int) or cfg.samples <= 0:
        problems.append(f"--samples must be a positive integer, got {cfg.samples!r}")
    if isinstance(cfg.parallel, bool) or not isinstance(cfg.parallel, int) or cfg.parallel <= 0:
        problems.append(f"--parallel must be a positive integer, got {cfg.parallel!r}")
    if isinstance(cfg.require_quiet_s, bool) or not isinstance(cfg.require_quiet_s, (int, float)) \
            or not math.isfinite(cfg.require_quiet_s) or cfg.require_quiet_s < 0:
        problems.append(f"--require-quiet must be 0 or a number of seconds, got {cfg.require_quiet_s!r}")
    if cfg.layers not in LAYER_CHOICES:
        problems.append(f"--layers must be one of {', '.join(LAYER_CHOICES)}, got {cfg.layers!r}")
    if cfg.input_range is not None:
        lo, hi = cfg.input_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            problems.append(f"--input-range must be LO,HI with LO < HI, got {lo!r},{hi!r}")
        if cfg.dataset is not None and str(cfg.dataset).lower() != "none":
            problems.append("--input-range sets the range of generated inputs: it needs --dataset none")
    for name, value in (("--limit-test", cfg.limit_test), ("--limit-train", cfg.limit_train),
                        ("--calibration-samples", cfg.calibration_samples),
                        ("--emulate-samples", cfg.emulate_samples), ("--layer-samples", cfg.layer_samples),
                        ("--threads", cfg.threads), ("--bench-threads", cfg.bench_threads),
                        ("--latency-min-iters", cfg.latency_min_iters), ("--throughput-batch", cfg.throughput_batch)):
        if value is None and name in ("--limit-test", "--limit-train"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.append(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(cfg.latency_min_time_s, (int, float)) and cfg.latency_min_time_s >= 0):
        problems.append(f"--latency-min-time must be >= 0 seconds, got {cfg.latency_min_time_s!r}")
    for b in cfg.boards:
        from edgebench.measure.boards import parse_board

        try:
            parse_board(b)
        except ConfigError as e:
            problems.append(str(e))
    if problems:
        raise ConfigError("; ".join(problems))


def validate(cfg: RunConfig) -> None:
    """Report every problem at once, as one line."""
    problems = []

    def positive(name: str, value, allow_none=False):
        if value is None and allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.append(f"{name} must be a positive integer, got {value!r}")

    positive("--epochs", cfg.epochs)
    positive("--batch-size", cfg.batch_size)
    positive("--threads", cfg.threads)
    positive("--limit-train", cfg.limit_train, allow_none=True)
    positive("--limit-test", cfg.limit_test, allow_none=True)
    positive("--num-classes", cfg.num_classes, allow_none=True)
    if isinstance(cfg.num_classes, int) and cfg.num_classes == 1:
        problems.append("--num-classes must be at least 2, got 1")
    positive("--calibration-samples", cfg.calibration_samples)
    positive("--emulate-samples", cfg.emulate_samples)
    positive("--layer-samples", cfg.layer_samples)
    if cfg.layers not in LAYER_CHOICES:
        problems.append(f"--layers must be one of {', '.join(LAYER_CHOICES)}, got {cfg.layers!r}")
    positive("--repeats", cfg.repeats)
    positive("--parallel", cfg.parallel)
    if isinstance(cfg.require_quiet_s, bool) or not isinstance(cfg.require_quiet_s, (int, float)) \
            or not math.isfinite(cfg.require_quiet_s) or cfg.require_quiet_s < 0:
        problems.append(f"--require-quiet must be 0 or a number of seconds, got {cfg.require_quiet_s!r}")
    if isinstance(cfg.warmup, bool) or not isinstance(cfg.warmup, int) or cfg.warmup < 0:
        problems.append(f"--warmup must be 0 or a positive integer, got {cfg.warmup!r}")
    if isinstance(cfg.rerun_busy, bool) or not isinstance(cfg.rerun_busy, int) or cfg.rerun_busy < 0:
        problems.append(f"--rerun-busy must be 0 or a positive integer, got {cfg.rerun_busy!r}")
    if not cfg.modes or any(m not in MODES for m in cfg.modes):
        problems.append(f"--mode must be eager, compiled or both, got {','.join(cfg.modes) or 'nothing'}")
    elif cfg.twin and "eager" not in cfg.modes:
        problems.append("--twin follows every step of the eager loops: use --mode eager or both")
    positive("--bench-threads", cfg.bench_threads)
    positive("--latency-min-iters", cfg.latency_min_iters)
    positive("--throughput-batch", cfg.throughput_batch)
    if not (isinstance(cfg.latency_min_time_s, (int, float)) and cfg.latency_min_time_s >= 0):
        problems.append(f"--latency-min-time must be >= 0 seconds, got {cfg.latency_min_time_s!r}")
    if not cfg.model.hidden:
        problems.append("--hidden needs at least one layer size, e.g. --hidden 64")
    for h in cfg.model.hidden:
        if h <= 0:
            problems.append(f"--hidden sizes must be positive, got {h}")
    for fw in cfg.frameworks:
        if fw not in known_frameworks():
            problems.append(f"unknown framework '{fw}'; valid choices: {', '.join(known_frameworks())}")
    opt = cfg.optimizer
    if opt.name not in OPTIMIZERS:
        problems.append(f"unknown optimizer '{opt.name}'; valid choices: {', '.join(OPTIMIZERS)}")
    if not opt.learning_rate > 0:
        problems.append(f"--lr must be > 0, got {opt.learning_rate}")
    for name, v in (("beta1", opt.beta1), ("beta2", opt.beta2)):
        if not 0 <= v < 1:
            problems.append(f"Adam {name} must be in [0, 1), got {v}")
    if opt.epsilon_placement not in EPSILON_PLACEMENTS:
        problems.append(f"unknown Adam epsilon placement '{opt.epsilon_placement}'; valid choices: "
                        f"{', '.join(EPSILON_PLACEMENTS)}")
    if cfg.formats is not None:
        problems += [p for p in (format_problem(f) for f in cfg.formats) if p]
    for b in cfg.boards:
        from edgebench.measure.boards import parse_board

        try:
            parse_board(b)
        except ConfigError as e:
            problems.append(str(e))
    if not opt.epsilon > 0:
        problems.append(f"Adam epsilon must be > 0, got {opt.epsilon}")
    if not isinstance(cfg.seed, int) or cfg.seed < 0:
        problems.append(f"--seed must be a non-negative integer, got {cfg.seed!r}")
    if problems:
        raise ConfigError("; ".join(problems))
