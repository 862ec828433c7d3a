"""The reports' view-model: what the CLI summary, report.md, report.html and the plots show,
worked out once from a results dict as read from results.json (also one written by an older
edgebench: a key it may lack is looked up with .get, exactly where the reports always tolerated it).

Display strings are `Text`: a str holding the plain text, plus its parts, each marked as
edgebench's own words and numbers (`own`) or as outside text (names, paths, messages, anything a
results.json may hold), and optionally stressed. The view holds outside text RAW; each renderer
escapes it for its format (report.markdown, report.terminal, report.html), so nothing here knows
Markdown, HTML or rich markup. A plain str, or any string operation on a Text, counts as outside
text: forgetting a marker over-escapes, it never lets markup through.
"""

from __future__ import annotations

import itertools
import numbers
import string
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable, Iterator, NamedTuple

from edgebench.models.layers import TYPES as _LAYER_TYPES
from edgebench.registry import framework_colour, framework_title
from edgebench.report.escape import ELLIPSIS, is_own_key


class Part(NamedTuple):
    text: str
    own: bool  # edgebench's own words or numbers: a renderer shows them as written
    strong: bool = False


class Text(str):
    """A display string (its str value is the plain text) made of parts; see the module doc."""

    parts: tuple[Part, ...]

    def __new__(cls, parts: Iterable[Part] = ()) -> "Text":
        parts = tuple(p for p in parts if p.text)
        obj = super().__new__(cls, "".join(p.text for p in parts))
        obj.parts = parts
        return obj

    def runs(self) -> Iterator[tuple[bool, list[Part]]]:
        """(stressed?, parts) for each run of parts stressed alike."""
        for stressed, parts in itertools.groupby(self.parts, key=lambda p: p.strong):
            yield stressed, list(parts)

    def __repr__(self) -> str:
        return f"Text({str.__repr__(self)})"


def _numeric(v: Any) -> bool:
    """Numbers (and lists of them) cannot carry markup: shown as edgebench formats them."""
    if isinstance(v, (list, tuple)):
        return all(_numeric(x) for x in v)
    return isinstance(v, numbers.Number)


def _parts(v: Any, spec: str = "") -> tuple[Part, ...]:
    if isinstance(v, Text) and not spec:
        return v.parts
    if _numeric(v):
        return (Part(format(v, spec), True),)
    return (Part(format(v, spec) if spec else str(v), False),)


def text(v: Any) -> Text:
    """Any value as Text: a str is outside text, a number edgebench's own."""
    return v if isinstance(v, Text) else Text(_parts(v))


class Message(Text):
    """An error message or failure reason: a table shortens it (results.json keeps it whole)."""


def message(v: Any) -> Message:
    return Message(text(v).parts)


def own(s: str) -> Text:
    """Words edgebench wrote itself (never a value read from results)."""
    return Text([Part(s, True)])


def strong(v: Any) -> Text:
    return Text(p._replace(strong=True) for p in text(v).parts)


def join(sep: str, items: Iterable[Any]) -> Text:
    out: list[Part] = []
    for i, item in enumerate(items):
        if i:
            out.append(Part(sep, True))
        out.extend(text(item).parts)
    return Text(out)


def key(k: Any) -> Text:
    """A results dict key: one of edgebench's own identifiers is shown as written."""
    return own(k) if isinstance(k, str) and is_own_key(k) else text(k)


_FORMATTER = string.Formatter()


def fmt(template: str, *args: Any) -> Text:
    """str.format for display text: the template is edgebench's own words, each argument keeps
    its kind (a str argument stays outside text, a number is formatted by its spec)."""
    parts: list[Part] = []
    values = iter(args)
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        if literal:
            parts.append(Part(literal, True))
        if field is None:
            continue
        if field or conversion:
            raise ValueError(f"fmt takes only '{{}}' and '{{:spec}}' fields: {template!r}")
        parts.extend(_parts(next(values), spec or ""))
    return Text(parts)


DASH = own("-")
HISTORY_COLUMNS = 8  # epochs shown in the per-epoch history; more: the first and last four


def _f(v: Any, spec: str, missing: Text = DASH) -> Text:
    return missing if v is None else fmt("{:" + spec + "}", v)


def _mib(b: Any) -> Text:
    return DASH if b is None else fmt("{:.0f}", b / 2**20)


def ci_text(s: dict | None, spec: str = ".2f") -> Text:
    """The headline of a time summary (geometric mean; older results: mean) with its interval."""
    from edgebench.measure.stats import center

    c = center(s)
    if c is None:
        return DASH
    if s.get("ci_low") is None:
        return fmt(f"{{:{spec}}} (n={{}})", c, s["n"])
    return fmt(f"{{:{spec}}} [{{:{spec}}}, {{:{spec}}}]", c, s["ci_low"], s["ci_high"])


def spread_text(s: dict | None, spec: str = ".2f") -> Text:
    """Median and range beside the interval: what a skewed sample looks like."""
    if not s or s.get("median") is None or s.get("n", 0) < 2:
        return DASH
    return fmt(f"{{:{spec}}} ({{:{spec}}}-{{:{spec}}})", s["median"], s["min"], s["max"])


# ---- labels ----------------------------------------------------------------------------------

def title(fw: Any) -> Text:
    """A framework's display name (its registry title; an unknown name as written)."""
    return text(framework_title(fw))


def colour(fw: Any) -> str:
    return framework_colour(fw)


def run_label(t: dict, r: dict) -> Text:
    """A training's row name: the framework, plus its mode when the run is not eager-only."""
    modes = r.get("config", {}).get("modes", ["eager"])
    name = title(t["framework"])
    return name if modes == ["eager"] else fmt("{} ({})", name, t.get("mode", "eager"))


def artifact_label(a: dict) -> Text:
    return fmt("{} -> {} {}", title(a["framework"]), a["format"], a["precision"])


def _agreement(a: dict) -> Text:
    """Top-1 agreement, or for outputs that are not class scores the error's p99 (and in output steps)."""
    if a.get("task") != "regression":
        return fmt("{:.2f}%", a["top1_agreement"] * 100)
    d = a.get("error_distribution") or {}
    steps = a.get("error_steps_distribution") or {}
    return fmt("n/a (values: p99 error {}{})", _f(d.get("p99"), ".3g"),
               fmt(", {} steps", _f(steps.get("p99"), ".3g")) if steps else own(""))


def _mcu_agreement(m: dict) -> Text:
    if m.get("task") != "regression":
        return fmt("{:.2f}%{}", m["agreement_with_litert"] * 100, _steps(m))
    d = m.get("diff_vs_litert_steps_distribution") or m.get("diff_vs_litert_distribution") or {}
    unit = " steps" if m.get("diff_vs_litert_steps_distribution") else ""
    return fmt("n/a (values: error p50 {}, p99 {}, max {}{})", _f(d.get("p50"), "g"), _f(d.get("p99"), "g"),
               _f(d.get("max"), "g"), own(unit))


def _weights(a: dict) -> Text:
    """' (per-channel)' after an int8 artifact's name, unless its precision already says it."""
    g = granularity(a)
    return own(f" ({g})") if g and g not in a["precision"] else own("")


def granularity(a: dict) -> str | None:
    """How an artifact's int8 weights are scaled, read from its graph when it was verified."""
    q = a.get("weight_quantization") or {}
    return q.get("granularity")


def verified(arts: list[dict]) -> list[dict]:
    """Artifacts that ran on their runtime and were compared with their framework."""
    return [a for a in arts if a["status"] == "ok" and "top1_agreement" in a]


# ---- the pieces of a view --------------------------------------------------------------------

Row = list  # table cells: Text (or any value, shown as text)


class Header(NamedTuple):
    run: Text  # status, date, version, run folder
    network: Text  # the network, optimizer, data set and threads


@dataclass
class Failure:
    """A training or artifact that did not finish: shown as a bullet with its message."""

    label: Text
    status: Any
    message: Any


@dataclass
class ArtifactView:
    raw: dict
    label: Text  # "TensorFlow -> tflite float32"
    source: Text  # the framework's title
    kind: Text  # "tflite float32", "onnx int8-static (per-channel)"
    runtime: Any
    weights: Text  # " (per-channel)", " (per-tensor)", " (mixed)": how int8 weights are scaled; "" otherwise
    status: Any
    error: Any
    checked: bool  # ran on its runtime and was compared (the figures below are "-" otherwise)
    within_tolerance: Any
    size_kb: Text
    bytes_per_param: Text
    accuracy: Text
    change_pt: Text
    agreement: Text
    max_abs_diff: Text
    p50_ms: Text
    p99_ms: Text
    p50_us: Text
    throughput: Text
    peak_rss_mib: Text

    @property
    def verdict(self) -> Text:
        """The matrix's last column: yes, NO (stressed) or the status (stressed)."""
        if not self.checked:
            return strong(self.status)
        return own("yes") if self.within_tolerance else strong(own("NO"))


@dataclass
class Deployment:
    intro: Text | None  # how every artifact was run, when the run recorded it
    rows: list[Row]
    highlights: dict[str, Text]  # "smallest", "fastest", "most_accurate": the artifact and its figures
    failures: list[Failure]
    tolerances: list[Row]
    model_cost: Text | None  # the sentence over the model-cost table
    model_cost_rows: list[Row]
    layer_rows: list[Row]  # per layer: name, type, output shape, parameters, MACs, share


@dataclass
class Speed:
    repeats: Any
    rows: list[Row]  # the times, with their intervals
    efficiency: list[Row]  # the same trainings against the machine's speed limit
    comparisons: list[Text]
    slow: list[Text]  # repeats far from the others, named, with what that means
    determinism: Text | None
    limit: Text  # the speed-limit paragraph


@dataclass
class Twin:
    status: Any
    reason: Any
    intro: Text | None
    rows: list[Row]
    pairs: list[Text]


@dataclass
class Mcu:
    rows: list[Row]
    board_headers: list[Text]  # empty: no fit table
    fit_rows: list[Row]
    boards_note: Any
    board_sources: Text
    c_arrays: Text


@dataclass
class Card:
    title: Text
    value: Text
    detail: Text


def _steps(m: dict) -> Text:
    """For integer outputs: how far TFLite Micro's are from LiteRT's, in output quantization steps;
    and, where they differed, the same against LiteRT's reference kernels."""
    out = own("")
    if m.get("max_diff_vs_litert_steps") is not None:
        out = (own("; outputs identical") if m["outputs_identical_to_litert"] else
               fmt("; outputs up to {} step{} apart ({:.1f}% of inputs within one step)",
                   m["max_diff_vs_litert_steps"], own("s" if m["max_diff_vs_litert_steps"] > 1 else ""),
                   m["share_within_one_step_of_litert"] * 100))
    ref = m.get("litert_reference_kernels")
    if ref:
        steps = (fmt(", outputs identical") if ref.get("outputs_identical") else
                 fmt(", up to {} steps apart ({:.1f}% within one)", ref["max_diff_steps"],
                     ref["share_within_one_step"] * 100) if ref.get("max_diff_steps") is not None else own(""))
        out = fmt("{}. Against LiteRT's reference kernels (those TFLite Micro's are ported from): {:.2f}% top-1{}",
                  out, ref["agreement"] * 100, steps)
    return out


def build(r: dict) -> "ReportView":
    return ReportView(r)


class ReportView:
    """Every section is worked out on first use, once, from the results dict; a section that
    needs a key the results lack raises KeyError as the reports always did (`edgebench report`
    turns it into a one-line error)."""

    def __init__(self, r: dict):
        self.r = r
        self.config = r.get("config", {})
        self.trainings = r.get("trainings", [])
        self.artifacts_raw = r.get("artifacts", [])
        self.status = r.get("status")
        self.created_at = r.get("created_at")
        self.version = r.get("edgebench_version")
        self.wall_time_s = r.get("wall_time_s")
        self.is_deploy = r.get("command") == "deploy"  # `edgebench deploy`: a source model, no trainings

    @property
    def has_results(self) -> bool:
        return bool(self.config)

    @property
    def generated(self) -> Text | None:
        """deploy --dataset none: how the inputs were made, and what that means for the figures."""
        g = (self.r.get("dataset") or {}).get("generated")
        if not g:
            return None
        return fmt("No data set: {} inputs generated in the model's input shape {}, uniform in [{:.4g}, {:.4g}] "
                   "({}), from seed {}, kept in {}. Accuracy is not reported; agreement between the source and "
                   "each artifact, and between LiteRT and TFLite Micro, is. Static int8 exports are calibrated on "
                   "these generated inputs: a real calibration set gives better int8 models.", g["samples"],
                   tuple(g["shape"]), g["low"], g["high"], g["range_from"], g["seed"], g.get("file"))

    @property
    def warnings(self) -> list[str]:
        """What the run said could make its figures harder to read (results' warnings), as written."""
        return [w.get("message", "") for w in self.r.get("warnings", []) if isinstance(w, dict)]

    # ---- header and training -----------------------------------------------------------------

    @cached_property
    def header(self) -> Header:
        """The two lines under the title."""
        r, cfg = self.r, self.config
        ds = r.get("dataset", {})
        m = r.get("model", {})
        folder = str(cfg.get("out") or "").rstrip("/").rsplit("/", 1)[-1]
        run = fmt("Run status: {} · created {} · edgebench {}", strong(r.get("status")), r.get("created_at"),
                  r.get("edgebench_version"))
        if folder:
            run = fmt("{} · run folder {}", run, folder)
        if self.is_deploy:
            src = r.get("source", {})
            inp = m.get("input", {})
            labels = own("") if ds.get("labels", True) else own(", no labels: agreement only")
            return Header(run, fmt("Deployed {} ({}): input {} {}, {} outputs, {:,} parameters, {} weighted layers "
                                   "(largest fan-in {}); dataset {} ({} test images{}), {} calibration images.",
                                   src.get("file"), src.get("kind_title"), inp.get("shape"), inp.get("layout"),
                                   m.get("num_classes"), m.get("parameter_count") or 0, m.get("weighted_layers"),
                                   m.get("max_fan_in"), ds.get("name"), ds.get("test_samples"), labels,
                                   r.get("fairness", {}).get("calibration", {}).get("samples")))
        opt = cfg["optimizer"]
        if cfg["model"].get("name", "mlp") == "mlp":
            hidden = join(" -> ", (fmt("{} ReLU", h) for h in cfg["model"]["hidden"]))
            model = fmt("Network {} -> {} -> {} logits ({:,} parameters)", cfg["model"]["input_size"], hidden,
                        cfg["model"]["num_classes"], m["parameter_count"])
        else:
            model = fmt("Model {} ({} layers, input {}, {:,} parameters, {:,} MACs per image)", m.get("name"),
                        len(m.get("layers", [])), "x".join(str(d) for d in m.get("input_shape", [])),
                        m["parameter_count"], m["macs_per_sample"])
        network = fmt("{}, {} (lr {:g}), batch {}, {} epochs, dataset {} ({} train / {} test), {} threads, seed {}.",
                      model, opt["name"].capitalize(), opt["learning_rate"], cfg["batch_size"], cfg["epochs"],
                      ds.get("name"), ds.get("train_samples"), ds.get("test_samples"), cfg["threads"], cfg["seed"])
        return Header(run, network)

    @cached_property
    def table1(self) -> list[Row]:
        """Framework | Training Time (s) | 95% CI | Median (range) | Test Accuracy."""
        rows = []
        for t in self.trainings:
            if t["status"] == "ok":
                tt = (t.get("timing") or {}).get("train_time_s") or {}
                ci = (fmt("[{:.2f}, {:.2f}] (n={})", tt["ci_low"], tt["ci_high"], tt["n"])
                      if tt.get("ci_low") is not None else fmt("single run (n={})", tt.get("n", 1)))
                rows.append([run_label(t, self.r), fmt("{:.2f}", t["train_time_s"]), ci, spread_text(tt),
                             fmt("{:.4f}", t["test_accuracy"])])
            else:
                rows.append([run_label(t, self.r), DASH, DASH, DASH, fmt("- ({})", t["status"])])
        return rows

    @cached_property
    def source(self) -> list[Row]:
        """deploy: the source model on the test set, in its own framework."""
        src = self.r.get("source")
        if not src:
            return []
        if src.get("status") != "ok":
            return [[src.get("file"), src.get("kind_title"), DASH, DASH, DASH,
                     fmt("{}: {}", src.get("status"), src.get("error") or "")]]
        versions = join(", ", (fmt("{} {}", key(k), v) for k, v in (src.get("versions") or {}).items()))
        return [[src.get("file"), src.get("kind_title"), _f(src.get("test_accuracy"), ".4f", own("no labels")),
                 _f(src.get("load_time_s"), ".2f"), _f(src.get("predict_time_s"), ".2f"), versions]]

    @cached_property
    def ok_trainings(self) -> list[dict]:
        return [t for t in self.trainings if t["status"] == "ok"]

    @cached_property
    def repeat1(self) -> list[Row]:
        """Test loss, peak RSS and epoch times of the run each framework exported."""
        return [[run_label(t, self.r), fmt("{:.4f}", t["test_loss"]), _mib(t.get("peak_rss_bytes")),
                 fmt("{:.2f}", t["epochs"][0]["time_s"]),
                 _f(sum(e["time_s"] for e in t["epochs"][1:]) / (len(t["epochs"]) - 1)
                    if len(t["epochs"]) > 1 else None, ".2f")] for t in self.ok_trainings]

    @cached_property
    def history(self) -> list[Row]:
        """Compact: a row per framework and figure (loss, accuracy, time), a column per epoch; beyond
        HISTORY_COLUMNS epochs, the first and the last ones with an ellipsis between."""
        out = []
        for t in self.ok_trainings:
            epochs = [e for e in t["epochs"] if e["epoch"] in self.history_epochs]
            for i, (what, key, spec) in enumerate((("loss", "loss", ".4f"), ("accuracy", "accuracy", ".4f"),
                                                   ("time (s)", "time_s", ".2f"))):
                cells = [fmt("{:" + spec + "}", e[key]) for e in epochs]
                if len(cells) < len(self.history_header) - 2:
                    cells.insert(HISTORY_COLUMNS // 2, own(ELLIPSIS))
                out.append([run_label(t, self.r) if i == 0 else own(""), own(what), *cells])
        return out

    @cached_property
    def history_epochs(self) -> set[int]:
        n = max((len(t["epochs"]) for t in self.ok_trainings), default=0)
        if n <= HISTORY_COLUMNS:
            return set(range(1, n + 1))
        half = HISTORY_COLUMNS // 2
        return set(range(1, half + 1)) | set(range(n - (HISTORY_COLUMNS - half) + 1, n + 1))

    @cached_property
    def history_header(self) -> list[str]:
        epochs = sorted(self.history_epochs)
        cols = [f"Epoch {e}" if i == 0 else str(e) for i, e in enumerate(epochs)]
        if len(epochs) == HISTORY_COLUMNS and max(epochs, default=0) > HISTORY_COLUMNS:
            cols.insert(HISTORY_COLUMNS // 2, ELLIPSIS)
        return ["Framework", "Figure", *cols]

    @cached_property
    def training_failures(self) -> list[Failure]:
        return [Failure(run_label(t, self.r), t["status"], t.get("error"))
                for t in self.trainings if t["status"] != "ok"]

    @property
    def time_note(self) -> Text:
        """How the training times are summarised (runs before the geometric mean: the mean)."""
        t = next((t for t in self.trainings if t.get("timing")), None)
        if t is None or t["timing"]["train_time_s"].get("geomean") is None:
            return own("mean [95% confidence interval, Student t] over the repeats")
        warm = self.config.get("warmup") or 0
        return fmt("geometric mean [95% confidence interval, Student t on log times: positive, as times are] over "
                   "the counted repeats{}, with the median and range beside it",
                   fmt(" ({} warm-up training{} per framework ran first, recorded, not counted)", warm,
                       own("s" if warm > 1 else "")) if warm else own(""))

    @cached_property
    def comparisons(self) -> list[Text]:
        out = []
        for c in self.r.get("timing_comparisons", []):
            a = run_label({"framework": c["a"], "mode": c.get("a_mode", "eager")}, self.r)
            b = run_label({"framework": c["b"], "mode": c.get("b_mode", "eager")}, self.r)
            if "ratio" in c:
                out.append(self._ratio_sentence(a, b, c))
                continue
            if c.get("ci_low") is None:
                out.append(fmt("{} vs {}: {:.2f} s apart; one run each, so no confidence interval.",
                               a, b, abs(c["diff"])))
                continue
            faster, slower = (b, a) if c["diff"] > 0 else (a, b)
            if c["significant"]:
                lo, hi = sorted((abs(c["ci_low"]), abs(c["ci_high"])))
                out.append(fmt("{} is faster than {} by {:.2f} s, 95% CI [{:.2f}, {:.2f}] (Welch t, p = {:.3g}).",
                               faster, slower, abs(c["diff"]), lo, hi, c["p_value"]))
            else:
                out.append(fmt("{} vs {}: no significant difference ({:+.2f} s, 95% CI [{:.2f}, {:.2f}], "
                               "p = {:.2g}).", a, b, c["diff"], c["ci_low"], c["ci_high"], c["p_value"]))
        return out

    @staticmethod
    def _ratio_sentence(a: Text, b: Text, c: dict) -> Text:
        """a's time over b's: which is faster, by what factor, with the interval of the factor."""
        ratio = c["ratio"]
        if ratio is None:
            return fmt("{} vs {}: no ratio (a time was missing).", a, b)
        if c.get("ci_low") is None:
            return fmt("{} vs {}: {:.2f}x apart; one run each, so no confidence interval.", a, b,
                       max(ratio, 1 / ratio))
        if ratio >= 1:  # a is slower: b is faster by ratio
            faster, slower, k, lo, hi = b, a, ratio, c["ci_low"], c["ci_high"]
        else:
            faster, slower, k, lo, hi = a, b, 1 / ratio, 1 / c["ci_high"], 1 / c["ci_low"]
        if c["significant"]:
            return fmt("{} is {:.2f}x as fast as {} (its time {:.1%} of theirs), 95% CI [{:.2f}x, {:.2f}x] (ratio of "
                       "geometric means, Welch t on log times, p = {:.3g}).", faster, k, slower, 1 / k, lo, hi,
                       c["p_value"])
        return fmt("{} vs {}: no significant difference (ratio {:.2f}, 95% CI [{:.2f}, {:.2f}], Welch t on log times, "
                   "p = {:.2g}).", a, b, ratio, c["ci_low"], c["ci_high"], c["p_value"])

    # ---- how fast -----------------------------------------------------------------------------

    @cached_property
    def flop_bound_s(self) -> float | None:
        """The whole run's training at this machine's GEMM peak (seconds), when measured."""
        sl = self.r.get("speed_limit") or {}
        if not sl.get("gemm_peak"):
            return None
        return sl["train_flops_per_epoch"] * self.config["epochs"] / (sl["gemm_peak"]["gflops"] * 1e9)

    @cached_property
    def speed(self) -> Speed | None:
        r = self.r
        sl = r.get("speed_limit")
        ok = [t for t in self.trainings if t.get("timing")]
        if not sl or not ok:
            return None
        peak = sl["gemm_peak"]
        cfg = r["config"]
        rows, efficiency = [], []
        for t in ok:
            tm = t["timing"]
            eff = tm["efficiency"]
            acc = tm["test_accuracy"]
            rows.append([run_label(t, r), ci_text(tm["train_time_s"]), ci_text(tm["first_epoch_s"]),
                         ci_text(tm.get("first_epoch_excess_s")), ci_text(tm["steady_epoch_s"], ".3f"),
                         fmt("{:.4f}", acc["mean"]) if acc["identical"] else
                         fmt("{:.4f} ({:.4f}-{:.4f})", acc["mean"], acc["min"], acc["max"])])
            efficiency.append([run_label(t, r), fmt("{:.1f}", eff["gflops"]), fmt("{:.1f}%", eff["fraction_of_peak"] * 100),
                               fmt("{:.0f}", eff["overhead_per_step_us"]),
                               fmt("{:.1f}x / {:.1f}x", tm["steady_vs_flop_bound"], tm["steady_vs_step_gemm_bound"])
                               if tm.get("steady_vs_step_gemm_bound") else DASH, _mib(tm["peak_rss_bytes"])])
        comparisons = self.comparisons
        determinism = None
        det = [(run_label(t, r), t.get("determinism") or {}) for t in ok]
        det = [(name, d) for name, d in det if d.get("repeats_compared", 0) > 1]
        if det:
            same = [n for n, d in det if d["bit_identical_weights"]]
            differ = [n for n, d in det if not d["bit_identical_weights"]]
            determinism = own("Determinism: final weights ")
            if same:
                determinism = fmt("{}bit-identical across the repeats for {}", determinism, join(", ", same))
            if differ:
                determinism = fmt("{}{}not bit-identical for {} (thread scheduling changes float summation order)",
                                  determinism, own("; " if same else ""), join(", ", differ))
            determinism = fmt("{}. Same seed, data, thread count and machine; another thread count or CPU changes "
                              "the summation order, and then results are close, not identical.", determinism)
        bound = self.flop_bound_s
        f = sl["train_flops_per_sample"]
        limit = fmt("The speed limit: this machine's float32 GEMM peak is {} with {} thread(s) ({}; {}).{} "
                    "Training costs {:,} matrix FLOPs per image (forward {:,}, weight gradients {:,}, input "
                    "gradients {:,}; bias, activation and optimizer work left out), {:.2f} GFLOP per epoch: at "
                    "peak, the {}-epoch run would take {}. Overhead per step = (steady epoch time - FLOP-bound "
                    "epoch time) / {} steps.",
                    strong(fmt("{:.1f} GFLOP/s", peak["gflops"])), peak["threads"], peak["method"],
                    peak.get("library") or join(", ", (fmt("BLAS: {} {} {}", b["api"], b["version"], b["architecture"])
                                                       for b in peak["blas"])),
                    self._peak_context(peak),
                    f["total"], f["forward"], f["weight_grad"], f["input_grad"], sl["train_flops_per_epoch"] / 1e9,
                    cfg["epochs"], strong(fmt("{:.2f} s", bound)), sl["steps_per_epoch"])
        best = min(ok, key=lambda t: t["timing"].get("epoch_s_for_efficiency") or float("inf"))
        fastest = best["timing"].get("epoch_s_for_efficiency")
        if fastest and bound / cfg["epochs"] > fastest:
            limit = fmt("{} That is no bound here: {} trained faster ({:.3f} s an epoch against {:.3f} s at this "
                        "peak), so the peak measured is below what the machine reaches.", limit, run_label(best, r),
                        fastest, bound / cfg["epochs"])
        step = sl.get("step_gemm")
        if step:
            step_epoch = sl["step_gemm_bound_epoch_s"]
            limit = fmt("{} A step's own matrix multiplies are small (batch {}): timed at their real shapes ({}) "
                        "they run at {:.1f} GFLOP/s, {:.0f} us a step, {} an epoch, against {:.3f} s at peak.",
                        limit, step["batch"], step["method"], step["gflops"], step["step_s"] * 1e6,
                        strong(fmt("{:.3f} s", step_epoch)), bound / cfg["epochs"])
            if fastest and step_epoch > fastest:
                limit = fmt("{} That is no bound either: {} took {:.3f} s an epoch, less than the step's GEMMs alone "
                            "with this BLAS (its own kernels or threads do better on these shapes).", limit,
                            run_label(best, r), fastest)
            else:
                limit = fmt("{} So no epoch can beat it with this BLAS (the step-GEMM bound).", limit)
            tm = best["timing"]
            if tm.get("steady_vs_flop_bound") and fastest:
                limit = fmt("{} Fastest steady state: {}, {:.3f} s an epoch, {:.1f}x the FLOP figure and {:.1f}x "
                            "the step-GEMM figure.", limit, run_label(best, r), fastest,
                            tm["steady_vs_flop_bound"], tm["steady_vs_step_gemm_bound"])
        slow = []
        for t in ok:
            for o in t["timing"].get("slow_repeats") or []:
                slow.append(fmt("{} repeat {} took {:.2f} s, {:.1f}x the median of the others ({:.2f} s): {}. It is "
                                "counted in the geometric mean and its interval; the median ({:.2f} s) barely moves "
                                "with it.", run_label(t, r), o["repeat"], o["value"], o["ratio"],
                                o["median_of_others"],
                                own("the machine was probably busy with something else, or caches were cold (rerun, "
                                    "or add --warmup)"),
                                t["timing"]["train_time_s"].get("median") or 0.0))
            st = t["timing"].get("stability") or {}
            if st.get("unstable"):
                slow.append(fmt("{}'s training times vary by {:.0f}% over {} repeats (coefficient of variation, above "
                                "{:.0f}%): the interval above is wide. At this spread, about {} repeats (--repeats) "
                                "would bring the 95% interval within +-{:.0f}% of the geometric mean.",
                                run_label(t, r), st["cv"] * 100, st["n"], st["cv_threshold"] * 100,
                                st["repeats_for_5pct"] or own("many"), st["target_half_width"] * 100))
        warm = cfg.get("warmup") or 0
        repeats = cfg.get("repeats", 1)
        return Speed(repeats=fmt("{} (after {} warm-up training{} each, not counted)", repeats, warm,
                                 own("s" if warm > 1 else "")) if warm else repeats,
                     rows=rows, efficiency=efficiency, comparisons=comparisons, slow=slow, determinism=determinism,
                     limit=limit)

    @staticmethod
    def _peak_context(peak: dict) -> Text:
        """Which candidates were measured, the theoretical peak, and what the environment forced."""
        out = own("")
        cands = peak.get("candidates") or []
        if len(cands) > 1:
            out = fmt(" The best of: {}.", join("; ", (fmt("{} {:.1f} GFLOP/s", c["library"], c["gflops"])
                                                       for c in cands)))
        th = peak.get("theoretical")
        if th:
            out = fmt("{} Theoretical peak {:.1f} GFLOP/s ({}; clock from {}){}; the bounds below use the measured "
                      "peak.", out, th["gflops"], th["formula"], th["frequency_source"],
                      own(", below the measured rate: the cores ran faster than the clock read (turbo)")
                      if th["gflops"] < peak["gflops"] else own(""))
        unset = (peak.get("environment") or {}).get("unset_for_this_measurement") or {}
        if unset:
            out = fmt("{} Measured with {} unset (they are set in this environment and force an older OpenBLAS "
                      "kernel).", out, join(", ", (fmt("{}={}", k, v) for k, v in unset.items())))
        if peak.get("child_error"):
            out = fmt("{} (Measured in the run's own process: the measuring child failed: {}.)", out,
                      peak["child_error"])
        return out

    @cached_property
    def twin(self) -> Twin | None:
        tw = self.r.get("twin")
        if not tw:
            return None
        if tw.get("status") != "ok":
            return Twin(status=tw.get("status"), reason=tw.get("reason"), intro=None, rows=[], pairs=[])
        intro = fmt("Same initial weights, same batches, {} steps. {}.", tw["total_steps"], tw["method"])
        rows, pairs = [], []
        for p in tw["pairs"]:
            name = join(" vs ", (title(f) for f in p["pair"]))
            for pt in p["points"]:
                rows.append([name, pt["at"], fmt("{:.2e}", pt["max_abs_weight_diff"]),
                             fmt("{:.2f}%", pt["weights_within_1e-5"] * 100),
                             fmt("{:.2e}", pt["max_abs_weight_change_from_init"]),
                             fmt("{:.2e}", pt["max_abs_logit_diff"]), fmt("{:.2f}%", pt["top1_agreement"] * 100)])
        for p in tw["pairs"]:
            pairs.append(fmt("{}: the frameworks' own float32 test logits differ by at most {:.2e} at the end.",
                             join(" vs ", (title(f) for f in p["pair"])), p["end_framework_logits_max_abs_diff"]))
        return Twin(status=tw["status"], reason=None, intro=intro, rows=rows, pairs=pairs)

    # ---- deployment ---------------------------------------------------------------------------

    @cached_property
    def artifacts(self) -> list[ArtifactView]:
        params = self.r.get("model", {}).get("parameter_count")
        checked = verified(self.artifacts_raw)
        out = []
        for a in self.artifacts_raw:
            ok = a in checked
            lat = a.get("latency_ms", {}) if ok else {}
            p50 = lat.get("p50")
            size = a.get("size_bytes")
            weights = _weights(a)
            out.append(ArtifactView(
                raw=a, label=artifact_label(a), source=title(a["framework"]),
                kind=fmt("{} {}{}", a["format"], a["precision"], weights),
                weights=weights, runtime=a.get("runtime"), status=a["status"],
                error=a.get("error"), checked=ok, within_tolerance=a.get("within_tolerance"),
                size_kb=_f(size and size / 1000, ".1f"), bytes_per_param=_f(size and params and size / params, ".2f"),
                accuracy=_f(a.get("test_accuracy") if ok else None, ".4f"),
                change_pt=_f(a["accuracy_change"] * 100 if ok and a.get("accuracy_change") is not None else None,
                             "+.2f"),
                agreement=_agreement(a) if ok else DASH,
                max_abs_diff=_f(a.get("max_abs_diff") if ok else None, ".2e"),
                p50_ms=_f(p50, ".4f"), p99_ms=_f(lat.get("p99"), ".4f"), p50_us=_f(p50 and p50 * 1000, ".1f"),
                throughput=_f((a.get("throughput") or {}).get("images_per_s") if ok else None, ",.0f"),
                peak_rss_mib=_mib(a.get("peak_rss_bytes")) if ok else DASH))
        return out

    @cached_property
    def load_notes(self) -> list[Text]:
        """Every timed section measured while other processes were busy, named with its figure, and
        whether the statistics include it; or one line saying the machine stayed quiet."""
        load = self.r.get("load")
        if not load:
            return []
        flagged = load.get("flagged") or []
        if not flagged:
            n = (self.r.get("overlap") or {}).get("timed_sections")
            return [fmt("Machine load: every timed section was watched{}; in none did other processes use more than "
                        "{:.2f} of a core on average.", fmt(" ({})", n) if n else own(""), load["threshold_cores"])]
        out = [fmt("Machine load: {} timed section{} ran while other processes used more than {:.2f} of a core on "
                   "average (figures marked busy below). They are included in the statistics; rerun on a quieter "
                   "machine, or with --require-quiet SECONDS to wait for one.", len(flagged),
                   own("s" if len(flagged) > 1 else ""), load["threshold_cores"])]
        for f in flagged:
            out.append(fmt("busy: {} ({}): other processes used {:.2f} cores on average{}.", f["where"], f["what"],
                           f["outside_cores"], fmt(", load average {:.1f}", f["loadavg"])
                           if f.get("loadavg") is not None else own("")))
        return out

    @cached_property
    def highlights(self) -> dict[str, ArtifactView]:
        """Smallest, most accurate and (when timed) fastest of the artifacts within tolerance."""
        good = [x for x in self.artifacts if x.checked and x.within_tolerance]
        if not good:
            return {}
        def acc(x):  # without labels (deploy on unlabelled images): agreement with the source; for
            # outputs that are not class scores, the smaller error
            if x.raw.get("task") == "regression":
                return -(x.raw.get("error_distribution") or {}).get("p99", x.raw["max_abs_diff"])
            return x.raw["test_accuracy"] if x.raw.get("test_accuracy") is not None else x.raw["top1_agreement"]

        out = {
            "smallest": min(good, key=lambda x: (x.raw["size_bytes"], -acc(x))),
            "most_accurate": max(good, key=lambda x: (acc(x), -x.raw["size_bytes"])),
        }
        timed = [x for x in good if x.raw.get("latency_ms", {}).get("p50")]
        if timed:
            out["fastest"] = min(timed, key=lambda x: x.raw["latency_ms"]["p50"])
        return out

    @cached_property
    def deployment(self) -> Deployment | None:
        """The deployment matrix with what follows it; None without exports."""
        r, arts = self.r, self.artifacts_raw
        if not arts:
            return None
        inf = r.get("fairness", {}).get("inference", {})
        intro = None
        if inf:
            whose = (own("the source model's own logits (run in its own framework)") if self.is_deploy
                     else own("the logits of the framework that produced it"))
            intro = fmt("Every artifact runs on its own runtime over all {} test images and is compared with "
                        "{}. Latency: {}, {} inference thread(s). Throughput: {}.", r["dataset"]["test_samples"],
                        whose, inf["latency"], inf["threads"], inf["throughput"])
        views = self.artifacts
        rows = [[fmt("{}{}", v.label, v.weights), v.runtime, v.size_kb, v.bytes_per_param, v.accuracy, v.change_pt, v.agreement,
                 v.max_abs_diff, v.p50_ms, v.p99_ms, v.throughput, v.peak_rss_mib, v.verdict] for v in views]
        h = {}
        for name, v in self.highlights.items():
            a = v.raw
            if name == "fastest":
                h[name] = fmt("{} on {} ({} us)", v.label, v.runtime, v.p50_us)
            else:
                h[name] = (fmt("{} (accuracy {:.4f}, {:.1f} KB)", v.label, a["test_accuracy"], a["size_bytes"] / 1000)
                           if a.get("test_accuracy") is not None else
                           fmt("{} (p99 error {:.3g}, {:.1f} KB)", v.label, a["error_distribution"]["p99"],
                               a["size_bytes"] / 1000) if a.get("error_distribution") else
                           fmt("{} (agreement {:.2%}, {:.1f} KB)", v.label, a["top1_agreement"], a["size_bytes"] / 1000))
        failures = [Failure(v.label, v.status, v.error) for v in views if v.status != "ok"]
        # Which criterion an artifact out of tolerance failed (runs before issue 27 did not record it).
        failures += [Failure(v.label, own("out of tolerance"), "; ".join(v.raw.get("tolerance_failures") or [])
                             or own("see the figures above")) for v in views if v.checked and v.within_tolerance is False]
        seen = {}
        for a in verified(arts):
            seen.setdefault("int8" if a["precision"].startswith("int8") else a["precision"], a["tolerance"])

        def diff_bound(t):
            if t.get("max_abs_diff") is not None:
                return fmt("{:g}", t["max_abs_diff"])
            if t.get("percentile"):
                return fmt("{:g}% of logit range (p{:g} of the per-image largest)", t["max_diff_of_range"] * 100,
                           t["percentile"])
            return fmt("{:g}% of logit range", t["max_diff_of_range"] * 100)

        tolerances = [[k, diff_bound(t), fmt("{:g}%", t["min_agreement"] * 100),
                       fmt("{:g}", t["max_accuracy_drop"] * 100), t.get("reason", "")] for k, t in seen.items()]
        m = r.get("model", {})
        cost, cost_rows = None, []
        if self.is_deploy:
            cost = fmt("{:,} parameters read off the source model; each exported graph's own count:",
                       m.get("parameter_count") or 0)
            for a in verified(arts):
                g = a.get("graph")
                cost_rows.append([artifact_label(a), fmt("{:,}", g["parameters"]) if g else DASH,
                                  fmt("{:,}", g["macs_per_sample"]) if g else DASH,
                                  own("-") if g else (message(a["graph_error"]) if a.get("graph_error")
                                                      else own("not inspectable"))])
        elif m:
            # A converter folds BatchNorm into the layer before it: the graph holds the folded count.
            deployed = m.get("deployed_parameter_count", m["parameter_count"])
            cost = fmt("{:,} parameters and {:,} multiply-accumulates per inference, computed from the layer sizes "
                       "and checked against each exported graph:", m["parameter_count"], m["macs_per_sample"])
            if deployed != m["parameter_count"]:
                cost = fmt("{} {:,} parameters once BatchNorm is folded into the layers before it, as converters do:",
                           cost, deployed)
            for a in verified(arts):
                g = a.get("graph")
                if g:
                    match = g["parameters"] == deployed and g["macs_per_sample"] == m["macs_per_sample"]
                    cost_rows.append([artifact_label(a), fmt("{:,}", g["parameters"]),
                                      fmt("{:,}", g["macs_per_sample"]), own("yes") if match else strong(own("NO"))])
                else:
                    cost_rows.append([artifact_label(a), DASH, DASH,
                                      message(a["graph_error"]) if a.get("graph_error") else own("not inspectable")])
        table = m.get("layer_table")
        if not table and self.is_deploy:
            # A source whose own graph gave none (a Keras or PyTorch model): its float32 export's graph.
            g = next((a.get("graph") for a in verified(arts) if a["precision"] == "float32"
                      and (a.get("graph") or {}).get("layers")), None)
            table = g["layers"] if g else []
        layer_rows = [[row["name"], own(row["type"]) if row["type"] in _LAYER_TYPES else row["type"],
                       "x".join(str(d) for d in row["output_shape"]), fmt("{:,}", row["parameters"]),
                       fmt("{:,}", row["macs"]), fmt("{:.1%}", row["macs_share"])]
                      for row in table or []]
        return Deployment(intro=intro, rows=rows, highlights=h, failures=failures, tolerances=tolerances,
                          model_cost=cost, model_cost_rows=cost_rows, layer_rows=layer_rows)

    # ---- microcontroller ----------------------------------------------------------------------

    @cached_property
    def mcu_ok(self) -> list[dict]:
        """Artifacts that ran in TensorFlow Lite Micro."""
        return [a for a in self.artifacts_raw if (a.get("microcontroller") or {}).get("status") == "ok"]

    @cached_property
    def mcu(self) -> Mcu | None:
        arts = [a for a in self.artifacts_raw if a.get("microcontroller")]
        if not arts:
            return None
        rows = []
        for a in arts:
            m = a["microcontroller"]
            if m.get("status") != "ok":
                rows.append([artifact_label(a), message(fmt("{}: {}", m.get("status"), m.get("reason", "")))]
                            + [DASH] * 6)
                continue
            io = m["io"]
            c = m["c_array"]
            rows.append([
                artifact_label(a), own("ok"),
                fmt("{:.4f} ({:+.2f})", m["test_accuracy"], m["accuracy_change_vs_litert"] * 100)
                if m.get("test_accuracy") is not None else own("no labels"),
                _mcu_agreement(m),
                fmt("{:,}{}", m["arena_bytes"], own("") if m.get("arena_minus_one_fails")
                    else fmt(" ({})", strong(own("minimum not confirmed")))),
                fmt("{}{}", _f(m.get("arena_reported_bytes"), ","),
                    fmt(" ({:+,} needed while preparing)", m["arena_above_reported_bytes"])
                    if m.get("arena_above_reported_bytes") else own("")),
                fmt("{:,} / {:,}", io["input"]["bytes"], io["output"]["bytes"]),
                fmt("{:,} (C source {:.0f} KB, {})", m["flash_bytes"], c["source_bytes"] / 1000,
                    own("compiles, bytes match") if c.get("compiles") and c.get("bytes_match")
                    else fmt("compile check: {}", c.get("compiles"))),
            ])
        ok = [a for a in arts if a["microcontroller"].get("status") == "ok"]
        boards = self.r.get("boards", [])
        headers, fit_rows, sources, dirs = [], [], own(""), own("")
        if ok and boards:
            for a in ok:
                row = [artifact_label(a)]
                for f in a["microcontroller"]["fit"]:
                    row.append(fmt("{} ({:+.0f} / {:+.1f})", own("fits") if f["fits"] else strong(own("no")),
                                   f["flash_headroom_kb"], f["ram_headroom_kb"]))
                fit_rows.append(row)
            headers = [fmt("{}: {:g} KB flash, {:g} KB RAM", b["name"], b["flash_kb"], b["ram_kb"]) for b in boards]
            sources = join("; ", (fmt("{}: {}", b["name"], b["source"]) for b in boards))
            dirs = join(", ", (fmt("{}/", a["microcontroller"]["c_array"]["dir"]) for a in ok))
        return Mcu(rows=rows, board_headers=headers, fit_rows=fit_rows, boards_note=self.r.get("boards_note", ""),
                   board_sources=sources, c_arrays=dirs)

    @cached_property
    def tflm_best(self) -> Text | None:
        """One line on the artifact that needs the smallest arena in TensorFlow Lite Micro."""
        if not self.mcu_ok:
            return None
        best = min(self.mcu_ok, key=lambda a: (a["microcontroller"]["arena_bytes"], a["size_bytes"]))
        m = best["microcontroller"]
        fits = [f["board"] for f in m["fit"] if f["fits"]]
        return fmt("TFLite Micro: {} runs in a {:,}-byte arena with {:.1f} KB of flash (accuracy {}); "
                   "fits {}/{} boards", artifact_label(best), m["arena_bytes"], m["flash_bytes"] / 1000,
                   _f(m.get("test_accuracy"), ".4f", own("not labelled")), len(fits), len(m["fit"]))

    # ---- how it was measured ------------------------------------------------------------------

    @cached_property
    def measured(self) -> list[Text]:
        """The bullets of "How this was measured"."""
        r, cfg = self.r, self.config
        fair = r.get("fairness", {})
        env = r.get("environment", {})
        ds = r.get("dataset", {})
        out = []
        if self.is_deploy and fair:
            src = r.get("source", {})
            out += [
                (own("Source model"), fmt("{} ({}), SHA-256 {}; copied into the run as {}.", src.get("file"),
                                          src.get("kind_title"), (src.get("sha256") or "(a folder)")[:16],
                                          src.get("copy"))),
                (own("Reference"), fmt("{}.", fair["reference"])),
                (own("Calibration"), fmt("{} images: {}.", fair["calibration"]["samples"], fair["calibration"]["note"])),
                (own("Layout"), fmt("{}; {}.", fair["layout"], fair["dtype"])),
                (own("Isolation"), fmt("{}.", fair["isolation"])),
                *([(own("Timed sections alone"), fmt("{}.", fair["timed_sections"]["how"]))]
                  if fair.get("timed_sections") else []),
                (own("Dataset"), fmt("{} from {}, {}.", ds.get("name"), ds.get("source"), ds.get("scaling"))),
                *([(own("Outputs"), fmt("{} ({}){}.", r["task"]["kind"], r["task"]["decided_by"],
                                        own("; judged by the error and its distribution, top-1 agreement is not "
                                            "meaningful") if r["task"]["kind"] == "regression" else own("")))]
                  if r.get("task") else []),
                *([(own("Data chosen"), fmt("{}.", ds["generated"]["chosen"]))]
                  if (ds.get("generated") or {}).get("chosen") else []),
            ]
            fair = {}
        if fair:
            opt = cfg["optimizer"]
            w, b = fair["initial_weights"], fair["batch_order"]
            out += [
                (own("Same initial weights"), fmt("{}, made once in NumPy from seed {} ({}, SHA-256 {}...) and loaded "
                                                  "into every framework.", w["scheme"], w["seed"], w["file"],
                                                  w["sha256"][:16])),
                (own("Same batches"), fmt("{} ({}, shape {}).", b["note"], b["file"], b["shape"])),
                (own("Same optimizer"), fmt("{} lr={:g}, beta1={:g}, beta2={:g}, epsilon={:g}, set explicitly in both "
                                            "frameworks. {}", opt["name"], opt["learning_rate"], opt["beta1"],
                                            opt["beta2"], opt["epsilon"],
                                            fair["optimizer"]["epsilon_note"] if opt["name"] == "adam" else own(""))),
                (own("Same loss"), fmt("{}; {} everywhere.", fair["loss"], fair["dtype"])),
                (own("Same threads"), fmt("{} ({}).", fair["threads"]["count"], fair["threads"]["how"])),
                (own("Isolation"), fmt("{}; peak RSS is each child's own maximum.", fair["isolation"])),
                *([(own("Timed sections alone"), fmt("{}{}.", fair["timed_sections"]["how"],
                                                     fmt(" ({} timed sections went through the gate)",
                                                         (r.get("overlap") or {}).get("timed_sections"))
                                                     if r.get("overlap") else own("")))]
                  if fair.get("timed_sections") else []),
                (own("Training time"), fmt("{}. A single run: compare frameworks as a ratio within this run, not "
                                           "against figures from another day or machine.", fair["train_time"])),
                (own("Evaluation"), fmt("{}.", fair["evaluation"])),
                (own("Dataset"), fmt("{} from {}, {}; SHA-256 {}", ds.get("name"), ds.get("source"), ds.get("scaling"),
                                     own("verified against the bundled SHA256SUMS.") if ds.get("checksum_verified")
                                     else own("recorded (no reference sums)."))),
            ]
        if env:
            out += [
                (own("Machine"), fmt("{}, {} usable cores, {} GiB; {}; Python {}.", env.get("cpu_model"),
                                     env.get("usable_cores"),
                                     _f(env.get("memory_bytes") and env["memory_bytes"] / 2**30, ".0f"),
                                     env.get("platform"), env.get("python"))),
                (own("Packages"), fmt("{}.", join(", ", (fmt("{} {}", key(k), v)
                                                         for k, v in env.get("packages", {}).items())))),
            ]
        out = [fmt("{}: {}", strong(what), how) for what, how in out]
        if r.get("wall_time_s") is not None:
            spent = r.get("wall_time_breakdown_s") or {}
            parts = join(", ", (fmt("{} {:.1f} s", key(k), v) for k, v in spent.items()))
            out.append(fmt("{} of this run: {:.1f} s{}; results.json has the final figure, which includes writing "
                           "the reports.", strong(own("End-to-end wall time")), r["wall_time_s"],
                           fmt(" ({})", parts) if parts else own("")))
        return out

    # ---- summary cards (report.html) ----------------------------------------------------------

    @cached_property
    def cards(self) -> list[Card]:
        out = []
        r = self.r
        ok = [t for t in self.trainings if t["status"] == "ok" and t.get("train_time_s") is not None]
        if ok:
            fast = min(ok, key=lambda t: t["train_time_s"])
            s = (fast.get("timing") or {}).get("train_time_s") or {}
            ci = fmt(", 95% CI [{:.2f}, {:.2f}] s", s["ci_low"], s["ci_high"]) if s.get("ci_low") is not None else own("")
            out.append(Card(own("Fastest to train"), run_label(fast, r),
                            fmt("{:.2f} s mean over {} run(s){}; test accuracy {:.4f}", fast["train_time_s"],
                                s.get("n", 1), ci, fast["test_accuracy"])))
            best = max(ok, key=lambda t: t["test_accuracy"])
            out.append(Card(own("Most accurate training"), run_label(best, r),
                            fmt("test accuracy {:.4f}", best["test_accuracy"])))
        small = self.highlights.get("smallest")
        if small:
            a = small.raw
            out.append(Card(own("Smallest artifact within tolerance"), small.label,
                            fmt("{:.1f} KB on {}, accuracy {} ({} pt), agreement {:.2f}%", a["size_bytes"] / 1000,
                                a["runtime"], _f(a.get("test_accuracy"), ".4f", own("not labelled")),
                                _f(a["accuracy_change"] * 100 if a.get("accuracy_change") is not None else None,
                                   "+.2f"), a["top1_agreement"] * 100)))
        boards = r.get("boards") or []
        if boards and self.mcu_ok:
            board = min(boards, key=lambda b: (b["ram_kb"], b["flash_kb"]))
            fits = [(a, f) for a in self.mcu_ok for f in a["microcontroller"]["fit"]
                    if f["board"] == board["name"] and f["fits"]]
            if fits:
                a, f = max(fits, key=lambda af: (af[0]["microcontroller"]["test_accuracy"] or 0, af[1]["ram_headroom_kb"]))
                m = a["microcontroller"]
                out.append(Card(fmt("Best fit for the smallest board ({})", board["name"]), artifact_label(a),
                                fmt("TFLite Micro accuracy {}; arena {:,} B, flash {:.0f} KB; headroom {:.0f} KB "
                                    "flash / {:.1f} KB RAM", _f(m.get("test_accuracy"), ".4f"), m["arena_bytes"],
                                    m["flash_bytes"] / 1024, f["flash_headroom_kb"], f["ram_headroom_kb"])))
            else:
                out.append(Card(fmt("Smallest board ({})", board["name"]), own("nothing fits"),
                                fmt("{:g} KB flash, {:g} KB RAM", board["flash_kb"], board["ram_kb"])))
        return out

    @cached_property
    def machine(self) -> Text:
        env = self.r.get("environment", {})
        return fmt("{}, {} cores", env.get("cpu_model", ""), env.get("usable_cores", "?"))
