"""What a run cost against the work it timed: the timed sections (every training loop, warm-ups
included, and every latency and throughput window, TFLite Micro's host timing included) against
the run's wall time. Read from results.json alone, so it works on any run folder."""

from __future__ import annotations

from edgebench.results.schema import Cost, RunResults


def _window_s(summary: dict | None) -> float:
    """Seconds inside a timing window: calls x mean per-call time (ms)."""
    if not summary or not summary.get("n") or summary.get("mean") is None:
        return 0.0
    return summary["n"] * summary["mean"] / 1000.0


def timed_work(r: RunResults) -> dict:
    train = sum(x.train_time_s or 0.0 for t in r.trainings for x in t.repeats if x.status == "ok")
    results = [x for a in r.artifacts for x in a.results]
    host = sum(_window_s(x.latency_ms) + _window_s((x.throughput or {}).get("batch_latency_ms"))
               for x in results if x.role == "host")
    mcu = sum(_window_s(x.latency_ms) for x in results if x.role == "microcontroller")
    return {"training_s": train, "latency_and_throughput_s": host, "microcontroller_latency_s": mcu,
            "total_s": train + host + mcu}


def cost(r: RunResults, wall_s: float) -> Cost:
    """results.json's `cost`: the timed work, the wall time, and their ratio (1.0: nothing but timing)."""
    work = timed_work(r)
    return Cost(**work, wall_s=wall_s, timed_share=work["total_s"] / wall_s if wall_s else None,
                wall_over_timed=wall_s / work["total_s"] if work["total_s"] else None,
                note="timed work = every training loop's timed epochs (warm-ups included) + every latency and "
                     "throughput window (calls x mean time), host and microcontroller runtimes apart; the rest of "
                     "the wall time is imports, child processes, data, exports, conversions, verification outside "
                     "the windows and reports")
