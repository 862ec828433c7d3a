"""What else the machine was doing around a timed section: CPU time used by processes outside
edgebench's own process tree, the hypervisor's steal time, the load average and, where it can be
read, the CPU frequency, at the start and end of the section (psutil). The run's parent takes
these readings when it opens and closes the timing gate (pipeline/gate.py), so every training loop
and every latency or throughput window gets one.

Outside CPU = the growth of the machine's busy time (/proc/stat: user, nice, system, irq, softirq)
less the growth of the CPU time of edgebench's own processes (this parent and all its descendants,
with the children they reaped): what other processes took from the cores while the section ran.
/proc counts in ticks of 10 ms, so a reading is good to a few hundredths of a core-second; a
section is flagged busy when others used more than BUSY_CORES on average and more than
MIN_OUTSIDE_S in all.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

BUSY_CORES = 0.10  # other processes above this average share of one core: the section is flagged
QUIET_PROBE_S = 0.5  # --require-quiet: the length of one look at the machine
# /proc counts CPU time in 10 ms ticks, per process and for the machine: a reading can be off by a
# few ticks, so a short section is flagged only when others took more than this too.
MIN_OUTSIDE_S = 0.05


def _busy_and_steal() -> tuple[float, float]:
    import psutil

    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
    return busy, getattr(t, "steal", 0.0)


def _own_cpu(root: int) -> dict[int, float]:
    """CPU seconds of root and every descendant (each with the children it has reaped)."""
    import psutil

    out = {}
    try:
        procs = [psutil.Process(root)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        return out
    for p in procs:
        try:
            c = p.cpu_times()
            out[p.pid] = c.user + c.system + c.children_user + c.children_system
        except psutil.Error:
            continue
    return out


def _freq_mhz() -> float | None:
    try:
        import psutil

        f = psutil.cpu_freq()
        return float(f.current) if f and f.current else None
    except Exception:  # not readable here (some VMs, some containers)
        return None


@dataclass
class Reading:
    t: float
    wall: float
    busy: float
    steal: float
    own: dict[int, float] = field(default_factory=dict)
    loadavg: tuple[float, float, float] | None = None
    freq_mhz: float | None = None


def read(root: int | None = None) -> Reading:
    busy, steal = _busy_and_steal()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return Reading(time.perf_counter(), time.time(), busy, steal, _own_cpu(root or os.getpid()), load, _freq_mhz())


def between(a: Reading, b: Reading) -> dict:
    """The load record of the section from reading a to reading b."""
    dt = max(b.t - a.t, 1e-9)
    own = sum(v - a.own.get(pid, 0.0) for pid, v in b.own.items())
    # A process of ours that ended during the section was reaped by its parent, also ours, whose
    # children_user/system now hold its whole CPU time, the part before the section included:
    # that part is taken off again.
    own -= sum(v for pid, v in a.own.items() if pid not in b.own)
    outside = max(0.0, (b.busy - a.busy) - max(own, 0.0))
    cores = outside / dt
    return {"start_unix": a.wall, "duration_s": dt, "outside_cpu_s": outside, "outside_cores": cores,
            "steal_cores": max(0.0, b.steal - a.steal) / dt,
            "loadavg_start": a.loadavg[0] if a.loadavg else None, "loadavg_end": b.loadavg[0] if b.loadavg else None,
            "freq_mhz_start": a.freq_mhz, "freq_mhz_end": b.freq_mhz,
            "busy": cores > BUSY_CORES and outside > MIN_OUTSIDE_S}


def outside_now(root: int | None = None, seconds: float = QUIET_PROBE_S) -> float:
    """Other processes' average share of the cores over the next `seconds` (in cores)."""
    a = read(root)
    time.sleep(seconds)
    return between(a, read(root))["outside_cores"]


def describe(rec: dict) -> str:
    """'other processes used 0.95 cores on average (load average 1.9)'"""
    load = f", load average {rec['loadavg_end']:.1f}" if rec.get("loadavg_end") is not None else ""
    steal = f", the hypervisor stole {rec['steal_cores']:.2f} cores" if rec.get("steal_cores", 0) > BUSY_CORES else ""
    return f"other processes used {rec['outside_cores']:.2f} cores on average{load}{steal}"


NOTE = (f"around every timed section the run's parent records the CPU time other processes used "
        f"(the machine's busy time from /proc/stat less the CPU time of edgebench's own process tree), the "
        f"hypervisor's steal time, the load average and the CPU frequency where readable; a section during which "
        f"other processes used more than {BUSY_CORES:.2f} of one core on average is flagged busy. A counted "
        f"training repeat flagged busy is run again (--rerun-busy), the busy attempt kept and not counted; "
        f"other busy figures (and repeats still busy after their reruns) are in the statistics, and said so")
