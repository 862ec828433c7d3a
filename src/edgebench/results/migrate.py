"""Explicit steps from every earlier shape of results.json to the current one.

Schema 1 was written by every release up to and including 0.1.0's last one; its shape changed
several times while the number stayed 1 (tests/data/past_results/SHAPES.md lists each shape), so
step 1 -> 2 first brings every schema-1 variant to the last one, then moves each artifact's
runtime figures into per-runtime results under neutral names. A step never drops a figure: a key
the step does not know stays where it was, or goes into the result's `details`.
"""

from __future__ import annotations

import copy
from typing import Any, Callable



# Job ids as schema 1 wrote them (frozen here: a migration must not follow later code).
def train_id(fw: str, mode: str, repeat: int) -> str:
    return f"train:{fw}:{mode}:r{repeat}"


def artifact_id(key: tuple[str, str, str]) -> str:
    return ":".join(key)


VERIFY, MICROCONTROLLER = "verify", "microcontroller"

# Schema 1 host-verification keys (on the artifact itself) -> RuntimeResult fields.
_HOST_RENAMES = {"source_test_accuracy": "reference_test_accuracy", "top1_agreement": "agreement",
                 "source_logit_range": "reference_logit_range", "verify_log": "log"}
_HOST_KEYS = {"runtime_version", "load_time_s", "test_samples", "io", "threads", "accepts_batch", "test_accuracy",
              "source_test_accuracy", "accuracy_change", "top1_agreement", "disagreements", "max_abs_diff",
              "p99_9_abs_diff", "mean_abs_diff", "source_logit_range", "tolerance", "max_abs_diff_bound",
              "within_tolerance", "tolerance_failures", "task", "latency_ms", "latency_raw", "throughput",
              "peak_rss_bytes", "verify_log", "load", "error_distribution", "error_steps_distribution", "note"}
# Schema 1 `microcontroller` entry (named after TFLite Micro and LiteRT) -> neutral names.
_MCU_RENAMES = {"reason": "error", "arena_bytes": "ram_bytes", "litert_test_accuracy": "reference_test_accuracy",
                "agreement_with_litert": "agreement", "max_abs_diff_vs_litert": "max_abs_diff",
                "accuracy_change_vs_litert": "accuracy_change", "max_diff_vs_litert_steps": "max_diff_steps",
                "outputs_identical_to_litert": "outputs_identical",
                "share_within_one_step_of_litert": "share_within_one_step", "host_latency_ms": "latency_ms",
                "diff_vs_litert_distribution": "error_distribution",
                "diff_vs_litert_steps_distribution": "error_steps_distribution",
                "litert_reference_kernels": "reference_kernels"}
_MCU_KEYS = {"runtime", "status", "error", "exit_code", "runtime_version", "flash_bytes", "ram_bytes", "io",
             "test_samples", "test_accuracy", "reference_test_accuracy", "agreement", "max_abs_diff",
             "accuracy_change", "output_quantization", "max_diff_steps", "outputs_identical", "share_within_one_step",
             "task", "latency_ms", "fit", "log", "load", "error_distribution", "error_steps_distribution"}


def _renamed(d: dict, names: dict[str, str]) -> dict:
    return {names.get(k, k): v for k, v in d.items()}


def _host_result(a: dict) -> dict | None:
    """The host runtime's result, from the figures a schema-1 artifact carried itself."""
    figures = {k: a.pop(k) for k in list(a) if k in _HOST_KEYS}
    res = {"runtime": a.get("runtime"), "role": "host", "reference": "source", **_renamed(figures, _HOST_RENAMES)}
    if "agreement" in res or "runtime_version" in res:
        return {**res, "status": "interrupted" if a["status"] == "interrupted" else "ok"}
    error = a.get("error") or ""
    if a["status"] == "failed" and "verification" in error:  # the export was fine; its verification was not
        return {**res, "status": "failed", "error": error, "exit_code": a.get("exit_code")}
    if a["status"] == "skipped" and error.startswith("runtime "):
        return {**res, "status": "skipped", "error": error}
    return None


def _mcu_result(a: dict) -> dict | None:
    m = a.pop("microcontroller", None)
    if not m:
        return None
    m = _renamed(m, _MCU_RENAMES)
    details = {k: m.pop(k) for k in list(m) if k not in _MCU_KEYS}
    # An entry without a status was started and cut short (schema 1 created it before its child ran).
    return {"status": "interrupted", **m, "runtime": m.get("runtime", "tflm"), "role": "microcontroller",
            "reference": a.get("runtime"), "details": details}


def _v1_progress(r: dict) -> list[str]:
    """A schema-1 run written before finished jobs were recorded: what its entries show."""
    done: set[str] = set()
    for t in r.get("trainings", []):
        if t["status"] not in ("ok", "failed", "skipped"):
            continue
        done.add(train_id(t["framework"], t.get("mode", "eager"), 1))
        done |= {train_id(t["framework"], t.get("mode", "eager"), x["repeat"]) for x in t.get("repeats", [])
                 if x.get("status") in ("ok", "failed")}
    for a in r.get("artifacts", []):
        key = (a["framework"], a["format"], a["precision"])
        if a["status"] not in ("ok", "interrupted") or "top1_agreement" in a:
            done.add(f"{VERIFY}:{artifact_id(key)}")
        m = a.get("microcontroller") or {}
        if "status" in m:
            done.add(f"{MICROCONTROLLER}:{m.get('runtime', 'tflm')}:{artifact_id(key)}")
    if (r.get("twin") or {}).get("status") == "ok":
        done.add("twin")
    if "speed_limit" in r:
        done.add("speed_limit")
    return sorted(done)


def _v1_first_adam_note(r: dict) -> None:
    """The first schema-1 shape (582aeb0) kept the sentence on Adam's epsilon in epsilon_placement;
    both frameworks then ran their stock Adam, which later releases call placement "native"."""
    opt = (r.get("fairness") or {}).get("optimizer") or {}
    if opt.get("epsilon_placement") not in (None, "aligned", "native") and "epsilon_note" not in opt:
        opt["epsilon_note"] = opt.pop("epsilon_placement")
        opt["epsilon_placement"] = "native"


def v1_to_v2(r: dict) -> dict:
    r = copy.deepcopy(r)
    _v1_first_adam_note(r)
    if "progress" not in r:
        r["progress"] = {"done": _v1_progress(r)}
    for a in r.get("artifacts", []):
        a["results"] = [x for x in (_host_result(a), _mcu_result(a)) if x is not None]
    cost = r.get("cost")
    if cost and "tflm_host_latency_s" in cost:
        cost["microcontroller_latency_s"] = cost.pop("tflm_host_latency_s")
    r["schema_version"] = 2
    return r


STEPS: dict[int, Callable[[dict], dict]] = {1: v1_to_v2}


def migrate(r: dict[str, Any]) -> dict[str, Any]:
    """results.json of any schema this edgebench knows, brought to the current one (a copy)."""
    from edgebench.results.schema import SCHEMA_VERSION

    version = r.get("schema_version")
    while version < SCHEMA_VERSION:
        r = STEPS[version](r)
        version = r["schema_version"]
    return r
