"""The reports' words: what the CLI summary, report.md, report.html and the plots show, as display
text (report/text.py) built from the figures of report/figures.py. Each figure is computed there
once and worded here once. Results are read through the typed models of results/schema.py; only
the measurement records typed `Json` there (a latency summary, a tolerance, a board fit) are
plain dicts, read as such.

Runtimes are named by their registry display name, never by a name written here: the host
runtime's results fill the deployment matrix, and every microcontroller runtime that ran gets a
section of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from edgebench import registry
from edgebench.models.layers import TYPES as _LAYER_TYPES
from edgebench.registry import framework_colour, framework_title
from edgebench.report import figures as F
from edgebench.report.escape import ELLIPSIS
from edgebench.report.text import (DASH, NOTHING, Message, Part, Text, ci_text, fmt, join, key, message, mib,
                                   num, own, plural, spread_text, strong, text)
from edgebench.results.schema import Artifact, RunResults, RuntimeResult

__all__ = ["Text", "Part", "Message", "fmt", "join", "key", "message", "own", "strong", "text", "DASH", "build",
           "ReportView", "ArtifactView", "title", "colour", "run_label", "artifact_label", "runtime_title"]

HISTORY_COLUMNS = F.HISTORY_COLUMNS

# ---- labels ----------------------------------------------------------------------------------------


def title(fw: Any) -> Text:
    """A framework's display name (its registry title; an unknown name as written)."""
    return text(framework_title(fw))


def colour(fw: Any) -> str:
    return framework_colour(fw)


def runtime_title(name: str) -> Text:
    """A runtime's display name (its registry title; one no longer registered: its name)."""
    rt = registry.runtimes().get(name)
    return text(rt.display if rt else name)


def run_label(t: Any, r: RunResults) -> Text:
    """A training's row name (t: a Training or a figures.Side): the framework, plus its mode when
    the run is not eager-only."""
    name = title(t.framework)
    return name if r.config.get("modes", ["eager"]) == ["eager"] else fmt("{} ({})", name, t.mode)


def artifact_label(a: Artifact) -> Text:
    return fmt("{} -> {} {}", title(a.framework), a.format, a.precision)


def granularity(a: Artifact) -> str | None:
    """How an artifact's int8 weights are scaled, read from its graph when it was verified."""
    return (a.weight_quantization or {}).get("granularity")


def _weights(a: Artifact) -> Text:
    """' (per-channel)' after an int8 artifact's name, unless its precision already says it."""
    g = granularity(a)
    return own(f" ({g})") if g and g not in a.precision else NOTHING


def _agreement(res: RuntimeResult) -> Text:
    """Top-1 agreement, or for outputs that are not class scores the error's p99 (and in output steps)."""
    if res.task != "regression":
        return fmt("{:.2f}%", res.agreement * 100)
    d = res.error_distribution or {}
    steps = res.error_steps_distribution or {}
    return fmt("n/a (values: p99 error {}{})", num(d.get("p99"), ".3g"),
               fmt(", {} steps", num(steps.get("p99"), ".3g")) if steps else NOTHING)


# ---- the pieces of a view ------------------------------------------------------------------------

Row = list  # table cells: Text (or any value, shown as text)


@dataclass
class Header:
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
    fig: F.ArtifactFigures  # its figures: checked (verified), within_tolerance, the host runtime's result
    status: Any
    error: Any
    label: Text  # "TensorFlow -> tflite float32"
    source: Text  # the framework's title
    kind: Text  # "tflite float32", "onnx int8-static (per-channel)"
    runtime: Any
    weights: Text  # " (per-channel)", " (per-tensor)", " (mixed)": how int8 weights are scaled; "" otherwise
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
        if not self.fig.checked:
            return strong(self.status)
        return own("yes") if self.fig.within_tolerance else strong(own("NO"))


def artifact_view(x: F.ArtifactFigures) -> ArtifactView:
    a, res, lat = x.artifact, x.host, x.latency_ms
    p50 = lat.get("p50")
    weights = _weights(a)
    return ArtifactView(
        fig=x, status=x.status, error=x.error, label=artifact_label(a), source=title(a.framework),
        kind=fmt("{} {}{}", a.format, a.precision, weights), runtime=a.runtime, weights=weights,
        size_kb=num(x.size_kb, ".1f"), bytes_per_param=num(x.bytes_per_param, ".2f"),
        accuracy=num(res and res.test_accuracy, ".4f"),
        change_pt=num(res.accuracy_change * 100 if res and res.accuracy_change is not None else None, "+.2f"),
        agreement=_agreement(res) if res else DASH, max_abs_diff=num(res and res.max_abs_diff, ".2e"),
        p50_ms=num(p50, ".4f"), p99_ms=num(lat.get("p99"), ".4f"), p50_us=num(p50 and p50 * 1000, ".1f"),
        throughput=num(x.throughput, ",.0f"), peak_rss_mib=mib(res.peak_rss_bytes) if res else DASH)


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
    process: Text = ""  # which processes the repeats ran in


@dataclass
class Twin:
    status: Any
    reason: Any
    intro: Text | None
    rows: list[Row]
    pairs: list[Text]


@dataclass
class FirmwareArtifact:
    """One artifact of the generated firmware: how it was checked, and its builds."""

    label: Text
    check: Text  # the verification line, or why it did not run
    rows: list[Row]  # a row per board and optimization level


@dataclass
class Firmware:
    """The generated firmware's part of its section: builds per board, the plan, the estimate."""

    intro: Text
    header: list[Text]
    artifacts: list[FirmwareArtifact]
    plan_header: list[Text]
    plan_rows: list[Row]
    note: Text  # latency is an estimate; how instructions are counted
    cpi: list[Text]  # per core: its cycles-per-instruction range and where it comes from
    chart: Text | None  # the caption of the per-layer chart, in the section of the runtime it shows
    folders: Text
    reference: Text  # the microcontroller runtime the plan and flash are set beside


@dataclass
class Mcu:
    """One microcontroller runtime's section."""

    title: Text  # the runtime's display name
    intro: Text
    header: list[Text]
    rows: list[Row]
    board_headers: list[Text]  # empty: no fit table
    fit_rows: list[Row]
    boards_note: Any  # what the fit estimate leaves out; None: the fit is that of linked firmware
    board_sources: Text
    c_arrays: Text
    fit_heading: Text = NOTHING  # what the fit is: an estimate, or linked firmware
    fit_note: Text = NOTHING  # the sentence over the fit table
    firmware: Firmware | None = None  # the generated firmware's builds, where the runtime linked any


@dataclass
class Card:
    title: Text
    value: Text
    detail: Text


# ---- header and training -----------------------------------------------------------------------

def header(r: RunResults) -> Header:
    """The two lines under the title."""
    folder = str(r.config.get("out") or "").rstrip("/").rsplit("/", 1)[-1]
    run = fmt("Run status: {} · created {} · edgebench {}", strong(r.status), r.created_at, r.edgebench_version)
    if folder:
        run = fmt("{} · run folder {}", run, folder)
    return Header(run, _deployed(r) if r.is_deploy else _network(r))


def _deployed(r: RunResults) -> Text:
    src, m, ds = r.source, r.model, r.dataset
    inp = m.get("input", {})
    labels = NOTHING if ds.get("labels", True) else own(", no labels: agreement only")
    return fmt("Deployed {} ({}): input {} {}, {} outputs, {:,} parameters, {} weighted layers (largest fan-in {}); "
               "dataset {} ({} test images{}), {} calibration images.", src.file, src.kind_title, inp.get("shape"),
               inp.get("layout"), m.get("num_classes"), m.get("parameter_count") or 0, m.get("weighted_layers"),
               m.get("max_fan_in"), ds.get("name"), ds.get("test_samples"), labels,
               r.fairness.get("calibration", {}).get("samples"))


def _network(r: RunResults) -> Text:
    cfg, m, ds = r.config, r.model, r.dataset
    opt = cfg["optimizer"]
    if cfg["model"].get("name", "mlp") == "mlp":
        hidden = join(" -> ", (fmt("{} ReLU", h) for h in cfg["model"]["hidden"]))
        model = fmt("Network {} -> {} -> {} logits ({:,} parameters)", cfg["model"]["input_size"], hidden,
                    cfg["model"]["num_classes"], m["parameter_count"])
    else:
        model = fmt("Model {} ({} layers, input {}, {:,} parameters, {:,} MACs per image)", m.get("name"),
                    len(m.get("layers", [])), "x".join(str(d) for d in m.get("input_shape", [])),
                    m["parameter_count"], m["macs_per_sample"])
    return fmt("{}, {} (lr {:g}), batch {}, {} epochs, dataset {} ({} train / {} test), {} threads, seed {}.",
               model, opt["name"].capitalize(), opt["learning_rate"], cfg["batch_size"], cfg["epochs"],
               ds.get("name"), ds.get("train_samples"), ds.get("test_samples"), cfg["threads"], cfg["seed"])


def generated(r: RunResults, fig: F.Figures) -> Text | None:
    """deploy --dataset none: how the inputs were made, and what that means for the figures."""
    g = r.dataset.get("generated")
    if not g:
        return None
    pairs = join("", (fmt(", and between {} and {}", join(" / ", map(runtime_title, mc.references)),
                          runtime_title(mc.runtime)) for mc in fig.microcontrollers))
    return fmt("No data set: {} inputs generated in the model's input shape {}, uniform in [{:.4g}, {:.4g}] ({}), "
               "from seed {}, kept in {}. Accuracy is not reported; agreement between the source and each "
               "artifact{}, is. Static int8 exports are calibrated on these generated inputs: a real calibration "
               "set gives better int8 models.", g["samples"], tuple(g["shape"]), g["low"], g["high"],
               g["range_from"], g["seed"], g.get("file"), pairs)


def table1(r: RunResults) -> list[Row]:
    """Framework | Training Time (s) | 95% CI | Median (range) | Test Accuracy."""
    rows = []
    for t in r.trainings:
        if t.status != "ok":
            rows.append([run_label(t, r), DASH, DASH, DASH, fmt("- ({})", t.status)])
            continue
        tt = t.timing.train_time_s if t.timing else {}
        ci = (fmt("[{:.2f}, {:.2f}] (n={})", tt["ci_low"], tt["ci_high"], tt["n"])
              if tt.get("ci_low") is not None else fmt("single run (n={})", tt.get("n", 1)))
        rows.append([run_label(t, r), fmt("{:.2f}", t.train_time_s), ci, spread_text(tt),
                     fmt("{:.4f}", t.test_accuracy)])
    return rows


def source_rows(r: RunResults) -> list[Row]:
    """deploy: the source model on the test set, in its own framework."""
    src = r.source
    if src is None:
        return []
    if src.status != "ok":
        return [[src.file, src.kind_title, DASH, DASH, DASH, fmt("{}: {}", src.status, src.error or "")]]
    versions = join(", ", (fmt("{} {}", key(k), v) for k, v in src.versions.items()))
    return [[src.file, src.kind_title, num(src.test_accuracy, ".4f", own("no labels")), num(src.load_time_s, ".2f"),
             num(src.predict_time_s, ".2f"), versions]]


def repeat1(r: RunResults, fig: F.Figures) -> list[Row]:
    """Test loss, peak RSS and epoch times of the run each framework exported."""
    return [[run_label(t, r), fmt("{:.4f}", t.test_loss), mib(t.peak_rss_bytes), fmt("{:.2f}", t.epochs[0].time_s),
             num(F.later_epochs_mean_s(t), ".2f")] for t in fig.ok_trainings]


def history_header(fig: F.Figures) -> list[str]:
    epochs = fig.history_epochs
    cols = [f"Epoch {e}" if i == 0 else str(e) for i, e in enumerate(epochs)]
    if len(epochs) == HISTORY_COLUMNS and max(epochs, default=0) > HISTORY_COLUMNS:
        cols.insert(HISTORY_COLUMNS // 2, ELLIPSIS)
    return ["Framework", "Figure", *cols]


def history(r: RunResults, fig: F.Figures, width: int) -> list[Row]:
    """Compact: a row per framework and figure (loss, accuracy, time), a column per epoch; beyond
    HISTORY_COLUMNS epochs, the first and the last ones with an ellipsis between."""
    out = []
    shown = set(fig.history_epochs)
    for t in fig.ok_trainings:
        epochs = [e for e in t.epochs if e.epoch in shown]
        for i, (what, field, spec) in enumerate((("loss", "loss", ".4f"), ("accuracy", "accuracy", ".4f"),
                                                 ("time (s)", "time_s", ".2f"))):
            cells = [fmt("{:" + spec + "}", getattr(e, field)) for e in epochs]
            if len(cells) < width - 2:
                cells.insert(HISTORY_COLUMNS // 2, own(ELLIPSIS))
            out.append([run_label(t, r) if i == 0 else NOTHING, own(what), *cells])
    return out


def time_note(r: RunResults) -> Text:
    """How the training times are summarised (runs before the geometric mean: the mean)."""
    t = next((t for t in r.trainings if t.timing), None)
    if t is None or t.timing.train_time_s.get("geomean") is None:
        return own("mean [95% confidence interval, Student t] over the repeats")
    warm = r.config.get("warmup") or 0
    return fmt("geometric mean [95% confidence interval, Student t on log times: positive, as times are] over "
               "the counted repeats{}, with the median and range beside it",
               fmt(" ({} warm-up training{} per framework ran first, recorded, not counted)", warm, plural(warm))
               if warm else NOTHING)


def comparison_sentence(c: F.Comparison, r: RunResults) -> Text:
    a, b, rec = run_label(c.a, r), run_label(c.b, r), c.record
    faster, slower = run_label(c.faster, r), run_label(c.slower, r)
    if c.is_ratio:
        if c.by is None:
            return fmt("{} vs {}: no ratio (a time was missing).", a, b)
        if c.low is None:
            return fmt("{} vs {}: {:.2f}x apart; one run each, so no confidence interval.", a, b, c.by)
        if rec["significant"]:
            return fmt("{} is {:.2f}x as fast as {} (its time {:.1%} of theirs), 95% CI [{:.2f}x, {:.2f}x] (ratio "
                       "of geometric means, Welch t on log times, p = {:.3g}).", faster, c.by, slower, 1 / c.by,
                       c.low, c.high, rec["p_value"])
        return fmt("{} vs {}: no significant difference (ratio {:.2f}, 95% CI [{:.2f}, {:.2f}], Welch t on log "
                   "times, p = {:.2g}).", a, b, rec["ratio"], rec["ci_low"], rec["ci_high"], rec["p_value"])
    if c.low is None:
        return fmt("{} vs {}: {:.2f} s apart; one run each, so no confidence interval.", a, b, c.by)
    if rec["significant"]:
        return fmt("{} is faster than {} by {:.2f} s, 95% CI [{:.2f}, {:.2f}] (Welch t, p = {:.3g}).", faster,
                   slower, c.by, c.low, c.high, rec["p_value"])
    return fmt("{} vs {}: no significant difference ({:+.2f} s, 95% CI [{:.2f}, {:.2f}], p = {:.2g}).", a, b,
               rec["diff"], rec["ci_low"], rec["ci_high"], rec["p_value"])


# ---- how fast ------------------------------------------------------------------------------------

def speed(r: RunResults, fig: F.Figures, comparisons: list[Text]) -> Speed | None:
    limit = fig.speed_limit
    if limit is None:
        return None
    rows, efficiency = [], []
    for t in fig.timed_trainings:
        tm = t.timing
        eff, acc = tm.efficiency, tm.test_accuracy
        rows.append([run_label(t, r), ci_text(tm.train_time_s), ci_text(tm.first_epoch_s),
                     ci_text(tm.first_epoch_excess_s), ci_text(tm.steady_epoch_s, ".3f"),
                     fmt("{:.4f}", acc["mean"]) if acc["identical"] else
                     fmt("{:.4f} ({:.4f}-{:.4f})", acc["mean"], acc["min"], acc["max"])])
        efficiency.append([run_label(t, r), fmt("{:.1f}", eff["gflops"]), fmt("{:.1f}%", eff["fraction_of_peak"] * 100),
                           fmt("{:.0f}", eff["overhead_per_step_us"]),
                           fmt("{:.1f}x / {:.1f}x", tm.steady_vs_flop_bound, tm.steady_vs_step_gemm_bound)
                           if tm.steady_vs_step_gemm_bound else DASH, mib(tm.peak_rss_bytes)])
    warm = r.config.get("warmup") or 0
    repeats = r.config.get("repeats", 1)
    return Speed(repeats=fmt("{} (after {} warm-up training{} each, not counted)", repeats, warm, plural(warm))
                 if warm else repeats, rows=rows, efficiency=efficiency, comparisons=comparisons,
                 slow=slow_sentences(r, fig), determinism=determinism_sentence(r, fig),
                 limit=limit_paragraph(r, limit), process=process_phrase(r))


def process_phrase(r: RunResults) -> Text:
    """Which processes a run's repeats ran in (runs before long-lived workers: a fresh one each)."""
    if r.workers is None or not r.workers.get("persistent"):
        return own("each in a fresh process")
    return own("all in one long-lived worker process per framework (the warm-ups first, in that same process, so "
               "the counted repeats are warm; repeats in one process share its allocator and caches, so they are "
               "not independent samples of a cold start: --fresh-process-per-repeat gives one process each)")


def determinism_sentence(r: RunResults, fig: F.Figures) -> Text | None:
    d = fig.determinism
    if d is None:
        return None
    out = own("Determinism: final weights ")
    if d.same:
        out = fmt("{}bit-identical across the repeats for {}", out, join(", ", (run_label(t, r) for t in d.same)))
    if d.differ:
        out = fmt("{}{}not bit-identical for {} (thread scheduling changes float summation order)", out,
                  own("; " if d.same else ""), join(", ", (run_label(t, r) for t in d.differ)))
    return fmt("{}. Same seed, data, thread count and machine; another thread count or CPU changes the summation "
               "order, and then results are close, not identical.", out)


def limit_paragraph(r: RunResults, s: F.SpeedLimit) -> Text:
    sl = s.record
    peak, f = sl["gemm_peak"], sl["train_flops_per_sample"]
    limit = fmt("The speed limit: this machine's float32 GEMM peak is {} with {} thread(s) ({}; {}).{} "
                "Training costs {:,} matrix FLOPs per image (forward {:,}, weight gradients {:,}, input "
                "gradients {:,}; bias, activation and optimizer work left out), {:.2f} GFLOP per epoch: at "
                "peak, the {}-epoch run would take {}. Overhead per step = (steady epoch time - FLOP-bound "
                "epoch time) / {} steps.",
                strong(fmt("{:.1f} GFLOP/s", peak["gflops"])), peak["threads"], peak["method"],
                peak.get("library") or join(", ", (fmt("BLAS: {} {} {}", b["api"], b["version"], b["architecture"])
                                                   for b in peak["blas"])),
                _peak_context(peak), f["total"], f["forward"], f["weight_grad"], f["input_grad"],
                sl["train_flops_per_epoch"] / 1e9, s.epochs, strong(fmt("{:.2f} s", s.bound_s)), sl["steps_per_epoch"])
    best = run_label(s.fastest, r)
    if not s.peak_is_bound:
        limit = fmt("{} That is no bound here: {} trained faster ({:.3f} s an epoch against {:.3f} s at this peak), "
                    "so the peak measured is below what the machine reaches.", limit, best, s.fastest_epoch_s,
                    s.bound_epoch_s)
    step = sl.get("step_gemm")
    if not step:
        return limit
    limit = fmt("{} A step's own matrix multiplies are small (batch {}): timed at their real shapes ({}) they run "
                "at {:.1f} GFLOP/s, {:.0f} us a step, {} an epoch, against {:.3f} s at peak.", limit, step["batch"],
                step["method"], step["gflops"], step["step_s"] * 1e6, strong(fmt("{:.3f} s", s.step_epoch_s)),
                s.bound_epoch_s)
    if not s.step_is_bound:
        limit = fmt("{} That is no bound either: {} took {:.3f} s an epoch, less than the step's GEMMs alone with "
                    "this BLAS (its own kernels or threads do better on these shapes).", limit, best, s.fastest_epoch_s)
    else:
        limit = fmt("{} So no epoch can beat it with this BLAS (the step-GEMM bound).", limit)
    tm = s.fastest.timing
    if tm.steady_vs_flop_bound and s.fastest_epoch_s:
        limit = fmt("{} Fastest steady state: {}, {:.3f} s an epoch, {:.1f}x the FLOP figure and {:.1f}x the "
                    "step-GEMM figure.", limit, best, s.fastest_epoch_s, tm.steady_vs_flop_bound,
                    tm.steady_vs_step_gemm_bound)
    return limit


def _peak_context(peak: dict) -> Text:
    """Which candidates were measured, the theoretical peak, and what the environment forced."""
    out = NOTHING
    cands = peak.get("candidates") or []
    if len(cands) > 1:
        out = fmt(" The best of: {}.", join("; ", (fmt("{} {:.1f} GFLOP/s", c["library"], c["gflops"]) for c in cands)))
    th = peak.get("theoretical")
    if th:
        out = fmt("{} Theoretical peak {:.1f} GFLOP/s ({}; clock from {}){}; the bounds below use the measured "
                  "peak.", out, th["gflops"], th["formula"], th["frequency_source"],
                  own(", below the measured rate: the cores ran faster than the clock read (turbo)")
                  if th["gflops"] < peak["gflops"] else NOTHING)
    unset = (peak.get("environment") or {}).get("unset_for_this_measurement") or {}
    if unset:
        out = fmt("{} Measured with {} unset (they are set in this environment and force an older OpenBLAS "
                  "kernel).", out, join(", ", (fmt("{}={}", k, v) for k, v in unset.items())))
    if peak.get("child_error"):
        out = fmt("{} (Measured in the run's own process: the measuring child failed: {}.)", out, peak["child_error"])
    return out


def slow_sentences(r: RunResults, fig: F.Figures) -> list[Text]:
    """Repeats far from the others, and trainings whose times vary widely, named with what that means."""
    out = []
    for t in fig.timed_trainings:
        tm = t.timing
        for o in tm.slow_repeats:
            out.append(fmt("{} repeat {} took {:.2f} s, {:.1f}x the median of the others ({:.2f} s): {}. It is "
                           "counted in the geometric mean and its interval; the median ({:.2f} s) barely moves "
                           "with it.", run_label(t, r), o["repeat"], o["value"], o["ratio"], o["median_of_others"],
                           own("the machine was probably busy with something else, or caches were cold (rerun, "
                               "or add --warmup)"), tm.train_time_s.get("median") or 0.0))
        st = tm.stability or {}
        if st.get("unstable"):
            busy = st.get("busy_left_out") or 0
            out.append(fmt("{}'s training times vary by {:.0f}% over {} {}repeats (coefficient of variation, above "
                           "{:.0f}%): the interval above is wide. At this spread, about {} repeats (--repeats) "
                           "would bring the 95% interval within +-{:.0f}% of the geometric mean{}.",
                           run_label(t, r), st["cv"] * 100, st["n"], own("quiet ") if busy else NOTHING,
                           st["cv_threshold"] * 100, st["repeats_for_5pct"] or own("many"),
                           st["target_half_width"] * 100,
                           fmt(" ({} repeat{} timed on a busy machine left out of this advice)", busy, plural(busy))
                           if busy else NOTHING))
        for x in tm.rerun_repeats:
            out.append(fmt("{} repeat {} (attempt {}, {:.2f} s) was {}.", run_label(t, r), x["repeat"],
                           x["attempt"], x["train_time_s"] or 0.0, x["why"]))
    return out


def twin(r: RunResults) -> Twin | None:
    tw = r.twin
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
        pairs.append(fmt("{}: the frameworks' own float32 test logits differ by at most {:.2e} at the end.", name,
                         p["end_framework_logits_max_abs_diff"]))
    return Twin(status=tw["status"], reason=None, intro=intro, rows=rows, pairs=pairs)


def load_notes(r: RunResults) -> list[Text]:
    """Every timed section measured while other processes were busy, named with its figure, and
    whether the statistics include it; or one line saying the machine stayed quiet."""
    load = r.load
    if load is None:
        return []
    flagged = load.flagged
    if not flagged:
        n = (r.overlap or {}).get("timed_sections")
        return [fmt("Machine load: every timed section was watched{}; in none did other processes use more than "
                    "{:.2f} of a core on average.", fmt(" ({})", n) if n else NOTHING, load.threshold_cores)]
    reruns = sum(len(t.timing.rerun_repeats) for t in r.trainings if t.timing)
    out = [fmt("Machine load: {} timed section{} ran while other processes used more than {:.2f} of a core on "
               "average (figures marked busy below). {}They are included in the statistics; rerun on a quieter "
               "machine, or with --require-quiet SECONDS to wait for one.", len(flagged), plural(len(flagged)),
               load.threshold_cores,
               fmt("{} busy training repeat{} ran again (--rerun-busy {}); the busy attempts are kept in "
                   "results.json, not counted. The others: ", reruns, plural(reruns), r.config.get("rerun_busy"))
               if reruns else NOTHING)]
    for f in flagged:
        out.append(fmt("busy: {} ({}): other processes used {:.2f} cores on average{}.", f["where"], f["what"],
                       f["outside_cores"], fmt(", load average {:.1f}", f["loadavg"])
                       if f.get("loadavg") is not None else NOTHING))
    return out


def worker_notes(r: RunResults) -> list[Text]:
    """Each long-lived worker that died, what it cost, and how the run went on."""
    w = r.workers or {}
    rewarm = {x["key"]: x for x in w.get("rewarm", [])}
    out = []
    for p in w.get("deaths", []):
        how, _, task = p["ended"].partition(" during ")
        warm = rewarm.get(p["key"]) if p["key"].startswith("train:") else None
        out.append(fmt("A worker died: {} (pid {}) {}{}; {} recorded as failed, and the run went on in a fresh "
                       "worker{}.", p["key"], p["pid"], how, fmt(" during {}", task) if task else NOTHING,
                       own("that task is") if task else own("nothing was lost; nothing"),
                       fmt(", warmed up first with {} untimed training{}", len(warm["train_time_s"]),
                           plural(len(warm["train_time_s"]))) if warm else NOTHING))
    return out


# ---- deployment ------------------------------------------------------------------------------------

def deployment(r: RunResults, fig: F.Figures, views: list[ArtifactView],
               highlights: dict[str, ArtifactView]) -> Deployment | None:
    """The deployment matrix with what follows it; None without exports."""
    if not r.artifacts:
        return None
    inf = r.fairness.get("inference", {})
    intro = None
    if inf:
        whose = (own("the source model's own logits (run in its own framework)") if r.is_deploy
                 else own("the logits of the framework that produced it"))
        intro = fmt("Every artifact runs on its own runtime over all {} test images and is compared with {}. "
                    "Latency: {}, {} inference thread(s). Throughput: {}.", r.dataset["test_samples"], whose,
                    inf["latency"], inf["threads"], inf["throughput"])
    rows = [[fmt("{}{}", v.label, v.weights), v.runtime, v.size_kb, v.bytes_per_param, v.accuracy, v.change_pt,
             v.agreement, v.max_abs_diff, v.p50_ms, v.p99_ms, v.throughput, v.peak_rss_mib, v.verdict] for v in views]
    failures = [Failure(v.label, v.status, v.error) for v in views if v.status != "ok"]
    # Which criterion an artifact out of tolerance failed (runs before issue 27 did not record it).
    failures += [Failure(v.label, own("out of tolerance"), "; ".join(v.fig.tolerance_failures)
                         or own("see the figures above"))
                 for v in views if v.fig.checked and v.fig.within_tolerance is False]
    tolerances = [[k, _diff_bound(t), fmt("{:g}%", t["min_agreement"] * 100), fmt("{:g}", t["max_accuracy_drop"] * 100),
                   t.get("reason", "")] for k, t in fig.tolerances.items()]
    cost, cost_rows = model_cost(r, fig)
    layer_rows = [[row["name"], own(row["type"]) if row["type"] in _LAYER_TYPES else row["type"],
                   "x".join(str(d) for d in row["output_shape"]), fmt("{:,}", row["parameters"]),
                   fmt("{:,}", row["macs"]), fmt("{:.1%}", row["macs_share"])] for row in fig.layer_table]
    return Deployment(intro=intro, rows=rows, highlights={k: _highlight(k, v) for k, v in highlights.items()},
                      failures=failures, tolerances=tolerances, model_cost=cost, model_cost_rows=cost_rows,
                      layer_rows=layer_rows)


def _highlight(name: str, v: ArtifactView) -> Text:
    if name == "fastest":
        return fmt("{} on {} ({} us)", v.label, v.runtime, v.p50_us)
    res, size = v.fig.host, v.fig.size_kb
    if res.test_accuracy is not None:
        return fmt("{} (accuracy {:.4f}, {:.1f} KB)", v.label, res.test_accuracy, size)
    if res.error_distribution:
        return fmt("{} (p99 error {:.3g}, {:.1f} KB)", v.label, res.error_distribution["p99"], size)
    return fmt("{} (agreement {:.2%}, {:.1f} KB)", v.label, res.agreement, size)


def _diff_bound(t: dict) -> Text:
    if t.get("max_abs_diff") is not None:
        return fmt("{:g}", t["max_abs_diff"])
    if t.get("percentile"):
        return fmt("{:g}% of logit range (p{:g} of the per-image largest)", t["max_diff_of_range"] * 100,
                   t["percentile"])
    return fmt("{:g}% of logit range", t["max_diff_of_range"] * 100)


def model_cost(r: RunResults, fig: F.Figures) -> tuple[Text | None, list[Row]]:
    """The sentence over the model-cost table, and its rows: each exported graph's own counts."""
    m = r.model
    if r.is_deploy:
        cost = fmt("{:,} parameters read off the source model; each exported graph's own count:",
                   m.get("parameter_count") or 0)
    elif m:
        deployed = m.get("deployed_parameter_count", m["parameter_count"])
        cost = fmt("{:,} parameters and {:,} multiply-accumulates per inference, computed from the layer sizes "
                   "and checked against each exported graph:", m["parameter_count"], m["macs_per_sample"])
        if deployed != m["parameter_count"]:
            cost = fmt("{} {:,} parameters once BatchNorm is folded into the layers before it, as converters do:",
                       cost, deployed)
    else:
        return None, []
    rows = []
    for a, g, matches in fig.graph_checks:
        if g:
            verdict = DASH if matches is None else own("yes") if matches else strong(own("NO"))
            rows.append([artifact_label(a), fmt("{:,}", g["parameters"]), fmt("{:,}", g["macs_per_sample"]), verdict])
        else:
            rows.append([artifact_label(a), DASH, DASH,
                         message(a.graph_error) if a.graph_error else own("not inspectable")])
    return cost, rows


# ---- microcontroller runtimes ----------------------------------------------------------------------

def microcontroller(mc: F.Microcontroller, r: RunResults, chart: F.Build | None = None) -> Mcu:
    name, ref = runtime_title(mc.runtime), join(" / ", map(runtime_title, mc.references))
    reported = mc.has("arena_reported_bytes")  # a runtime that prints the RAM it allocated: a column of its own
    header = [own("Artifact"), name, fmt("Accuracy (change vs {}, pt)", ref), fmt("Agreement with {}", ref),
              own("RAM (bytes)"), *([fmt("RAM reported by {}", name)] if reported else []),
              own("Input / output bytes"), own("Flash: model bytes")]
    rows = []
    for a, res in mc.ran:
        if res.status != "ok":
            rows.append([artifact_label(a), message(fmt("{}: {}", res.status, res.error or "")),
                         *[DASH] * (len(header) - 2)])
        else:
            rows.append(_mcu_row(a, res, name, ref, reported))
    headers, fit_rows, sources, dirs = [], [], NOTHING, NOTHING
    if mc.ok and r.boards:
        fit_rows = [[artifact_label(a), *map(_fit_cell, res.fit)] for a, res in mc.ok]
        headers = [fmt("{}: {:g} KB flash, {:g} KB RAM", b["name"], b["flash_kb"], b["ram_kb"]) for b in r.boards]
        sources = join("; ", (fmt("{}: {}", b["name"], b["source"]) for b in r.boards))
        dirs = join(", ", (fmt("{}/", res.details["c_array"]["dir"]) for _, res in mc.ok if "c_array" in res.details))
    linked = mc.linked_fit
    return Mcu(title=name, intro=_mcu_intro(mc, name, ref), header=header, rows=rows, board_headers=headers,
               fit_rows=fit_rows, boards_note=None if linked else r.boards_note or "", board_sources=sources,
               c_arrays=dirs, fit_heading=own("linked firmware") if linked else
               own("an estimate: model + arena, the runtime's code left out"),
               fit_note=own(FIT_LINKED if linked else FIT_ESTIMATE),
               firmware=firmware(mc, r, chart) if mc.firmware else None)


FIT_ESTIMATE = ("Fit = model bytes in flash and the RAM figure above in RAM, an estimate that leaves out the "
                "runtime's own code; each cell gives the headroom left in KB (flash / RAM).")
FIT_LINKED = ("Fit = the linked firmware of the build a board ships (-Os): flash is .text + .rodata + .data of the "
              "ELF, RAM is .data + .bss + the stack's peak measured on the emulated core; each cell gives the headroom "
              "left in KB (flash / RAM).")


def _fit_cell(f: dict) -> Text:
    """A board's fit: fits or no with the headroom (flash / RAM, KB); a board it could not be built
    for says why (no Arm core, a link that overflowed)."""
    if f["fits"] is None:
        return message(f.get("reason") or own("not built"))
    verdict = own("fits") if f["fits"] else strong(own("no"))
    if f.get("flash_headroom_kb") is None or f.get("ram_headroom_kb") is None:
        return fmt("{}: {}", verdict, message(f.get("reason") or own("not linked"))) if f.get("reason") else verdict
    return fmt("{} ({:+.0f} / {:+.1f})", verdict, f["flash_headroom_kb"], f["ram_headroom_kb"])


# ---- generated firmware: per board and optimization level -----------------------------------------

def firmware(mc: F.Microcontroller, r: RunResults, chart: F.Build | None) -> Firmware:
    """The builds of each artifact on each board, the plan beside the reference runtime's arena, and
    what the instruction counts and latency estimates are."""
    ref = runtime_title(mc.reference) if mc.reference else own("the reference runtime")
    header = [own("Board (core, clock)"), own("Build"), own("Flash (KB, linked)"),
              own("RAM (KB: static + stack peak)"), own("Stack peak (bytes)"), own("Instructions per inference"),
              own("Instructions per MAC"), own("Latency at the board's clock (estimate)"),
              own("Fits (headroom KB flash / RAM)")]
    arts, plans, built = [], [], []
    for a, res in mc.ran:
        if res.status != "ok":
            arts.append(FirmwareArtifact(artifact_label(a), message(fmt("{}: {}", res.status, res.error or "")), []))
            continue
        rows = F.builds(r, a, res)
        built += [x for x in rows if x.ok]
        arts.append(FirmwareArtifact(artifact_label(a), _firmware_check(res, rows),
                                     [_build_row(x, len(header)) for x in rows]))
        plans.append(_plan_row(F.plan_figures(a, res, rows)))
    plan_header = [own("Artifact"), own("Generated plan RAM (bytes)"), fmt("{} arena (bytes)", ref),
                   fmt("Plan / {}", ref), own("Plan lower bound (bytes)"), own("Fused / in place"),
                   own("Model constants (bytes)"), fmt("{}: model bytes", ref),
                   own("Linked firmware flash (KB, smallest-largest build)")]
    shown = chart if chart is not None and chart.result.runtime == mc.runtime else None
    return Firmware(intro=own("Each artifact's generated C is linked for each board with a startup file and a linker "
                              "script sized to the board's flash and RAM (arm-none-eabi-gcc -mcpu=<core> -mthumb; -Os, "
                              "the build a board ships, and -O2), then run on the core's QEMU machine."),
                    header=header, artifacts=arts, plan_header=plan_header, plan_rows=plans,
                    note=_estimate_note(built), cpi=_cpi_sources(built), chart=shown and _chart_caption(shown),
                    folders=join(", ", dict.fromkeys(fmt("{}/", x.build["dir"].rsplit("/", 1)[0])
                                                     for x in built if x.build.get("dir"))), reference=ref)


def _firmware_check(res: RuntimeResult, rows: list[F.Build]) -> Text:
    """How the generated C was checked: against its reference on the host, then on the emulated cores."""
    e = res.details.get("exact") or {}
    ref = runtime_title(e["reference"]) if e.get("reference") else runtime_title(res.reference)
    if "differing_outputs" in e:
        n, of, inputs = e["differing_outputs"], e["outputs_compared"], e["inputs"]
        host = (fmt("bit-exact with {}: 0 of {:,} int8 outputs differ over {:,} inputs", ref, of, inputs) if n == 0 else
                fmt("{} from {}'s over {:,} inputs (on {:,} inputs, by at most {} step{})",
                    strong(fmt("{:,} of {:,} int8 outputs differ", n, of)), ref, inputs, e["inputs_with_difference"],
                    e["max_diff_steps"], plural(e["max_diff_steps"])))
    elif "max_abs_diff" in e:
        host = fmt("float: max abs diff {:.2e} against {} over {:,} inputs, tolerance {:.2e}: {}", e["max_abs_diff"],
                   ref, e["inputs"], e["tolerance"], own("within") if e["within"] else strong(own("BEYOND")))
    else:
        host = fmt("compared with {} (no exact count recorded)", ref)
    ok = [x for x in rows if x.ok]
    if not ok:
        return fmt("{}; no board build ran on an emulated core.", host)
    same = sum(bool(x.build.get("outputs_equal_host") or x.build.get("outputs_within_tolerance")) for x in ok)
    steady = sum(bool(x.build.get("repeat_identical")) for x in ok)
    close = [x.build["max_abs_diff_vs_host"] for x in ok if x.build.get("outputs_within_tolerance")
             and not x.build.get("outputs_equal_host")]
    how = fmt(" (float: within the float tolerance, largest difference {:.2g}: another libm and FPU)", max(close)) \
        if close else NOTHING
    return fmt("{} (host build). On the emulated cores: outputs equal the host build's{} in {}; the same instruction "
               "counts in a second run in {}.", host, how, _of(same, len(ok)), _of(steady, len(ok)))


def _of(n: int, total: int) -> Text:
    """'all 6 builds', or '4 of 6 builds' stressed."""
    return fmt("all {} build{}", total, plural(total)) if n == total else strong(fmt("{} of {} builds", n, total))


def _build_row(x: F.Build, width: int) -> Row:
    b = x.build
    core = b.get("core") or own("core not given")
    board = (fmt("{} ({}, {:g} MHz)", b["board"], core, b["clock_mhz"]) if b.get("clock_mhz")
             else fmt("{} ({})", b["board"], core))
    opts = join(", ", x.opts) if any(x.opts) else DASH
    if not x.ok:
        return [board, opts, message(fmt("{}: {}", b.get("status"), b.get("error") or "")), *[DASH] * (width - 3)]
    ram = (fmt("{:.1f} ({:.1f} + {:.1f})", b["ram_bytes"] / 1024, b["static_ram_bytes"] / 1024, b["stack_bytes"] / 1024)
           if b.get("ram_bytes") is not None and b.get("stack_bytes") is not None
           else num(b.get("static_ram_bytes") and b["static_ram_bytes"] / 1024, ".1f"))
    est = b.get("latency_estimate_ms")
    room = x.headroom_kb
    fits = DASH if room is None else fmt("{} ({:+.0f} / {:+.1f})", own("fits") if x.fits else strong(own("no")), *room)
    return [board, opts, num(b.get("flash_bytes") and b["flash_bytes"] / 1024, ".1f"), ram,
            num(b.get("stack_bytes"), ","), _instructions(b), num(b.get("instructions_per_mac"), ".2f"),
            fmt("est. {}-{} ms at {:g} MHz", _ms(est[0]), _ms(est[1]), b["clock_mhz"]) if est else DASH, fits]


def _instructions(b: dict) -> Text:
    """Instructions per inference (median over the inputs emulated), to the count's resolution; the
    range where inputs differ; whose count it is where another board's build of the core was run."""
    if b.get("instructions") is None:
        return DASH
    lo, hi = b.get("instructions_min"), b.get("instructions_max")
    notes = ([fmt("{:,}-{:,} over {} inputs", lo, hi, b.get("samples"))] if lo is not None and lo != hi else []) + \
        ([fmt("counted on {}", b["emulated_on"].split(" (")[0])] if b.get("emulated_on") else [])
    return fmt("{:,}{}{}", b["instructions"],
               fmt(" ±{}", b["instruction_resolution"]) if (b.get("instruction_resolution") or 1) > 1 else NOTHING,
               fmt(" ({})", join("; ", notes)) if notes else NOTHING)


def _ms(v: float) -> Text:
    return fmt("{:.2f}", v) if v < 10 else fmt("{:.1f}", v) if v < 100 else fmt("{:,.0f}", v)


def _plan_row(p: F.PlanFigures) -> Row:
    plan, ref = p.plan, p.reference
    tflm = plan.get("tflm_arena_bytes")
    return [artifact_label(p.artifact), num(plan.get("arena_bytes"), ","), num(tflm, ","),
            DASH if plan.get("ratio_to_tflm") is None else fmt("{:.2f}x", plan["ratio_to_tflm"]),
            num(plan.get("lower_bound_bytes"), ","),
            fmt("{} / {}", len(plan.get("fused") or []), len(plan.get("in_place") or [])) if plan else DASH,
            num(p.constant_bytes, ","), num(ref and ref.flash_bytes, ","),
            DASH if p.linked_flash is None else fmt("{:.1f}-{:.1f}", *(b / 1024 for b in p.linked_flash))]


def _estimate_note(built: list[F.Build]) -> Text:
    steps = sorted({x.build["instruction_resolution"] for x in built if x.build.get("instruction_resolution")})
    counting = next((x.build["counting"] for x in built if x.build.get("counting")), None)
    if counting:  # how the run counted, as it recorded it
        resolution = fmt(" ({})", counting)
    elif steps and steps != [1]:
        resolution = fmt(" to {} instructions (the timer ticks once every {} instructions)", join(" or ", steps),
                         join(" or ", steps))
    else:
        resolution = NOTHING
    return fmt("{}: instructions x the core's cycles-per-instruction range / the board's clock. Instructions are exact "
               "counts from QEMU's -icount{}, per inference and per layer, the same in every run; QEMU models no "
               "pipeline, caches or flash wait states, so cycles are not measured. Instructions per MAC: per "
               "inference over the model's multiply-accumulates (a Cortex-M4's dual 16-bit MAC sets the floor at "
               "0.5).", strong(own("Latency is an ESTIMATE, not a measurement")), resolution)


def _cpi_sources(built: list[F.Build]) -> list[Text]:
    """Each core's cycles-per-instruction range with its source, as the run quoted it."""
    seen = {}
    for x in built:
        b = x.build
        if b.get("cpi_source"):
            seen.setdefault((b.get("core"), b["cpi_source"]), None)
    return [fmt("{}: {}", core or own("core not given"), source) for core, source in seen]


def _chart_caption(x: F.Build) -> Text:
    b = x.build
    return fmt("Instructions per layer of {} on {} ({}, {}), with instructions per MAC beside each bar:",
               artifact_label(x.artifact), b["board"], b.get("core"), join(", ", x.opts))


def _mcu_intro(mc: F.Microcontroller, name: Text, ref: Text) -> Text:
    files = join(", ", (fmt(".{}", f) for f in mc.formats))
    if mc.firmware:
        return fmt("Each {} artifact is compiled into plain C99 by {}: one kernel call per op in graph order, weights "
                   "and quantization parameters as const arrays, no interpreter, no malloc. RAM is the generated "
                   "plan's one static buffer (every activation tensor, input and output included, as in an arena); "
                   "flash here is the model's constant bytes (weights, biases, requantization parameters). The C, "
                   "built for this machine, runs the whole test set and is compared with the {} run of the same "
                   "file.", files, name, ref)
    if mc.has("arena_minus_one_fails"):  # the runtime searched for the smallest working memory
        ram = fmt("the smallest arena that loads and runs the model (bisection; one byte less fails){}",
                  fmt(", cross-checked with the total {} reports", name) if mc.has("arena_reported_bytes") else NOTHING)
    else:
        ram = fmt("the working memory {} sets aside for the model", name)
    return fmt("Each {} artifact is loaded in {}. RAM is {}; the whole test set then runs inside it and is compared "
               "with the {} run of the same file.", files, name, ram, ref)


def _mcu_row(a: Artifact, res: RuntimeResult, name: Text, ref: Text, reported: bool) -> Row:
    d, io = res.details, res.io
    c = d.get("c_array")
    change = num(res.accuracy_change * 100 if res.accuracy_change is not None else None, "+.2f")
    # A runtime that searched for its smallest arena says whether one byte less failed; a generated
    # plan's buffer is exact (it has no search to confirm).
    exact = d.get("arena_minus_one_fails") or "plan" in d
    ram = DASH if res.ram_bytes is None else fmt("{:,}{}", res.ram_bytes, NOTHING if exact
                                                 else fmt(" ({})", strong(own("minimum not confirmed"))))
    return [artifact_label(a), own("ok"),
            fmt("{:.4f} ({})", res.test_accuracy, change) if res.test_accuracy is not None else own("no labels"),
            _mcu_agreement(res, name, ref), ram,
            *([fmt("{}{}", num(d.get("arena_reported_bytes"), ","),
                   fmt(" ({:+,} needed while preparing)", d["arena_above_reported_bytes"])
                   if d.get("arena_above_reported_bytes") else NOTHING)] if reported else []),
            fmt("{:,} / {:,}", io["input"]["bytes"], io["output"]["bytes"]) if io else DASH,
            fmt("{}{}", num(res.flash_bytes, ","), fmt(" (C source {:.0f} KB, {})", c["source_bytes"] / 1000,
                                                      own("compiles, bytes match")
                                                      if c.get("compiles") and c.get("bytes_match")
                                                      else fmt("compile check: {}", c.get("compiles")))
                if c else NOTHING)]


def _mcu_agreement(res: RuntimeResult, name: Text, ref: Text) -> Text:
    if res.task != "regression":
        return fmt("{:.2f}%{}", res.agreement * 100, _steps(res, name, ref))
    d = res.error_steps_distribution or res.error_distribution or {}
    unit = " steps" if res.error_steps_distribution else ""
    return fmt("n/a (values: error p50 {}, p99 {}, max {}{})", num(d.get("p50"), "g"), num(d.get("p99"), "g"),
               num(d.get("max"), "g"), own(unit))


def _steps(res: RuntimeResult, name: Text, ref: Text) -> Text:
    """For integer outputs: how far the runtime's outputs are from its reference's, in output
    quantization steps; and, where it recorded them, the same against the reference's own
    reference kernels (those the microcontroller runtime's kernels are ported from)."""
    out = NOTHING
    if res.max_diff_steps is not None:
        out = (own("; outputs identical") if res.outputs_identical else
               fmt("; outputs up to {} step{} apart ({:.1f}% of inputs within one step)", res.max_diff_steps,
                   plural(res.max_diff_steps), res.share_within_one_step * 100))
    kernels = res.details.get("reference_kernels")
    if kernels:
        steps = (own(", outputs identical") if kernels.get("outputs_identical") else
                 fmt(", up to {} steps apart ({:.1f}% within one)", kernels["max_diff_steps"],
                     kernels["share_within_one_step"] * 100) if kernels.get("max_diff_steps") is not None else NOTHING)
        out = fmt("{}. Against {}'s reference kernels (those {}'s are ported from): {:.2f}% top-1{}", out, ref, name,
                  kernels["agreement"] * 100, steps)
    return out


def microcontroller_best(mc: F.Microcontroller) -> Text | None:
    """One line on the artifact that needs the least RAM on this runtime."""
    if mc.best is None:
        return None
    a, res = mc.best
    judged = [f for f in res.fit if f.get("fits") is not None]  # None: no figure (a board without an Arm core)
    fits = [f for f in judged if f["fits"]]
    unjudged = len(res.fit) - len(judged)
    linked = next((b for b in res.details.get("boards", []) if b.get("status") == "ok" and b.get("flash_bytes")),
                  None)
    flash = (fmt("{} KB of flash linked for {}", num(linked["flash_bytes"] / 1000, ".1f"), linked["board"])
             if linked else fmt("{} KB of flash", num(res.flash_bytes and res.flash_bytes / 1000, ".1f")))
    return fmt("{}: {} runs in {} bytes of RAM with {} (accuracy {}); fits {}/{} boards{}",
               runtime_title(mc.runtime), artifact_label(a), num(res.ram_bytes, ","), flash,
               num(res.test_accuracy, ".4f", own("not labelled")), len(fits), len(judged),
               fmt(" ({} not judged: no Arm core or no build)", unjudged) if unjudged else NOTHING)


# ---- how it was measured ---------------------------------------------------------------------------

def measured(r: RunResults) -> list[Text]:
    """The bullets of "How this was measured"."""
    out = []
    if r.fairness:
        out += _deploy_bullets(r) if r.is_deploy else _run_bullets(r)
    out += _machine_bullets(r.environment)
    out = [fmt("{}: {}", strong(own(what)), how) for what, how in out]
    if r.wall_time_s is not None:
        parts = join(", ", (fmt("{} {:.1f} s", key(k), v) for k, v in r.wall_time_breakdown_s.items()))
        out.append(fmt("{} of this run: {:.1f} s{}; results.json has the final figure, which includes writing "
                       "the reports.", strong(own("End-to-end wall time")), r.wall_time_s,
                       fmt(" ({})", parts) if parts else NOTHING))
    return out


def _deploy_bullets(r: RunResults) -> list[tuple[str, Text]]:
    fair, ds, src = r.fairness, r.dataset, r.source
    task = r.task
    return [
        ("Source model", fmt("{} ({}), SHA-256 {}; copied into the run as {}.", src.file, src.kind_title,
                             (src.sha256 or "(a folder)")[:16], src.copy_)),
        ("Reference", fmt("{}.", fair["reference"])),
        ("Calibration", fmt("{} images: {}.", fair["calibration"]["samples"], fair["calibration"]["note"])),
        ("Layout", fmt("{}; {}.", fair["layout"], fair["dtype"])),
        ("Isolation", fmt("{}.", fair["isolation"])),
        *([("Timed sections alone", fmt("{}.", fair["timed_sections"]["how"]))] if fair.get("timed_sections") else []),
        ("Dataset", fmt("{} from {}, {}.", ds.get("name"), ds.get("source"), ds.get("scaling"))),
        *([("Outputs", fmt("{} ({}){}.", task["kind"], task["decided_by"],
                           own("; judged by the error and its distribution, top-1 agreement is not meaningful")
                           if task["kind"] == "regression" else NOTHING))] if task else []),
        *([("Data chosen", fmt("{}.", ds["generated"]["chosen"]))]
          if (ds.get("generated") or {}).get("chosen") else []),
    ]


def _run_bullets(r: RunResults) -> list[tuple[str, Text]]:
    fair, ds, opt = r.fairness, r.dataset, r.config["optimizer"]
    w, b = fair["initial_weights"], fair["batch_order"]
    gate = (fmt(" ({} timed sections went through the gate)", r.overlap.get("timed_sections"))
            if r.overlap else NOTHING)
    return [
        ("Same initial weights", fmt("{}, made once in NumPy from seed {} ({}, SHA-256 {}...) and loaded into every "
                                     "framework.", w["scheme"], w["seed"], w["file"], w["sha256"][:16])),
        ("Same batches", fmt("{} ({}, shape {}).", b["note"], b["file"], b["shape"])),
        ("Same optimizer", fmt("{} lr={:g}, beta1={:g}, beta2={:g}, epsilon={:g}, set explicitly in both frameworks. "
                               "{}", opt["name"], opt["learning_rate"], opt["beta1"], opt["beta2"], opt["epsilon"],
                               fair["optimizer"]["epsilon_note"] if opt["name"] == "adam" else NOTHING)),
        ("Same loss", fmt("{}; {} everywhere.", fair["loss"], fair["dtype"])),
        ("Same threads", fmt("{} ({}).", fair["threads"]["count"], fair["threads"]["how"])),
        ("Isolation", fmt("{}; peak RSS is each task's own maximum (a worker resets its peak between tasks).",
                          fair["isolation"])),
        *([("Timed sections alone", fmt("{}{}.", fair["timed_sections"]["how"], gate))]
          if fair.get("timed_sections") else []),
        ("Training time", fmt("{}. A single run: compare frameworks as a ratio within this run, not against figures "
                              "from another day or machine.", fair["train_time"])),
        ("Evaluation", fmt("{}.", fair["evaluation"])),
        ("Dataset", fmt("{} from {}, {}; SHA-256 {}", ds.get("name"), ds.get("source"), ds.get("scaling"),
                        own("verified against the bundled SHA256SUMS.") if ds.get("checksum_verified")
                        else own("recorded (no reference sums)."))),
    ]


def _machine_bullets(env: dict) -> list[tuple[str, Text]]:
    if not env:
        return []
    return [
        ("Machine", fmt("{}, {} usable cores, {} GiB; {}; Python {}.", env.get("cpu_model"), env.get("usable_cores"),
                        num(env.get("memory_bytes") and env["memory_bytes"] / 2**30, ".0f"), env.get("platform"),
                        env.get("python"))),
        ("Packages", fmt("{}.", join(", ", (fmt("{} {}", key(k), v) for k, v in env.get("packages", {}).items())))),
    ]


# ---- summary cards (report.html) -------------------------------------------------------------------

def cards(r: RunResults, fig: F.Figures, highlights: dict[str, ArtifactView]) -> list[Card]:
    out = []
    fast, best = fig.fastest_training, fig.most_accurate_training
    if fast is not None:
        s = fast.timing.train_time_s if fast.timing else {}
        ci = fmt(", 95% CI [{:.2f}, {:.2f}] s", s["ci_low"], s["ci_high"]) if s.get("ci_low") is not None else NOTHING
        out.append(Card(own("Fastest to train"), run_label(fast, r),
                        fmt("{:.2f} s mean over {} run(s){}; test accuracy {:.4f}", fast.train_time_s, s.get("n", 1),
                            ci, fast.test_accuracy)))
        out.append(Card(own("Most accurate training"), run_label(best, r),
                        fmt("test accuracy {:.4f}", best.test_accuracy)))
    small = highlights.get("smallest")
    if small:
        res = small.fig.host
        out.append(Card(own("Smallest artifact within tolerance"), small.label,
                        fmt("{:.1f} KB on {}, accuracy {} ({} pt), agreement {:.2f}%", small.fig.size_kb,
                            small.runtime, num(res.test_accuracy, ".4f", own("not labelled")), small.change_pt,
                            res.agreement * 100)))
    for mc in fig.microcontrollers:
        board = mc.smallest_board
        if board is None or not mc.ok:
            continue
        name, fit = runtime_title(mc.runtime), mc.best_fit
        if fit is None:
            out.append(Card(fmt("Smallest board ({})", board["name"]), own("nothing fits"),
                            fmt("{:g} KB flash, {:g} KB RAM; on {}", board["flash_kb"], board["ram_kb"], name)))
            continue
        res, f = fit.result, fit.fit
        out.append(Card(fmt("Best fit for the smallest board ({})", board["name"]), artifact_label(fit.artifact),
                        fmt("{} accuracy {}; RAM {} B, flash {} KB; headroom {:.0f} KB flash / {:.1f} KB RAM", name,
                            num(res.test_accuracy, ".4f"), num(res.ram_bytes, ","),
                            num(res.flash_bytes and res.flash_bytes / 1024, ".0f"), f["flash_headroom_kb"],
                            f["ram_headroom_kb"])))
    return out


# ---- the view ----------------------------------------------------------------------------------------

def build(r: RunResults) -> "ReportView":
    return ReportView(r)


class ReportView:
    """Every section is worded on first use, once, from the run's figures; a section that needs
    a figure the results lack raises KeyError or TypeError as the reports always did (`edgebench
    report` turns it into a one-line error)."""

    def __init__(self, r: RunResults):
        self.r = r
        self.figures = F.Figures(r)
        self.config = r.config
        self.trainings = r.trainings
        self.status = r.status
        self.created_at = r.created_at
        self.version = r.edgebench_version
        self.wall_time_s = r.wall_time_s
        self.is_deploy = r.is_deploy  # `edgebench deploy`: a source model, no trainings

    @property
    def has_results(self) -> bool:
        return bool(self.config)

    @property
    def warnings(self) -> list[str]:
        """What the run said could make its figures harder to read, as written."""
        return [w.get("message", "") for w in self.r.warnings]

    @cached_property
    def generated(self) -> Text | None:
        return generated(self.r, self.figures)

    header = F.of_run(header)

    table1 = F.of_run(table1)

    source = F.of_run(source_rows)

    @property
    def ok_trainings(self) -> list:
        return self.figures.ok_trainings

    @cached_property
    def repeat1(self) -> list[Row]:
        return repeat1(self.r, self.figures)

    @cached_property
    def history_header(self) -> list[str]:
        return history_header(self.figures)

    @cached_property
    def history(self) -> list[Row]:
        return history(self.r, self.figures, len(self.history_header))

    @cached_property
    def training_failures(self) -> list[Failure]:
        return [Failure(run_label(t, self.r), t.status, t.error) for t in self.trainings if t.status != "ok"]

    @property
    def time_note(self) -> Text:
        return time_note(self.r)

    @cached_property
    def comparisons(self) -> list[Text]:
        return [comparison_sentence(c, self.r) for c in self.figures.comparisons]

    @property
    def flop_bound_s(self) -> float | None:
        return self.figures.flop_bound_s

    @cached_property
    def speed(self) -> Speed | None:
        return speed(self.r, self.figures, self.comparisons)

    twin = F.of_run(twin)

    @cached_property
    def artifacts(self) -> list[ArtifactView]:
        return [artifact_view(x) for x in self.figures.artifacts]

    load_notes = F.of_run(load_notes)
    worker_notes = F.of_run(worker_notes)

    @cached_property
    def highlights(self) -> dict[str, ArtifactView]:
        """Smallest, most accurate and (when timed) fastest of the artifacts within tolerance."""
        view = {id(v.fig): v for v in self.artifacts}
        return {k: view[id(x)] for k, x in self.figures.highlights.items()}

    @cached_property
    def deployment(self) -> Deployment | None:
        return deployment(self.r, self.figures, self.artifacts, self.highlights)

    @cached_property
    def microcontrollers(self) -> list[Mcu]:
        """A section per microcontroller runtime that ran an artifact."""
        return [microcontroller(mc, self.r, self.figures.chart_build) for mc in self.figures.microcontrollers]

    @cached_property
    def microcontroller_best(self) -> list[Text]:
        """Per microcontroller runtime: the artifact that needs the least RAM on it."""
        return [t for t in map(microcontroller_best, self.figures.microcontrollers) if t is not None]

    measured = F.of_run(measured)

    @cached_property
    def layer_tables(self) -> list:
        """Per-layer error against the source model, one table per artifact and runtime (report/layers.py)."""
        from edgebench.report.layers import tables

        return tables(self.r)

    @cached_property
    def cards(self) -> list[Card]:
        return cards(self.r, self.figures, self.highlights)

    @cached_property
    def machine(self) -> Text:
        env = self.r.environment
        return fmt("{}, {} cores", env.get("cpu_model", ""), env.get("usable_cores", "?"))
