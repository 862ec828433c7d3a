"""The figures a report shows, worked out once from a run's typed results: plain data (numbers,
selections, which artifact or training is best, comparisons oriented faster/slower, fit tables),
no words. The words layer (view.py) turns each into sentences and table cells; the plots read them
too, so a figure is computed in one place and worded in one place.

Runtimes are iterated, never named: an artifact's host runtime gives the deployment matrix, and
every microcontroller runtime that ran an artifact gives one `Microcontroller` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from edgebench.results.schema import Artifact, Json, RunResults, RuntimeResult, Training


class Side(NamedTuple):
    """A training named by framework and mode (what a timing comparison holds)."""

    framework: str
    mode: str = "eager"


# ---- artifacts on their host runtime ---------------------------------------------------------------

def checked(a: Artifact) -> RuntimeResult | None:
    """The host runtime's result of an artifact that was exported and verified: it ran on that
    runtime and was compared with its source. None: the matrix shows dashes."""
    return a.verified if a.status == "ok" else None


def accuracy_score(res: RuntimeResult) -> float:
    """What "most accurate" ranks by: test accuracy; without labels, agreement with the source; for
    outputs that are not class scores, the smaller error (negated, so larger is better)."""
    if res.task == "regression":
        return -(res.error_distribution or {}).get("p99", res.max_abs_diff)
    return res.test_accuracy if res.test_accuracy is not None else res.agreement


@dataclass(frozen=True)
class ArtifactFigures:
    artifact: Artifact
    host: RuntimeResult | None  # the host runtime's result where verified (checked), else None
    status: str  # the export's status, or its host runtime's where the export was fine and the run was not
    error: str | None
    size_kb: float | None
    bytes_per_param: float | None

    @property
    def checked(self) -> bool:
        return self.host is not None

    @property
    def within_tolerance(self) -> bool | None:
        res = self.artifact.result()
        return None if res is None else res.within_tolerance

    @property
    def latency_ms(self) -> Json:
        return (self.host.latency_ms or {}) if self.host else {}

    @property
    def throughput(self) -> float | None:
        return (self.host.throughput or {}).get("images_per_s") if self.host else None

    @property
    def tolerance_failures(self) -> list[str]:
        res = self.artifact.result()
        return [str(f) for f in res.tolerance_failures] if res else []


def status(a: Artifact) -> tuple[str, str | None]:
    """An artifact's status and error: its export's, or its host runtime's where the export was fine
    and the run on that runtime was not."""
    res = a.result()
    if a.status == "ok" and res is not None and res.status != "ok":
        return res.status, res.error
    return a.status, a.error


def artifact_figures(a: Artifact, params: int | None) -> ArtifactFigures:
    host = checked(a)
    status_, error = status(a)
    size = a.size_bytes
    return ArtifactFigures(artifact=a, host=host, status=status_, error=error,
                           size_kb=size / 1000 if size else None,
                           bytes_per_param=size / params if size and params else None)


def highlights(arts: list[ArtifactFigures]) -> dict[str, ArtifactFigures]:
    """Smallest, most accurate and (when timed) fastest of the artifacts within tolerance."""
    good = [x for x in arts if x.checked and x.within_tolerance]
    if not good:
        return {}
    out = {"smallest": min(good, key=lambda x: (x.artifact.size_bytes, -accuracy_score(x.host))),
           "most_accurate": max(good, key=lambda x: (accuracy_score(x.host), -x.artifact.size_bytes))}
    timed = [x for x in good if x.latency_ms.get("p50")]
    if timed:
        out["fastest"] = min(timed, key=lambda x: x.latency_ms["p50"])
    return out


def tolerances(arts: list[Artifact]) -> dict[str, Json]:
    """The tolerance of each precision group (every int8 variant shares one), as the first verified
    artifact of that group recorded it."""
    seen: dict[str, Json] = {}
    for a in arts:
        res = checked(a)
        if res is not None:
            seen.setdefault("int8" if a.precision.startswith("int8") else a.precision, res.tolerance)
    return seen


class GraphCheck(NamedTuple):
    artifact: Artifact
    graph: Json | None  # parameters and MACs read back from the exported file
    matches: bool | None  # the graph's counts equal the model's (None: no graph, or a deploy)


def graph_checks(r: RunResults) -> list[GraphCheck]:
    """Each verified artifact's graph against the model's own counts (a run) or as read (a deploy)."""
    m = r.model
    # A converter folds BatchNorm into the layer before it: the graph holds the folded count.
    deployed = m.get("deployed_parameter_count", m.get("parameter_count"))
    out = []
    for a in r.artifacts:
        if checked(a) is None:
            continue
        g = a.graph
        match = (None if not g or r.is_deploy else
                 g["parameters"] == deployed and g["macs_per_sample"] == m["macs_per_sample"])
        out.append(GraphCheck(a, g, match))
    return out


def layer_table(r: RunResults) -> list[Json]:
    """The per-layer table: the model's own, or for a deploy whose source gave none (a Keras or
    PyTorch model) its float32 export's graph."""
    table = r.model.get("layer_table")
    if not table and r.is_deploy:
        g = next((a.graph for a in r.artifacts if checked(a) and a.precision == "float32"
                  and (a.graph or {}).get("layers")), None)
        table = g["layers"] if g else []
    return table or []


# ---- microcontroller runtimes ----------------------------------------------------------------------

class Fit(NamedTuple):
    artifact: Artifact
    result: RuntimeResult
    fit: Json  # measure/boards.fit's entry for one board


@dataclass(frozen=True)
class Microcontroller:
    """One microcontroller runtime and every artifact it ran, in the run's order."""

    runtime: str
    ran: list[tuple[Artifact, RuntimeResult]]
    smallest_board: Json | None  # the board with the least RAM (then flash), where boards were given

    @property
    def ok(self) -> list[tuple[Artifact, RuntimeResult]]:
        return [(a, res) for a, res in self.ran if res.status == "ok"]

    @property
    def references(self) -> list[str]:
        """The host runtimes its outputs were compared with."""
        return list(dict.fromkeys(res.reference for _, res in self.ran))

    @property
    def formats(self) -> list[str]:
        return list(dict.fromkeys(a.format for a, _ in self.ran))

    def has(self, detail: str) -> bool:
        """Whether any of its results carries this runtime-specific detail."""
        return any(detail in res.details for _, res in self.ran)

    @property
    def best(self) -> tuple[Artifact, RuntimeResult] | None:
        """The artifact that needs the least RAM on it (then: the smallest file)."""
        def need(x):
            a, res = x
            return (res.ram_bytes is None, res.ram_bytes or 0, a.size_bytes or 0)

        return min(self.ok, key=need, default=None)

    @property
    def best_fit(self) -> Fit | None:
        """The most accurate artifact that fits the smallest board (then: the most RAM left)."""
        board = self.smallest_board
        fits = [Fit(a, res, f) for a, res in self.ok for f in res.fit
                if board is not None and f["board"] == board["name"] and f["fits"]]
        return max(fits, key=lambda x: (x.result.test_accuracy or 0, x.fit["ram_headroom_kb"]), default=None)

    @property
    def firmware(self) -> bool:
        """Whether it linked firmware per board (the generated C): its results carry details["boards"]."""
        return self.has("boards")

    @property
    def linked_fit(self) -> bool:
        """Whether its board fit is that of linked firmware, not an estimate from model and RAM bytes."""
        return any(f.get("basis") == "linked" for _, res in self.ok for f in res.fit)

    @property
    def reference(self) -> str | None:
        """The microcontroller runtime its outputs, RAM and flash are set beside (the first one named)."""
        return next((res.reference for a, res in self.ran if (ref := a.result(res.reference)) is not None
                     and ref.role == "microcontroller"), None)


def microcontrollers(r: RunResults) -> list[Microcontroller]:
    """A Microcontroller per runtime that ran any artifact, in the order they first appear."""
    ran: dict[str, list[tuple[Artifact, RuntimeResult]]] = {}
    for a in r.artifacts:
        for res in a.microcontroller_results():
            ran.setdefault(res.runtime, []).append((a, res))
    board = min(r.boards, key=lambda b: (b["ram_kb"], b["flash_kb"]), default=None)
    return [Microcontroller(name, pairs, board) for name, pairs in ran.items()]


# ---- generated firmware: per board and optimization level -----------------------------------------

@dataclass(frozen=True)
class Build:
    """One entry of a firmware result's details["boards"]: a board at one optimization level (or, for
    a board that was not built, every level it skipped with one reason)."""

    artifact: Artifact
    result: RuntimeResult
    build: Json
    board: Json | None  # the run's record of that board (its flash and RAM), where it names it
    opts: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.build.get("status") == "ok"

    @property
    def headroom_kb(self) -> tuple[float, float] | None:
        """Flash and RAM left on the board by the linked firmware (KB of 1024 bytes, as the boards)."""
        b, x = self.board, self.build
        if b is None or x.get("flash_bytes") is None:
            return None
        ram = x.get("ram_bytes") or x.get("static_ram_bytes") or 0
        return b["flash_kb"] - x["flash_bytes"] / 1024, b["ram_kb"] - ram / 1024

    @property
    def fits(self) -> bool | None:
        """Whether the linked firmware fits the board (None: nothing linked, or the board not known)."""
        if self.build.get("fits") is not None:
            return self.build["fits"]
        room = self.headroom_kb
        return None if room is None else min(room) >= 0


def builds(r: RunResults, a: Artifact, res: RuntimeResult) -> list[Build]:
    """The builds of one firmware result in its order; a board not built at several levels for one
    reason is one entry."""
    boards = {b["name"]: b for b in r.boards}
    out: list[Build] = []
    for x in res.details.get("boards") or []:
        last = out[-1] if out else None
        if (last is not None and not last.ok and x.get("status") != "ok" and last.build["board"] == x["board"]
                and last.build.get("error") == x.get("error")):
            out[-1] = Build(a, res, last.build, last.board, last.opts + (x.get("opt") or "",))
            continue
        out.append(Build(a, res, x, boards.get(x["board"]), (x.get("opt") or "",)))
    return out


@dataclass(frozen=True)
class PlanFigures:
    """The generated plan's RAM and the firmware's flash, beside the reference microcontroller runtime's."""

    artifact: Artifact
    result: RuntimeResult
    plan: Json  # details["plan"]
    reference: RuntimeResult | None  # the microcontroller runtime it is compared with, where it ran the file
    linked_flash: tuple[int, int] | None  # smallest and largest linked firmware over the builds that linked

    @property
    def constant_bytes(self) -> int | None:
        return self.result.flash_bytes


def plan_figures(a: Artifact, res: RuntimeResult, built: list[Build]) -> PlanFigures:
    ref = a.result(res.reference)
    flash = [x.build["flash_bytes"] for x in built if x.build.get("flash_bytes") is not None]
    return PlanFigures(a, res, res.details.get("plan") or {},
                       ref if ref is not None and ref.role == "microcontroller" and ref.status == "ok" else None,
                       (min(flash), max(flash)) if flash else None)


def chart_build(mcs: list[Microcontroller], r: RunResults) -> Build | None:
    """The build the per-layer chart shows: the first firmware result that ran (an int8 artifact's
    first, the precision a microcontroller runs), its Cortex-M4 -Os build where there is one with
    layers, else its first build with layers."""
    for mc in mcs:
        ran = mc.ok if mc.firmware else []
        for a, res in sorted(ran, key=lambda x: not x[0].precision.startswith("int8")):
            counted = [x for x in builds(r, a, res) if x.ok and x.build.get("layers")]
            if counted:
                return next((x for x in counted if x.build.get("core") == "cortex-m4" and x.opts == ("-Os",)),
                            counted[0])
    return None


# ---- training ---------------------------------------------------------------------------------------

HISTORY_COLUMNS = 8  # epochs shown in the per-epoch history; more: the first and last four


def later_epochs_mean_s(t: Training) -> float | None:
    times = [e.time_s for e in t.epochs[1:]]
    return sum(times) / len(times) if times else None


def history_epochs(trainings: list[Training]) -> list[int]:
    """The epochs the history shows: all, or beyond HISTORY_COLUMNS the first and the last ones."""
    n = max((len(t.epochs) for t in trainings), default=0)
    if n <= HISTORY_COLUMNS:
        return list(range(1, n + 1))
    half = HISTORY_COLUMNS // 2
    return list(range(1, half + 1)) + list(range(n - (HISTORY_COLUMNS - half) + 1, n + 1))


@dataclass(frozen=True)
class Comparison:
    """A timing comparison of two trainings as the run computed it (`record`), oriented: which is
    faster, by what (a factor >= 1 for ratio records, seconds for difference records), and that
    figure's interval."""

    a: Side
    b: Side
    record: Json
    is_ratio: bool
    faster: Side
    slower: Side
    by: float | None  # None: a ratio record with a time missing
    low: float | None  # None: one run each, no interval
    high: float | None


def comparison(c: Json) -> Comparison:
    a, b = Side(c["a"], c.get("a_mode", "eager")), Side(c["b"], c.get("b_mode", "eager"))
    if "ratio" in c:  # a's time over b's
        ratio = c["ratio"]
        if ratio is None or c.get("ci_low") is None:
            by = None if ratio is None else max(ratio, 1 / ratio)
            return Comparison(a, b, c, True, a, b, by, None, None)
        if ratio >= 1:  # a is slower: b is faster by ratio
            return Comparison(a, b, c, True, b, a, ratio, c["ci_low"], c["ci_high"])
        return Comparison(a, b, c, True, a, b, 1 / ratio, 1 / c["ci_high"], 1 / c["ci_low"])
    faster, slower = (b, a) if c["diff"] > 0 else (a, b)
    if c.get("ci_low") is None:
        return Comparison(a, b, c, False, faster, slower, abs(c["diff"]), None, None)
    low, high = sorted((abs(c["ci_low"]), abs(c["ci_high"])))
    return Comparison(a, b, c, False, faster, slower, abs(c["diff"]), low, high)


@dataclass(frozen=True)
class SpeedLimit:
    """The machine's GEMM peak as a bound on training time, and whether the fastest training
    stayed above it (a bound) or beat it (the peak measured is below what the machine reaches)."""

    record: Json  # results' speed_limit
    epochs: int
    bound_s: float  # the whole run's training at the GEMM peak
    fastest: Training  # the fastest steady epoch
    fastest_epoch_s: float | None

    @property
    def bound_epoch_s(self) -> float:
        return self.bound_s / self.epochs

    @property
    def peak_is_bound(self) -> bool:
        return not (self.fastest_epoch_s and self.bound_epoch_s > self.fastest_epoch_s)

    @property
    def step_epoch_s(self) -> float | None:
        """An epoch of the step's own matrix multiplies timed at their real shapes, where measured."""
        return self.record["step_gemm_bound_epoch_s"] if self.record.get("step_gemm") else None

    @property
    def step_is_bound(self) -> bool:
        return not (self.fastest_epoch_s and self.step_epoch_s > self.fastest_epoch_s)


def flop_bound_s(r: RunResults) -> float | None:
    """The whole run's training at this machine's GEMM peak (seconds), when measured."""
    sl = r.speed_limit or {}
    if not sl.get("gemm_peak"):
        return None
    return sl["train_flops_per_epoch"] * r.config["epochs"] / (sl["gemm_peak"]["gflops"] * 1e9)


def speed_limit(r: RunResults, timed: list[Training]) -> SpeedLimit:
    best = min(timed, key=lambda t: t.timing.epoch_s_for_efficiency or float("inf"))
    return SpeedLimit(r.speed_limit, r.config["epochs"], flop_bound_s(r), best,
                      best.timing.epoch_s_for_efficiency)


class Determinism(NamedTuple):
    same: list[Training]  # bit-identical final weights across the repeats
    differ: list[Training]


def determinism(timed: list[Training]) -> Determinism | None:
    det = [(t, t.determinism or {}) for t in timed]
    det = [(t, d) for t, d in det if d.get("repeats_compared", 0) > 1]
    if not det:
        return None
    return Determinism([t for t, d in det if d["bit_identical_weights"]],
                       [t for t, d in det if not d["bit_identical_weights"]])


# ---- all of them, once -------------------------------------------------------------------------------

def of_run(fn):
    """A lazy attribute that needs nothing but the run's results: fn(self.r), computed once."""
    prop = cached_property(lambda self: fn(self.r))
    prop.__doc__ = fn.__doc__
    return prop


class Figures:
    """Every figure of a run, each worked out on first use, once."""

    def __init__(self, r: RunResults):
        self.r = r

    @cached_property
    def ok_trainings(self) -> list[Training]:
        return [t for t in self.r.trainings if t.status == "ok"]

    @cached_property
    def timed_trainings(self) -> list[Training]:
        """Trainings with statistics over their repeats."""
        return [t for t in self.r.trainings if t.timing is not None]

    @cached_property
    def history_epochs(self) -> list[int]:
        return history_epochs(self.ok_trainings)

    @cached_property
    def comparisons(self) -> list[Comparison]:
        return [comparison(c) for c in self.r.timing_comparisons]

    flop_bound_s = of_run(flop_bound_s)

    @cached_property
    def speed_limit(self) -> SpeedLimit | None:
        if not self.r.speed_limit or not self.timed_trainings:
            return None
        return speed_limit(self.r, self.timed_trainings)

    @cached_property
    def determinism(self) -> Determinism | None:
        return determinism(self.timed_trainings)

    @cached_property
    def fastest_training(self) -> Training | None:
        done = [t for t in self.ok_trainings if t.train_time_s is not None]
        return min(done, key=lambda t: t.train_time_s, default=None)

    @cached_property
    def most_accurate_training(self) -> Training | None:
        done = [t for t in self.ok_trainings if t.train_time_s is not None]
        return max(done, key=lambda t: t.test_accuracy, default=None)

    @cached_property
    def artifacts(self) -> list[ArtifactFigures]:
        params = self.r.model.get("parameter_count")
        return [artifact_figures(a, params) for a in self.r.artifacts]

    @cached_property
    def highlights(self) -> dict[str, ArtifactFigures]:
        return highlights(self.artifacts)

    @cached_property
    def tolerances(self) -> dict[str, Json]:
        return tolerances(self.r.artifacts)

    graph_checks = of_run(graph_checks)

    layer_table = of_run(layer_table)

    microcontrollers = of_run(microcontrollers)

    @cached_property
    def chart_build(self) -> Build | None:
        """The firmware build whose instructions per layer the report charts."""
        return chart_build(self.microcontrollers, self.r)
