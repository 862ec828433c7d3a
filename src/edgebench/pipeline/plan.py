"""The plan: a pure function from a run's configuration (and, on resume, the ids of the jobs
already done) to the ordered list of jobs still to run. No framework, file or process here."""

from __future__ import annotations

from edgebench.config import RunConfig, export_selected
from edgebench.pipeline.jobs import (MICROCONTROLLER, SPEED_LIMIT, TIMING, TRAIN, TWIN, VERIFY, Job, artifact_id,
                                     train_id)
from edgebench.registry import Exporter, Runtime

STAGE_SPEED = "speed limit (GEMM benchmarks)"
STAGE_FIRST = "training, first repeat, with exports"
STAGE_REPEATS = "training, later repeats"
STAGE_VERIFY = "verification on runtimes"


def selected_exporters(cfg: RunConfig, framework: str, exporters: list[Exporter]) -> list[Exporter]:
    """The exports of one framework that --formats selects, in registry order."""
    return [e for e in exporters
            if e.source == framework and export_selected(cfg.formats, framework, e.format, e.precision, e.opt_in)]


def mcu_id(runtime: str, key: tuple[str, str, str]) -> str:
    return f"{MICROCONTROLLER}:{runtime}:{artifact_id(key)}"


def artifact_jobs(cfg, selected: list[Exporter], needs: tuple[str, ...],
                  runtimes: dict[str, Runtime] | None = None) -> list[Job]:
    """One verify job per export (after the job that makes it: `needs`), and, where a runtime with
    the microcontroller capability runs its format, a microcontroller job after that. Shared by
    `run` (after each framework's first training) and `deploy` (after the source job)."""
    from edgebench import registry

    runtimes = registry.runtimes() if runtimes is None else runtimes
    micro = [r for r in runtimes.values() if registry.MICROCONTROLLER in r.capabilities]
    jobs = []
    for e in selected:
        verify = Job(f"{VERIFY}:{artifact_id(e.key)}", VERIFY, STAGE_VERIFY, needs,
                     framework=e.source, artifact=e.key, runtime=e.runtime)
        jobs.append(verify)
        if not cfg.microcontroller:
            continue
        names = {rt.name for rt in micro if e.format in rt.formats}
        for rt in micro:
            if e.format in rt.formats:
                # A runtime checked against another microcontroller runtime runs after it.
                after = ((mcu_id(rt.reference_runtime, e.key),) if rt.reference_runtime in names
                         and rt.reference_runtime != rt.name else ())
                jobs.append(Job(mcu_id(rt.name, e.key), MICROCONTROLLER, rt.display, (verify.id, *after),
                                framework=e.source, artifact=e.key, runtime=rt.name))
    return jobs


def plan(cfg: RunConfig, done: frozenset[str] | set[str] = frozenset(), exporters: list[Exporter] | None = None,
         runtimes: dict[str, Runtime] | None = None) -> list[Job]:
    """Every job of the run in execution order, less those in `done`.

    Repeats are interleaved (A B C, B C A, C A B, ...) so that a slow spell of the machine does not
    land on one framework. Repeat 1 of the first mode also exports; each export is then verified
    on its runtime and, where a runtime with the microcontroller capability runs its format,
    checked there (planned before the later repeats). The timing summary is derived from the
    trainings and is always planned.
    """
    from edgebench import registry

    exporters = registry.exporters() if exporters is None else exporters
    jobs = [Job(SPEED_LIMIT, SPEED_LIMIT, STAGE_SPEED)]
    fws, first = list(cfg.frameworks), cfg.modes[0]
    trains = []
    for r in range(1, cfg.warmup + cfg.repeats + 1):  # the first cfg.warmup are warm-ups
        k = (r - 1) % len(fws)
        for fw in fws[k:] + fws[:k]:
            for mode in cfg.modes:
                needs = () if r == 1 else (train_id(fw, mode, 1),)
                trains.append(Job(train_id(fw, mode, r), TRAIN, STAGE_FIRST if r == 1 else STAGE_REPEATS, needs,
                                  framework=fw, mode=mode, repeat=r))
    # Each framework's artifact jobs come before the later repeats: the executor starts ready jobs in
    # plan order, so the untimed work of exports' checks (TFLite Micro, firmware builds, emulation)
    # overlaps the first trainings' exports instead of waiting for every repeat; the repeats, timed
    # alone anyway, fill the places left. The repeats keep their interleaved order among themselves.
    jobs += [j for j in trains if j.repeat == 1]
    for fw in fws:
        jobs += artifact_jobs(cfg, selected_exporters(cfg, fw, exporters), (train_id(fw, first, 1),), runtimes)
    jobs += [j for j in trains if j.repeat > 1]
    jobs.append(Job(TIMING, TIMING, "", tuple(j.id for j in trains)))
    if cfg.twin:
        jobs.append(Job(TWIN, TWIN, "", tuple(train_id(fw, "eager", 1) for fw in fws)))
    return [j for j in jobs if j.id not in done or j.kind == TIMING]
