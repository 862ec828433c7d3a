"""The options of `edgebench run`: one table, read by the command line (typer), the --config TOML
loader (pydantic) and the presets. Every default is RunConfig's own (config.py): nothing here
repeats a value, so the flag, the file key and the library cannot disagree."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from edgebench.config import (PRESETS, ModelSpec, OptimizerSpec, RunConfig, default_frameworks, parse_formats,
                              parse_frameworks, parse_hidden, parse_mode)
from edgebench.errors import ConfigError


@dataclass(frozen=True)
class Option:
    name: str  # the Python name; the flag is --name-with-dashes, the TOML key either spelling
    type: Any  # as typed on the command line and in the TOML file
    help: str
    default: Callable[[RunConfig], Any]  # read off a default RunConfig
    field: str | None = None  # the RunConfig field a preset may set through this option
    flags: tuple[str, ...] = ()  # a flag spelled otherwise (a switch: --twin, --no-mcu)
    shown_default: str | None = None  # what a None default means, for --help

    @property
    def flag(self) -> str:
        return self.flags[0] if self.flags else "--" + self.name.replace("_", "-")


def _join(values) -> str:
    return ",".join(str(v) for v in values)


OPTIONS: tuple[Option, ...] = (
    Option("frameworks", str, "Comma list of frameworks (see `edgebench doctor`).",
           lambda c: _join(default_frameworks()), "frameworks"),
    Option("epochs", int, "Training epochs.", lambda c: c.epochs, "epochs"),
    Option("batch_size", int, "Mini-batch size.", lambda c: c.batch_size),
    Option("model", str, "mlp, lenet5, dscnn, resnet8, or a .toml file of your own layers (see `edgebench list "
           "models`).", lambda c: c.model.name),
    Option("hidden", str, "The MLP's hidden layer sizes, comma list (e.g. 128,64).", lambda c: _join(c.model.hidden)),
    Option("lr", float, "Learning rate.", lambda c: c.optimizer.learning_rate),
    Option("optimizer", str, "adam or sgd.", lambda c: c.optimizer.name),
    Option("adam_epsilon", float, "Adam epsilon, set in every framework.", lambda c: c.optimizer.epsilon),
    Option("adam_epsilon_placement", str, "aligned: every framework uses Keras' epsilon placement; native: each "
           "its own.", lambda c: c.optimizer.epsilon_placement),
    Option("formats", Optional[str], "Export formats, comma list (tflite, onnx, executorch, or "
           "FORMAT:PRECISION, FRAMEWORK:FORMAT:PRECISION), or none.",
           lambda c: None if c.formats is None else _join(c.formats), "formats", shown_default="all"),
    Option("bench_threads", int, "Inference threads when timing artifacts (1 = one embedded core).",
           lambda c: c.bench_threads),
    Option("calibration_samples", int, "Training images that calibrate static int8 exports.",
           lambda c: c.calibration_samples),
    Option("board", Optional[list[str]], "Extra microcontroller budget name:flash_kb:ram_kb[:core:clock_mhz] (repeatable).",
           lambda c: list(c.boards) or None),
    Option("mode", str, "eager (what a typical user writes), compiled (each framework's fast path: XLA, "
           "torch.compile, lax.scan) or both.", lambda c: _join(c.modes)),
    Option("repeats", int, "Trainings per framework, each in a fresh process, interleaved; times are reported "
           "as their geometric mean with a 95% confidence interval (on log times), median and range.",
           lambda c: c.repeats, "repeats"),
    Option("warmup", int, "Warm-up trainings per framework before the repeats (fresh processes too): run and "
           "recorded, not counted in the statistics.", lambda c: c.warmup, "warmup"),
    Option("parallel", int, "Child processes that may do untimed work at once (imports, exports, test-set "
           "passes); every timed section still runs alone, the others paused. 1: one child at a time.",
           lambda c: c.parallel, "parallel"),
    Option("require_quiet", float, "Before each timed section, wait up to this many seconds for other processes "
           "to use under 10% of a core; stop with an error if they do not (0: never wait; a section timed on a "
           "busy machine is flagged either way).", lambda c: c.require_quiet_s, "require_quiet_s"),
    Option("twin", bool, "Also report how far the frameworks' weights and logits drift apart after 1, 10, "
           "100 steps and at the end.", lambda c: c.twin, flags=("--twin",)),
    Option("no_mcu", bool, "Skip TFLite Micro, C arrays and board fit.", lambda c: not c.microcontroller,
           "microcontroller", flags=("--no-mcu",)),
    Option("latency_min_time", float, "Seconds of timed batch-1 calls per artifact (and >= 200 calls).",
           lambda c: c.latency_min_time_s, "latency_min_time_s"),
    Option("seed", int, "Seed for the initial weights and the batch order.", lambda c: c.seed),
    Option("threads", Optional[int], "Threads per framework.", lambda c: None, shown_default="all cores"),
    Option("dataset", str, "mnist, fashion-mnist, or a folder of IDX files.", lambda c: c.dataset),
    Option("limit_train", Optional[int], "Use only the first N training images.", lambda c: c.limit_train,
           "limit_train"),
    Option("limit_test", Optional[int], "Use only the first N test images.", lambda c: c.limit_test, "limit_test"),
    Option("num_classes", Optional[int], "Classes K: every label must be in 0..K-1.", lambda c: c.num_classes,
           shown_default="the largest label + 1, each class with a training example"),
    Option("out", Optional[Path], "Run folder.", lambda c: c.out, shown_default="runs/<timestamp>"),
)
BY_NAME = {o.name: o for o in OPTIONS}


def defaults() -> dict[str, Any]:
    base = RunConfig(threads=1)
    return {o.name: o.default(base) for o in OPTIONS}


def to_config(v: dict[str, Any]) -> RunConfig:
    """A RunConfig from option values (every option present)."""
    return RunConfig(
        frameworks=parse_frameworks(v["frameworks"]),
        dataset=v["dataset"],
        model=ModelSpec(hidden=parse_hidden(v["hidden"]), name=v["model"]),
        optimizer=OptimizerSpec(name=v["optimizer"].lower(), learning_rate=v["lr"], epsilon=v["adam_epsilon"],
                                epsilon_placement=v["adam_epsilon_placement"].lower()),
        formats=parse_formats(v["formats"]),
        bench_threads=v["bench_threads"],
        calibration_samples=v["calibration_samples"],
        latency_min_time_s=v["latency_min_time"],
        boards=tuple(v["board"] or ()),
        microcontroller=not v["no_mcu"],
        twin=v["twin"],
        repeats=v["repeats"],
        warmup=v["warmup"],
        parallel=v["parallel"],
        require_quiet_s=v["require_quiet"],
        modes=parse_mode(v["mode"]),
        epochs=v["epochs"],
        batch_size=v["batch_size"],
        seed=v["seed"],
        threads=v["threads"] if v["threads"] is not None else (os.cpu_count() or 1),
        limit_train=v["limit_train"],
        limit_test=v["limit_test"],
        num_classes=v["num_classes"],
        out=v["out"],
    )


def apply_preset(cfg: RunConfig, preset: str, given: set[str]) -> RunConfig:
    """Preset values for every field whose option was not given (on the command line or in the
    config file)."""
    import dataclasses

    name = preset.strip().lower()
    if name not in PRESETS:
        raise ConfigError(f"unknown --preset '{preset}'; valid choices: {', '.join(PRESETS)}")
    owner = {o.field: o.name for o in OPTIONS if o.field}
    changes = {f: v for f, v in PRESETS[name].items() if owner[f] not in given}
    return dataclasses.replace(cfg, preset=name, **changes)


def _file_model():
    """The --config file's schema: every option, strictly typed, nothing else. A list is also
    accepted for a comma-list option, a single string for --board, an int for a float."""
    from pydantic import ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr, create_model

    strict = {int: StrictInt, float: StrictFloat | StrictInt, str: StrictStr, bool: StrictBool, Path: StrictStr}
    comma_lists = {"frameworks", "formats", "hidden"}
    fields = {}
    for o in OPTIONS:
        base = o.type.__args__[0] if getattr(o.type, "__args__", None) and type(None) in o.type.__args__ else o.type
        if o.name == "board":
            t = list[StrictStr] | StrictStr
        elif o.name == "hidden":  # 64, "128,64" or [128, 64]: sizes as a user writes them in TOML
            t = StrictInt | StrictStr | list[StrictInt | StrictStr]
        elif o.name in comma_lists:
            t = StrictStr | list[StrictStr]
        else:
            t = strict[base]
        fields[o.name] = (Optional[t], None)
    return create_model("RunFile", __config__=ConfigDict(extra="forbid"), **fields)


def _wanted(name: str) -> str:
    """What an option's value must be, in words, for a one-line error."""
    if name == "hidden":
        return "a layer size (64), a comma list (\"128,64\") or a list of sizes ([128, 64])"
    if name in ("frameworks", "formats"):
        return "a comma list or a list of strings"
    if name == "board":
        return "a string name:flash_kb:ram_kb or a list of them"
    want = BY_NAME[name].type
    want = getattr(want, "__args__", (want,))[0]
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", Path: "a path"}.get(
        want, getattr(want, "__name__", str(want)))


def load_file(path: Path) -> dict[str, Any]:
    """A TOML file whose keys are `edgebench run` options (dashes or underscores): the values it
    sets, typed as on the command line; a ConfigError in one line for anything else."""
    from edgebench.config import read_toml

    return check_values(read_toml(path, "--config"), f"--config {path}")


def check_values(doc: dict, where: str) -> dict[str, Any]:
    """Option values from a TOML document (keys with dashes or underscores), typed as on the
    command line; a one-line ConfigError that starts with `where` for an unknown key or a value
    of the wrong type."""
    from pydantic import ValidationError

    unknown = [k for k in doc if k.replace("-", "_") not in BY_NAME]
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: "
                          + ", ".join(sorted(o.name.replace("_", "-") for o in OPTIONS)))
    keyed = {k.replace("-", "_"): (k, v) for k, v in doc.items()}
    try:
        model = _file_model().model_validate({name: v for name, (_, v) in keyed.items()})
    except ValidationError as e:
        err = e.errors()[0]
        name = str(err["loc"][0])
        key, value = keyed[name]
        raise ConfigError(f"{where}: '{key}' must be {_wanted(name)}, got {value!r}") from None
    out = {}
    for name in keyed:
        value = getattr(model, name)
        if isinstance(value, list) and name != "board":
            value = ",".join(str(v) for v in value)
        elif name == "hidden" and isinstance(value, int):
            value = str(value)
        if name == "board" and isinstance(value, str):
            value = [value]
        if BY_NAME[name].type in (float,) and isinstance(value, int):
            value = float(value)
        out[name] = Path(value) if name == "out" else value
    return out
