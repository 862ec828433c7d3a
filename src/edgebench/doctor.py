"""What edgebench can use on this machine: every framework, converter and runtime in the
registries, with its version or the extra that installs it. Nothing heavy is imported."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from edgebench import registry


def _version(dist: str) -> str | None:
    for name in (dist, dist + "-cpu", dist.replace("-cpu", "")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _row(kind: str, name: str, p: registry.Plugin, role: str) -> dict:
    missing = p.missing_module()
    dist = p.distribution or p.modules[0].replace("_", "-")
    return {"kind": kind, "name": name, "installed": missing is None,
            "version": _version(dist) if missing is None else None, "missing": missing,
            "install": p.install_hint, "role": role}


def availability() -> list[dict]:
    rows = [_row("framework", name, p, p.role or "trains the network") for name, p in registry.frameworks().items()]
    converters: dict[str, list[registry.Exporter]] = {}
    for e in registry.exporters():
        converters.setdefault(e.converter or e.name, []).append(e)
    for name, exps in converters.items():
        roles = ", ".join(dict.fromkeys(
            f"{registry.framework_title(e.source)} -> .{e.filename.rsplit('.', 1)[-1]}" for e in exps))
        # The converter's own module decides the version shown (the last one it needs).
        p = exps[0]
        rows.append(_row("converter", name, registry.Plugin(name, p.target, p.modules, p.extra,
                                                            distribution=p.modules[-1].replace("_", "-")), roles))
    rows += [_row("runtime", name, p, p.role) for name, p in registry.runtimes().items()]
    return rows + tool_rows()


# Programs the firmware stage runs (found on PATH, not imported): the Debian package of each.
TOOLS = (("cc", "gcc", "builds the generated C for this machine (checked against TFLite Micro)"),
         ("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi",
          "links the generated C into firmware per board (Cortex-M)"),
         ("qemu-system-arm", "qemu-system-arm", "runs the firmware on emulated Cortex-M cores, counting instructions"))


def tool_rows() -> list[dict]:
    import shutil

    rows = []
    for name, package, role in TOOLS:
        found = shutil.which(name) is not None
        rows.append({"kind": "tool", "name": name, "installed": found, "version": None,
                     "missing": None if found else name, "install": f"apt-get install {package}", "role": role})
    return rows


# ---- doctor --system: what can disturb timings on this machine ---------------------------------

ENV_VARS = {
    "OPENBLAS_CORETYPE": "forces OpenBLAS's kernel for a CPU type: an older one (e.g. Haswell on an AVX-512 "
                         "CPU) can halve NumPy's matmul speed and the GEMM peak edgebench measures",
    "OPENBLAS_L2_SIZE": "overrides OpenBLAS's cache-size guess, which sets its blocking",
    "MKL_DEBUG_CPU_TYPE": "forces MKL's code path (an old trick for AMD CPUs): changes which kernels run",
    "MKL_ENABLE_INSTRUCTIONS": "caps the instruction set MKL (and oneDNN in TensorFlow) may use",
    "OMP_NUM_THREADS": "OpenMP's thread count; edgebench sets it in every child to --threads, but it shapes "
                       "anything you run beside edgebench",
    "OPENBLAS_NUM_THREADS": "OpenBLAS's thread count (set per child by edgebench)",
    "MKL_NUM_THREADS": "MKL's thread count (set per child by edgebench)",
    "TF_ENABLE_ONEDNN_OPTS": "turns TensorFlow's oneDNN kernels on or off: different speed, and float sums in "
                             "another order",
    "XLA_FLAGS": "JAX/XLA compiler flags: can change threading and code generation",
    "KMP_AFFINITY": "Intel OpenMP thread pinning",
    "GOMP_CPU_AFFINITY": "GNU OpenMP thread pinning",
    "CUDA_VISIBLE_DEVICES": "which GPUs a framework sees (edgebench times on the CPU)",
}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_quota() -> tuple[float | None, str]:
    """The container's CPU limit in cores (None: no limit) and where it was read."""
    v2 = _read("/sys/fs/cgroup/cpu.max")
    if v2:
        quota, _, period = v2.partition(" ")
        if quota == "max":
            return None, f"cgroup v2 cpu.max = {v2}"
        return int(quota) / int(period or 100000), f"cgroup v2 cpu.max = {v2}"
    for d in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"):
        q, p = _read(f"{d}/cpu.cfs_quota_us"), _read(f"{d}/cpu.cfs_period_us")
        if q is not None:
            if int(q) < 0:
                return None, f"cgroup v1 cpu.cfs_quota_us = {q}"
            return int(q) / int(p or 100000), f"cgroup v1 cpu.cfs_quota_us = {q}, cpu.cfs_period_us = {p}"
    return None, "no cgroup CPU controller readable"


def memory_limit() -> tuple[int | None, str]:
    v2 = _read("/sys/fs/cgroup/memory.max")
    if v2:
        return (None if v2 == "max" else int(v2)), f"cgroup v2 memory.max = {v2}"
    v1 = _read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if v1:
        n = int(v1)
        return (None if n >= 2 ** 62 else n), f"cgroup v1 memory.limit_in_bytes = {v1}"
    return None, "no cgroup memory controller readable"


def _check(check: str, value, status: str, why: str) -> dict:
    return {"check": check, "value": value, "status": status, "why": why}


def _cpu_checks() -> list[dict]:
    """The cores this process may use, and any container quota on them."""
    import platform

    cores = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    model = next((ln.split(":", 1)[1].strip() for ln in (_read("/proc/cpuinfo") or "").splitlines()
                  if ln.startswith("model name")), platform.processor() or "unknown")
    rows = [_check("CPU", f"{model}; {cores} logical cores, {usable} usable by this process",
                   "warn" if usable < cores else "ok",
                   "--threads above the usable cores oversubscribes them; timings then measure waiting")]
    quota, where = cpu_quota()
    if quota is None:
        rows.append(_check("Container CPU limit", f"none ({where})", "ok",
                           "a CPU quota below the core count throttles a process in bursts: epochs and windows jump"))
    else:
        rows.append(_check("Container CPU limit", f"{quota:.2f} cores ({where})", "warn" if quota < usable else "ok",
                           f"a quota of {quota:.2f} cores against {usable} usable: more threads than that are "
                           "throttled in bursts, and timings jump"))
    return rows


def _clock_checks() -> list[dict]:
    """SMT, the governor, boost and the clock now: what makes the same work run at different speeds."""
    import psutil

    smt = _read("/sys/devices/system/cpu/smt/active")
    gov = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    boost = _read("/sys/devices/system/cpu/cpufreq/boost")
    no_turbo = _read("/sys/devices/system/cpu/intel_pstate/no_turbo")
    turbo = ("on" if boost == "1" else "off") if boost is not None else \
        ("off" if no_turbo == "1" else "on") if no_turbo is not None else None
    try:
        f = psutil.cpu_freq()
        freq = f"{f.current:.0f} MHz" + (f" (min {f.min:.0f}, max {f.max:.0f})" if f.max else "") if f else None
    except Exception:
        freq = None
    return [
        _check("SMT (hyper-threading)", {"1": "on", "0": "off"}.get(smt or "", "not readable"),
               "note" if smt == "1" else "ok",
               "two hardware threads share one core: work on the sibling slows a timed thread"),
        _check("CPU governor", gov or "not readable (a VM or container hides it)",
               "ok" if gov in (None, "performance") else "warn",
               "a governor other than 'performance' lowers the clock when idle and ramps it up under load: the "
               "first timings of a run are slower"),
        _check("Turbo / boost", turbo or "not readable", "note" if turbo == "on" else "ok",
               "boost clocks depend on temperature and how many cores are busy: the same work runs at different "
               "speeds"),
        _check("CPU frequency now", freq or "not readable", "ok",
               "recorded at the start and end of every timed section"),
    ]


def _memory_check() -> dict:
    import psutil

    mem = psutil.virtual_memory()
    limit, where = memory_limit()
    return _check("Memory", f"{mem.total / 2**30:.1f} GiB, {mem.available / 2**30:.1f} GiB available; container "
                  "limit " + (f"{limit / 2**30:.1f} GiB" if limit else "none") + f" ({where})",
                  "warn" if mem.available < 2 * 2**30 or (limit and limit < 4 * 2**30) else "ok",
                  "a run trains in up to two processes at once plus the runtimes: swapping or an out-of-memory "
                  "kill ruins timings")


def _load_checks() -> list[dict]:
    """Other work on this machine: the hypervisor's steal, the load average and other processes now."""
    import psutil

    from edgebench.measure import load

    t = psutil.cpu_times()
    total = sum(t)
    steal = getattr(t, "steal", 0.0)
    rows = [_check("Hypervisor steal since boot", f"{steal / total:.2%} of CPU time" if total else "not readable",
                   "warn" if total and steal / total > 0.02 else "ok",
                   "time the hypervisor gave this VM's cores to others: noisy neighbours slow timed sections "
                   "unpredictably")]
    try:
        la = os.getloadavg()
        rows.append(_check("Load average (1, 5, 15 min)", ", ".join(f"{x:.2f}" for x in la),
                           "warn" if la[0] > 0.5 else "ok", "other work running now competes with the timed sections"))
    except OSError:
        pass
    busy = load.outside_now()
    rows.append(_check("Other processes now", f"{busy:.2f} cores (over {load.QUIET_PROBE_S} s)",
                       "warn" if busy > load.BUSY_CORES else "ok",
                       f"a timed section during which other processes use more than {load.BUSY_CORES:.2f} of a core "
                       "is flagged busy in results.json and the report; --require-quiet waits for a quiet machine"))
    return rows


def _environment_checks() -> list[dict]:
    import platform

    rows = []
    for var, why in ENV_VARS.items():
        val = os.environ.get(var)
        rows.append(_check(f"${var}", val if val is not None else "not set", "warn" if val is not None else "ok", why))
    rows.append(_check("Python", f"{platform.python_version()} on {platform.platform()}", "ok",
                       "recorded in results.json with every package version"))
    return rows


def system() -> list[dict]:
    """Each thing on this machine that can disturb a timing: its value, ok / note / warn, and why it
    matters. Read from /proc, /sys, the cgroup files and the environment; nothing is changed."""
    return [*_cpu_checks(), *_clock_checks(), _memory_check(), *_load_checks(), *_environment_checks()]
