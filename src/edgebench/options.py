"""Every command's options in one table (TABLE), each with its help written once: the command line
(typer) builds each command's options from it, and `run`'s settings (OPTIONS) are also what the
--config TOML loader (pydantic), the presets and edgebench.run() read. A setting's default is read
off the command's own default configuration (RunConfig, DeployConfig; config.py): nothing here
repeats a value, so the flag, the file key and the library cannot disagree. Models, frameworks and
formats are named in help through their registries, never listed here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from edgebench.config import (PRESETS, DeployConfig, ModelSpec, OptimizerSpec, RunConfig, default_frameworks,
                              parse_formats, parse_frameworks, parse_hidden, parse_mode)
from edgebench.errors import ConfigError

RUN, DEPLOY, BOTH = ("run",), ("deploy",), ("run", "deploy")
# --format of the commands that print a table: auto picks table on a terminal, md otherwise.
OUTPUT_FORMATS = ("auto", "table", "md", "csv", "json")


@dataclass(frozen=True)
class Option:
    name: str  # the Python name; the flag is --name-with-dashes, the TOML key either spelling
    type: Any  # as typed on the command line and in the TOML file
    help: str  # {models}, {formats}, {lab} and {output_formats} are filled in from the registries
    # A setting's: read off the command's default config (RunConfig, DeployConfig); else the value.
    default: Callable[[Any], Any] | Any
    field: str | None = None  # the config field a preset may set (or the API maps) through this option
    flags: tuple[str, ...] = ()  # a flag spelled otherwise (a switch: --twin, --no-mcu)
    shown_default: str | None = None  # what a None default means, for --help
    commands: tuple[str, ...] = RUN  # "run", "deploy", "sweep", "compare", "doctor", "list runs", ...
    setting: bool = True  # a key of the command's configuration (run: --config file, presets, the API)

    @property
    def flag(self) -> str:
        return self.flags[0] if self.flags else "--" + self.name.replace("_", "-")

    @property
    def text(self) -> str:
        """The help, with the names it quotes read from their registries."""
        return self.help.format(**_names()) if "{" in self.help else self.help

    def default_for(self, config: Any) -> Any:
        return self.default(config) if callable(self.default) else self.default


def _join(values) -> str:
    return ",".join(str(v) for v in values)


def _names() -> dict[str, str]:
    from edgebench import registry
    from edgebench.models import BUILTIN

    lab = " + ".join(registry.framework_title(f) for f in PRESETS["lab"]["frameworks"])
    *first, last = OUTPUT_FORMATS[1:]
    return {"models": ", ".join(BUILTIN), "formats": ", ".join(registry.formats()), "lab": lab,
            "output_formats": f"auto (a table on a terminal, Markdown into a pipe), {', '.join(first)} or {last}"}


TABLE: tuple[Option, ...] = (
    # What steers `run` and `deploy` themselves: not settings.
    Option("config", Optional[Path], "TOML file of run options (keys as the flags below); flags given on the "
           "command line override it.", None, setting=False),
    Option("resume", Optional[Path], "Continue an interrupted run or deploy in this folder with its own "
           "configuration (and a deploy's copy of the model); finished work is not redone.", None,
           commands=BOTH, setting=False),
    Option("json_output", bool, "Print results.json (a sweep: sweep.json) to stdout at the end (progress goes to "
           "stderr), for scripts.", False, flags=("--json",), commands=(*BOTH, "sweep"), setting=False),
    Option("preset", Optional[str], "lab (the published lab: {lab}, one float export each), quick (a small slice, "
           "seconds), full (everything); flags given explicitly override it.", None, setting=False),
    # The settings of a run (and of a deploy where it shares them).
    Option("frameworks", str, "Comma list of frameworks (see `edgebench doctor`).",
           lambda c: _join(default_frameworks()), "frameworks"),
    Option("epochs", int, "Training epochs.", lambda c: c.epochs, "epochs"),
    Option("batch_size", int, "Mini-batch size.", lambda c: c.batch_size),
    Option("model", str, "{models}, or a .toml file of your own layers (see `edgebench list models`).",
           lambda c: c.model.name),
    Option("hidden", str, "The MLP's hidden layer sizes, comma list (e.g. 128,64).", lambda c: _join(c.model.hidden)),
    Option("lr", float, "Learning rate.", lambda c: c.optimizer.learning_rate),
    Option("optimizer", str, "adam or sgd.", lambda c: c.optimizer.name),
    Option("adam_epsilon", float, "Adam epsilon, set in every framework.", lambda c: c.optimizer.epsilon),
    Option("adam_epsilon_placement", str, "aligned: every framework uses Keras' epsilon placement; native: each "
           "its own.", lambda c: c.optimizer.epsilon_placement),
    Option("formats", Optional[str], "Export formats, comma list ({formats}, or FORMAT:PRECISION, "
           "FRAMEWORK:FORMAT:PRECISION), or none.",
           lambda c: None if c.formats is None else _join(c.formats), "formats", shown_default="all",
           commands=BOTH),
    Option("bench_threads", int, "Inference threads when timing artifacts (1 = one embedded core).",
           lambda c: c.bench_threads, commands=BOTH),
    Option("calibration_samples", int, "Images that calibrate static int8 exports, drawn from the training set.",
           lambda c: c.calibration_samples, commands=BOTH),
    Option("board", Optional[list[str]], "Extra microcontroller budget name:flash_kb:ram_kb[:core:clock_mhz] (repeatable).",
           lambda c: list(c.boards) or None, "boards", commands=BOTH),
    Option("mode", str, "eager (what a typical user writes), compiled (each framework's fast path: XLA, "
           "torch.compile, lax.scan) or both.", lambda c: _join(c.modes)),
    Option("repeats", int, "Trainings per framework, interleaved, in one long-lived worker process per framework; "
           "times are reported as their geometric mean with a 95% confidence interval (on log times), median and "
           "range.", lambda c: c.repeats, "repeats"),
    Option("warmup", int, "Warm-up trainings per framework before the repeats, in the worker that is then timed: "
           "run and recorded, not counted in the statistics.", lambda c: c.warmup, "warmup"),
    Option("fresh_process_per_repeat", bool, "One child process per training and per artifact instead of one "
           "worker per framework and runtime: each repeat pays its own imports and cold start, and the sample "
           "includes process-to-process variation.", lambda c: c.fresh_process_per_repeat,
           "fresh_process_per_repeat", flags=("--fresh-process-per-repeat",), commands=BOTH),
    Option("rerun_busy", int, "Run a counted repeat again (up to N times) when other processes were busy during "
           "its training loop; the busy one is kept in results.json, not counted.", lambda c: c.rerun_busy,
           "rerun_busy"),
    Option("parallel", int, "Child processes that may do untimed work at once (imports, exports, test-set "
           "passes); every timed section still runs alone, the others paused. 1: one child at a time.",
           lambda c: c.parallel, "parallel", commands=BOTH),
    Option("require_quiet", float, "Before each timed section, wait up to this many seconds for other processes "
           "to use under 10% of a core; stop with an error if they do not (0: never wait; a section timed on a "
           "busy machine is flagged either way).", lambda c: c.require_quiet_s, "require_quiet_s", commands=BOTH),
    Option("twin", bool, "Also report how far the frameworks' weights and logits drift apart after 1, 10, "
           "100 steps and at the end.", lambda c: c.twin, flags=("--twin",)),
    Option("no_mcu", bool, "Skip the microcontroller stage: TFLite Micro, C arrays, generated firmware, "
           "emulated cores and board fit.", lambda c: not c.microcontroller,
           "microcontroller", flags=("--no-mcu",), commands=BOTH),
    Option("emulate_samples", int, "Test inputs each emulated Cortex-M core runs (the generated firmware; outputs "
           "compared with the host build of the same C).", lambda c: c.emulate_samples, "emulate_samples",
           commands=BOTH),
    Option("layers", str, "Per-layer error of each artifact against its source model (SQNR, cosine, largest "
           "error in int8 steps), and TFLite Micro's tensors against LiteRT's, on --layer-samples test images: "
           "int8 (int8 artifacts only), all, or none.", lambda c: c.layers, "layers", commands=BOTH),
    Option("layer_samples", int, "Test images (the first N) the per-layer comparison runs on.",
           lambda c: c.layer_samples, "layer_samples", commands=BOTH),
    Option("latency_min_time", float, "Seconds of timed batch-1 calls per artifact (and >= 200 calls).",
           lambda c: c.latency_min_time_s, "latency_min_time_s", commands=BOTH),
    Option("seed", int, "Seed of every random draw: the initial weights, the batch order and the calibration "
           "images.", lambda c: c.seed, commands=BOTH),
    Option("threads", Optional[int], "Threads per framework (deploy: for loading, running and exporting the "
           "model).", lambda c: None, shown_default="all cores", commands=BOTH),
    Option("dataset", Optional[str], "mnist, fashion-mnist, or a folder of IDX files; deploy also takes an .npz "
           "with x_test, y_test (optional) and x_calib (optional), or none: inputs generated in the model's own "
           "shape and range (no accuracy; agreement between runtimes).", lambda c: c.dataset,
           shown_default="mnist if the model takes 28x28x1 images, else none", commands=BOTH),
    Option("samples", int, "--dataset none: how many inputs to generate (they also calibrate int8 exports).",
           lambda c: c.samples, commands=DEPLOY),
    Option("input_range", Optional[str], "--dataset none, float input: the range LO,HI of the generated values.",
           lambda c: None, shown_default="0,1; a quantized input: the range its scale and zero point cover",
           commands=DEPLOY),
    Option("task", str, "classification (outputs are class scores: accuracy, top-1 agreement), regression "
           "(values, such as an autoencoder's reconstruction: the error and its distribution), or auto: "
           "classification when the data has labels or the graph ends in a softmax, regression when the output "
           "has as many values as the input or just one.", lambda c: c.task, commands=DEPLOY),
    Option("limit_train", Optional[int], "Use only the first N training images (deploy: calibration images are "
           "drawn from them, as in a run with --limit-train).", lambda c: c.limit_train, "limit_train",
           commands=BOTH),
    Option("limit_test", Optional[int], "Use only the first N test images.", lambda c: c.limit_test, "limit_test",
           commands=BOTH),
    Option("num_classes", Optional[int], "Classes K: every label must be in 0..K-1.", lambda c: c.num_classes,
           shown_default="the largest label + 1, each class with a training example"),
    Option("out", Optional[Path], "Run folder.", lambda c: c.out, shown_default="runs/<timestamp>", commands=BOTH),
    # The other commands' options.
    Option("out", Optional[Path], "Sweep folder.", None, shown_default="runs/sweep-<timestamp>",
           commands=("sweep",), setting=False),
    Option("resume", bool, "Continue the sweep in --out: finished points and measurements are not redone.",
           False, commands=("sweep",), setting=False),
    Option("cluster", Optional[str], "Address of a running Ray cluster (HOST:PORT): build on its build nodes, "
           "measure on its device nodes. Without it, points run here one after another.", None,
           commands=("sweep",), setting=False),
    Option("allow_insecure_cluster", bool, "Connect to a --cluster outside the loopback range without Ray token "
           "authentication.", False, commands=("sweep",), setting=False),
    Option("out", Optional[Path], "Where to write the Markdown diff.", None, shown_default="RUN_B/compare.md",
           commands=("compare",), setting=False),
    Option("band", float, "Practical-equivalence band in percent: a ratio within it is 'same'.", 3.0,
           commands=("compare",), setting=False),
    Option("accuracy_band", float, "The same for test accuracy, in percentage points.", 0.5,
           commands=("compare",), setting=False),
    Option("system", bool, "What on this machine can disturb timings (CPU governor and boost, SMT, the "
           "container's CPU and memory limits, load, environment variables that change kernels), each with why "
           "it matters.", False, flags=("--system",), commands=("doctor",), setting=False),
    Option("format", str, "{output_formats}.", "auto", flags=("--format",),
           commands=("compare", "doctor", "list runs", "list boards", "layers"), setting=False),
    Option("model", Optional[str], "Only this built-in or .toml model.", None, commands=("list models",),
           setting=False),
    Option("dataset", str, "The data set whose images set the shapes.", "mnist", commands=("list models",),
           setting=False),
)
# `run`'s settings: what a --config file, a preset and edgebench.run() may set.
OPTIONS: tuple[Option, ...] = tuple(o for o in TABLE if "run" in o.commands and o.setting)
BY_NAME = {o.name: o for o in OPTIONS}


def for_command(command: str) -> tuple[Option, ...]:
    """A command's options, in the table's order."""
    return tuple(o for o in TABLE if command in o.commands)


def default_config(command: str) -> Any:
    """The configuration whose fields are a command's setting defaults (None: a command without one)."""
    if command == "run":
        return RunConfig(threads=1)
    if command == "deploy":
        return DeployConfig(model="", threads=1)
    return None


def defaults() -> dict[str, Any]:
    base = default_config("run")
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
        emulate_samples=v["emulate_samples"],
        layers=v["layers"].lower(),
        layer_samples=v["layer_samples"],
        twin=v["twin"],
        repeats=v["repeats"],
        warmup=v["warmup"],
        fresh_process_per_repeat=v["fresh_process_per_repeat"],
        rerun_busy=v["rerun_busy"],
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
    from edgebench.models.toml_model import read_toml

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
