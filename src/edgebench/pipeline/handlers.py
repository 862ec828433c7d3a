"""One handler per job kind: each turns a job into its entry in results.json, running a child
through the runner where a framework or runtime is needed. Handlers return True when the job is
finished (ok, failed or skipped) and False when it could not start because what it needs failed
(it is then not recorded as done, and a resumed run does not retry it either way)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgebench import data, registry
from edgebench.pipeline.jobs import (MICROCONTROLLER, SPEED_LIMIT, TIMING, TRAIN, TWIN, VERIFY, Bench, Job,
                                     MicrocontrollerTask, TrainTask, VerifyTask, worker_key)
from edgebench.pipeline.plan import selected_exporters
from edgebench.pipeline.store import INPUTS
from edgebench.results.schema import Artifact, Load, Repeat, RuntimeResult, Training, TrainingTiming

if TYPE_CHECKING:
    from edgebench.pipeline.run import Run


def _repeat_record(r: int, rec: dict, warmup: int = 0, load: dict | None = None) -> Repeat:
    epochs = rec["epochs"]
    steady = [e["time_s"] for e in epochs[1:]]
    return Repeat(repeat=r, status="ok", warmup=r <= warmup, train_time_s=rec["train_time_s"],
                  first_epoch_s=epochs[0]["time_s"], steady_epoch_s=float(np.mean(steady)) if steady else None,
                  test_accuracy=rec["test_accuracy"], test_loss=rec["test_loss"],
                  peak_rss_bytes=rec["peak_rss_bytes"], import_time_s=rec.get("import_time_s"), load=load,
                  process_trainings_before=rec.get("process_trainings_before"))


def watched(run: "Run", label: str, res) -> dict:
    """The load records of a child's timed sections, by what they timed; a section timed while other
    processes were busy is listed in results' load.flagged and said on the CLI as it happens."""
    from edgebench.measure.load import describe

    out = {}
    for rec in res.sections:
        out[rec["what"]] = rec
        if rec.get("busy"):
            if run.results.load is None:
                run.results.load = Load()
            run.results.load.flagged.append({"where": label, "what": rec["what"], "outside_cores": rec["outside_cores"],
                          "loadavg": rec.get("loadavg_end")})
            run.on_event(label, {"event": "warning", "message": f"{label}: the {rec['what']} was timed while "
                                 f"{describe(rec)}; its figure may be inflated (see the report)"})
    return out


def speed_limit(run: "Run", job: Job) -> bool:
    from edgebench.measure.speed import measure_limits, train_flops_per_sample

    cfg = run.cfg
    flops = train_flops_per_sample(run.net)
    n = len(run.dataset.y_train)
    try:
        measured = measure_limits(run.net, cfg.batch_size, cfg.threads, torch="pytorch" in cfg.frameworks)
    except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
        # The child failed: measured here instead (this process's BLAS settings), and said so.
        from edgebench.measure.speed import gemm_peak, step_gemm_time

        measured = {"gemm_peak": {**gemm_peak(cfg.threads), "child_error": str(e)},
                    "step_gemm": step_gemm_time(run.net, cfg.batch_size, cfg.threads)}
    step = measured["step_gemm"]
    run.results.speed_limit = {
        "gemm_peak": measured["gemm_peak"],
        "train_flops_per_sample": flops,
        "train_flops_per_epoch": flops["total"] * n,
        "steps_per_epoch": -(-n // cfg.batch_size),
        "step_gemm": step,
        # The same work at the rate the step's own small GEMMs reach (full batches).
        "step_gemm_bound_epoch_s": step["step_s"] * n / cfg.batch_size,
    }
    return True


def _train_task(run: "Run", job: Job, fw_dir: Path, name: str) -> TrainTask:
    cfg, first = run.cfg, job.repeat == 1 and job.mode == run.cfg.modes[0]
    exports = tuple(e.name for e in selected_exporters(cfg, job.framework, registry.exporters())) if first else ()
    return TrainTask(
        name=name, framework=job.framework, fw_dir=str(fw_dir), data=run.data_ref, threads=cfg.threads,
        model=run.net.describe(), optimizer=cfg.to_dict()["optimizer"], batch_size=cfg.batch_size,
        weights_path=str(run.store.input_path(INPUTS[0])), order_path=str(run.store.input_path(INPUTS[1])),
        calibration_path=str(run.store.input_path(INPUTS[2])), exports=exports,
        snapshot_steps=tuple(cfg.twin_steps) if cfg.twin and first and job.mode == "eager" else (),
        mode=job.mode, layer_samples=cfg.layer_samples if first and cfg.layers != "none" else 0,
        layer_outputs=str(fw_dir / LAYER_OUTPUTS) if first and cfg.layers != "none" else "")


def train(run: "Run", job: Job) -> bool:
    """Repeat 1 creates the training's entry (and its exports); later repeats add to it. A counted
    repeat timed while the machine was busy is run again (--rerun-busy)."""
    fw, mode, r = job.framework, job.mode, job.repeat
    first_mode = run.cfg.modes[0]
    base = run.store.framework_dir(fw, mode, first_mode)
    base_name = f"train-{fw}" if mode == first_mode else f"train-{fw}-{mode}"
    base_label = fw if mode == first_mode else f"{fw} [{mode}]"
    key = worker_key(job)
    if r > 1:
        entry = run.results.training(fw, mode)
        if entry is None or entry.status != "ok":
            return False
        fw_dir, name, label = base / "repeats" / f"r{r}", f"{base_name}-r{r}", f"{base_label} (repeat {r})"
    else:
        entry = Training(framework=fw, mode=mode, status="running")
        run.results.trainings.append(entry)
        missing = registry.framework(fw).missing_module()
        if missing:
            entry.status = "skipped"
            entry.error = f"{fw} is not installed (module '{missing}' not found; {registry.framework(fw).install_hint})"
            if mode == first_mode:
                run.on_event(fw, {"event": "skipped", "reason": entry.error})
            return True
        fw_dir, name, label = base, base_name, base_label
    fw_dir.mkdir(parents=True, exist_ok=True)
    rewarmed = _rewarm(run, job, key, base, base_name, base_label) if r > run.cfg.warmup else None
    run.on_event(label, {"event": "start", "kind": "train", "epochs": run.cfg.epochs})
    task = _train_task(run, job, fw_dir, name)
    res = run.child(task, run.cfg.threads, label, key)
    if r == 1:
        entry.log = f"logs/{name}.log"
        entry.process_wall_s = res.wall_s
        if res.outcome is None or res.outcome.status != "ok":
            entry.status, entry.error, entry.exit_code = "failed", res.failure(f"{label} training"), res.returncode
            run.on_event(label, {"event": "failed", "error": entry.error})
            return True
        arts = exported(res)
        run.results.trainings[run.results.trainings.index(entry)] = entry = Training.model_validate(
            {**entry.model_dump(exclude_none=True), **_training_fields(res.outcome.record), "status": "ok",
             "error": None})
        run.results.artifacts.extend(arts)
    elif not res.ok:
        _add_repeat(entry, Repeat(repeat=r, status="failed", error=res.failure(label), rewarmed=rewarmed))
        run.on_event(label, {"event": "failed", "error": res.failure(label)})
        return True
    rep = _repeat_record(r, res.outcome.record, run.cfg.warmup, watched(run, label, res).get("training"))
    rep.rewarmed = rewarmed
    _add_repeat(entry, rep)
    # A counted repeat timed on a busy machine: run again, in the same worker, the busy one kept.
    attempt = 1
    while not rep.warmup and (rep.load or {}).get("busy") and attempt <= run.cfg.rerun_busy:
        attempt += 1
        rep.rerun = (f"timed while other processes used {rep.load.get('outside_cores', 0):.2f} cores: run again "
                     f"(attempt {attempt}), not counted")
        run.on_event(label, {"event": "warning", "message": f"{label}: {rep.rerun}"})
        again_dir = base / "repeats" / f"r{r}"  # repeat 1's exports stay where they are
        again_dir.mkdir(parents=True, exist_ok=True)
        again = replace(task, name=f"{base_name}-r{r}-a{attempt}", fw_dir=str(again_dir), exports=(),
                        snapshot_steps=())
        again_label = f"{label} (attempt {attempt})"
        run.on_event(again_label, {"event": "start", "kind": "train", "epochs": run.cfg.epochs})
        res = run.child(again, run.cfg.threads, again_label, key)
        run.on_event(again_label, {"event": "done", "kind": "train"} if res.ok else
                     {"event": "failed", "error": res.failure(again_label)})
        if not res.ok:
            _add_repeat(entry, Repeat(repeat=r, attempt=attempt, status="failed", error=res.failure(label)))
            break
        rep = _repeat_record(r, res.outcome.record, run.cfg.warmup, watched(run, label, res).get("training"))
        rep.attempt = attempt
        _add_repeat(entry, rep)
    run.on_event(label, {"event": "done", "kind": "train"})
    return True


def _training_fields(record: dict) -> dict:
    """A first training's record as its Training entry's fields (what the worker says of its own
    process stays with the repeat)."""
    return {k: v for k, v in record.items() if k != "process_trainings_before"}


def _add_repeat(entry: Training, rep: Repeat) -> None:
    entry.repeats.append(rep)
    entry.repeats.sort(key=lambda x: (x.repeat, x.attempt))  # overlapping repeats may end out of order


def _rewarm(run: "Run", job: Job, key: str | None, base: Path, base_name: str, base_label: str) -> bool | None:
    """The worker that ran this framework's warm-ups died: before a counted repeat goes to the fresh
    worker that replaces it, that worker trains --warmup times (recorded in results' workers.rewarm,
    not as repeats), so counted repeats stay warm. None: nothing to do."""
    if not run.cfg.warmup or key is None or not run.persistent or run.workers is None \
            or not run.workers.replacing(key):
        return None
    scratch = base / "repeats" / "rewarm"
    scratch.mkdir(parents=True, exist_ok=True)
    warm = replace(_train_task(run, job, scratch, f"{base_name}-rewarm"), exports=(), snapshot_steps=())
    times = []
    label = f"{base_label} (warm-up of a new worker)"
    for i in range(run.cfg.warmup):
        run.on_event(label, {"event": "start", "kind": "train", "epochs": run.cfg.epochs})
        res = run.child(replace(warm, name=f"{warm.name}{i + 1}"), run.cfg.threads, label, key)
        run.on_event(label, {"event": "done", "kind": "train"} if res.ok else
                     {"event": "failed", "error": res.failure(label)})
        times.append(res.outcome.record.get("train_time_s") if res.ok else None)
    w = run.results.workers = run.results.workers or {}
    w.setdefault("rewarm", []).append({"key": key, "before": job.id, "train_time_s": times})
    return True


def exported(res) -> list[Artifact]:
    """The artifacts a child attempted. When a converter brought the process down after the model
    itself was saved (a training, a deploy's source), the export it was on is the failed one."""
    arts = [Artifact.model_validate(a) for a in res.outcome.artifacts]
    if res.returncode != 0:
        for art in arts:
            if art.status == "running":
                art.status, art.size_bytes, art.exit_code = "failed", None, res.returncode
                art.error = res.died().failure("export")
    return arts


def counted(run: "Run", t: Training) -> list[Repeat]:
    """The repeats the statistics count: ok, not warm-ups (all ok ones if only warm-ups ran), and not
    an attempt that was run again because it was timed on a busy machine."""
    ok = [x for x in t.repeats if x.status == "ok" and not x.rerun]
    return [x for x in ok if x.repeat > run.cfg.warmup] or ok


def timing(run: "Run", job: Job) -> bool:
    """Statistics over the counted repeats (warm-ups left out), efficiency against the speed limit,
    comparisons. Times are positive and right-skewed: geometric means with intervals on log times,
    comparisons as ratios (measure/stats.py)."""
    from edgebench.measure.stats import center

    ok = [t for t in run.results.trainings if t.status == "ok"]
    for t in ok:
        t.timing = _training_timing(run, t)
        t.determinism = _determinism(run, t)
        # The headline figure is the statistic over the counted repeats; repeat 1 keeps its own.
        t.train_time_s_repeat1 = t.repeats[0].train_time_s
        t.train_time_s = center(t.timing.train_time_s)
    run.results.timing_comparisons = _comparisons(run, ok)
    return True


def _training_timing(run: "Run", t: Training) -> TrainingTiming:
    from edgebench.measure.speed import efficiency
    from edgebench.measure.stats import center, mean_ci, stability, time_ci

    sl, cfg = run.results.speed_limit, run.cfg
    runs = counted(run, t)
    stats = {key: time_ci([getattr(x, key) for x in runs if getattr(x, key) is not None])
             for key in ("train_time_s", "first_epoch_s", "steady_epoch_s")}
    accs = [x.test_accuracy for x in t.repeats if x.status == "ok"]
    steady = center(stats["steady_epoch_s"]) or center(stats["train_time_s"]) / cfg.epochs
    eff = efficiency(sl["train_flops_per_epoch"], sl["steps_per_epoch"], steady, sl["gemm_peak"]["gflops"])
    # What the first epoch costs beyond a steady one: tracing, compilation, warm-up (a difference,
    # which may be negative: the plain mean interval).
    firsts = [x.first_epoch_s - x.steady_epoch_s for x in runs if x.steady_epoch_s is not None]
    tm = TrainingTiming(
        **stats, repeats_counted=[x.repeat for x in runs],
        # Repeats timed while other processes were busy: counted (said so), never silently dropped.
        busy_repeats=[{"repeat": x.repeat, "outside_cores": x.load["outside_cores"]}
                      for x in runs if (x.load or {}).get("busy")],
        rerun_repeats=[{"repeat": x.repeat, "attempt": x.attempt, "train_time_s": x.train_time_s, "why": x.rerun}
                       for x in t.repeats if x.rerun],
        # The spread and the advice on how many repeats would narrow the interval: from the quiet
        # repeats only (one busy repeat at twice the median once made the advice 272 repeats).
        stability={**stability([x.train_time_s for x in runs if not (x.load or {}).get("busy")]),
                   "busy_left_out": sum(bool((x.load or {}).get("busy")) for x in runs)},
        warmups=[x.repeat for x in t.repeats if x.repeat <= cfg.warmup],
        # A repeat far from the others, named by its number (time_ci found it by position).
        slow_repeats=[{**o, "repeat": runs[o["index"]].repeat} for o in stats["train_time_s"]["outliers"]],
        test_accuracy={"mean": float(np.mean(accs)), "min": min(accs), "max": max(accs), "values": accs,
                       "identical": len(set(accs)) == 1},
        peak_rss_bytes=max(x.peak_rss_bytes for x in t.repeats if x.status == "ok"),
        efficiency=eff,
        flop_bound_train_s=sl["train_flops_per_epoch"] * cfg.epochs / (sl["gemm_peak"]["gflops"] * 1e9),
        epoch_s_for_efficiency=steady,  # steady geometric mean; with one epoch, the only one
        first_epoch_excess_s=mean_ci(firsts) if firsts else None)
    if sl.get("step_gemm_bound_epoch_s"):
        tm.steady_vs_flop_bound = steady / eff["flop_bound_epoch_s"]
        tm.steady_vs_step_gemm_bound = steady / sl["step_gemm_bound_epoch_s"]
    return tm


def _comparisons(run: "Run", ok: list[Training]) -> list[dict]:
    from edgebench.measure.stats import diff_ci, ratio_ci

    comparisons = []
    for i, a in enumerate(ok):
        for b in ok[i + 1:]:
            # Frameworks within one mode, and each framework's modes against each other.
            if a.mode != b.mode and a.framework != b.framework:
                continue
            ta = [x.train_time_s for x in counted(run, a)]
            tb = [x.train_time_s for x in counted(run, b)]
            comparisons.append({"a": a.framework, "b": b.framework, "a_mode": a.mode, "b_mode": b.mode,
                                "metric": "train_time_s", **ratio_ci(ta, tb), "difference_s": diff_ci(ta, tb)})
    return comparisons


def _determinism(run: "Run", t: Training) -> dict:
    """Are the repeats' final weights bit-identical? (Same seed, data, threads, machine.)"""
    base = run.store.framework_dir(t.framework, t.mode, run.cfg.modes[0])
    files = [base / "final_weights.npz"] + [base / "repeats" / f"r{x.repeat}" / "final_weights.npz"
                                             for x in t.repeats[1:] if x.status == "ok"]
    files = [f for f in files if f.exists()]
    digests = {data.sha256_file(f) for f in files}
    return {"repeats_compared": len(files), "bit_identical_weights": len(digests) == 1 if files else None}


def twin(run: "Run", job: Job) -> bool:
    from edgebench.measure.drift import twin_drift

    ok = [t.framework for t in run.results.trainings if t.status == "ok" and t.mode == "eager"]
    if len(ok) < 2:
        run.results.twin = {"status": "skipped", "reason": "needs two frameworks that trained"}
        return True
    steps_per_epoch = -(-len(run.dataset.y_train) // run.cfg.batch_size)
    try:
        drift = twin_drift(run.store.dir, run.net, ok, list(run.cfg.twin_steps), steps_per_epoch * run.cfg.epochs,
                           run.dataset.x_test)
        run.results.twin = {"status": "ok", **drift}
    except (OSError, KeyError, ValueError) as e:
        run.results.twin = {"status": "failed", "reason": f"{type(e).__name__}: {e}"}
    return True


def task_kind(run: "Run") -> str:
    """classification (a run's models; a deploy's by default) or regression (outputs that are not class
    scores: a deploy decides, pipeline/deploy.output_task)."""
    return (run.task or {}).get("kind", "classification")


# What a verify child reports about the file itself rather than about the runtime's run of it.
_FILE_FACTS = ("graph", "graph_error", "weight_quantization")
# Schema-1 names a host runtime's record still uses (measure/parity.compare), and their neutral ones.
_NEUTRAL = {"source_test_accuracy": "reference_test_accuracy", "top1_agreement": "agreement",
            "source_logit_range": "reference_logit_range"}


def runtime_result(runtime: str, role: str, reference: str, status: str, record: dict) -> RuntimeResult:
    """A runtime's record as a RuntimeResult: the names every runtime shares as fields, the rest (what
    only this runtime measures) in `details`."""
    fields = set(RuntimeResult.model_fields)
    rec = {_NEUTRAL.get(k, k): v for k, v in record.items()}
    details = {**rec.pop("details", {}), **{k: rec.pop(k) for k in list(rec) if k not in fields}}
    rec.update(runtime=runtime, role=role, reference=reference, status=status, details=details)
    return RuntimeResult.model_validate(rec)


def verify(run: "Run", job: Job) -> bool:
    art = run.results.artifact(job.artifact)
    if art is None or art.status != "ok":
        return False  # not exported (failed, skipped, or its training failed): nothing to verify
    fw, fmt, prec = job.artifact
    label = f"{fw}/{fmt}-{prec}"
    info = registry.runtimes()[art.runtime]
    missing = info.missing_module()
    if missing:
        art.status = "skipped"
        art.error = f"runtime {info.name} is not installed (module '{missing}'; {info.install_hint})"
        art.put(RuntimeResult(runtime=art.runtime, status="skipped", error=art.error))
        return True
    name = f"verify-{fw}-{fmt}-{prec}"
    cfg = run.cfg
    task = VerifyTask(
        name=name, file=str(run.store.dir / art.file), runtime=art.runtime, precision=prec,
        data=run.data_ref, threads=cfg.bench_threads, raw_dir=str(run.store.latency),
        bench=Bench(cfg.latency_min_iters, cfg.latency_min_time_s, cfg.throughput_batch),
        network=run.net.describe(), source_logits=str(run.store.dir / fw / "test_logits.npy"),
        logits_path=str(run.store.logits_path(job.artifact)), task=task_kind(run),
        layer_source=_layer_source(run, info, fw, prec))
    run.on_event(label, {"event": "start", "kind": "verify", "total": len(run.dataset.x_test)})
    res = run.child(task, cfg.bench_threads, label, worker_key(job))
    if not res.ok:
        art.status, art.error, art.exit_code = "failed", res.failure(f"{label} verification"), res.returncode
        art.put(RuntimeResult(runtime=art.runtime, status="failed", error=art.error, exit_code=res.returncode))
        run.on_event(label, {"event": "failed", "error": art.error})
        return True
    record = dict(res.outcome.record)
    for k in _FILE_FACTS:
        if k in record:
            setattr(art, k, record.pop(k))
    record.update(log=f"logs/{name}.log", load=watched(run, label, res))
    if "layers" not in record and _layers_wanted(run, prec):
        record["layers"] = {"skipped": _why_no_layers(run, info, fw)}
    _count_layer_time(run, record)
    art.put(runtime_result(art.runtime, "host", "source", "ok", record))
    run.on_event(label, {"event": "done", "kind": "verify"})
    return True


LAYER_OUTPUTS = "layer_outputs.npz"  # a training's source-layer outputs, removed when the run ends


LAYERS_STAGE = "per-layer error (within verification and the microcontroller runtimes)"


def _layers_wanted(run: "Run", prec: str) -> bool:
    layers = getattr(run.cfg, "layers", "none")
    return layers == "all" or (layers == "int8" and prec.startswith("int8"))


def _why_no_layers(run: "Run", info, fw: str) -> str:
    if registry.LAYERS not in info.capabilities:
        return info.no_layers or f"{info.display} does not hand back intermediate tensors here"
    source = run.results.training(fw, run.cfg.modes[0]) if hasattr(run.cfg, "modes") else run.results.source
    if source is not None and source.layer_outputs_error:
        return f"the source model's layer outputs are missing: {source.layer_outputs_error}"
    return f"no layer outputs of the source model to compare with ({fw} does not list them here)"


def _count_layer_time(run: "Run", record: dict) -> None:
    """A per-layer table's time, inside its job's wall time, also said apart (the issue's cost)."""
    layers_s = (record.get("layers") or {}).get("time_s")
    if layers_s:
        spent = run.results.wall_time_breakdown_s
        spent[LAYERS_STAGE] = spent.get(LAYERS_STAGE, 0.0) + layers_s


def drop_layer_outputs(run_dir: Path) -> None:
    for f in Path(run_dir).glob(f"*/{LAYER_OUTPUTS}"):
        f.unlink(missing_ok=True)


def _layer_source(run: "Run", info, fw: str, prec: str) -> str:
    """The source-layer outputs a verification compares the artifact with, layer by layer: for int8
    artifacts (--layers int8, the default) or every one (all), where the runtime exposes its
    intermediate tensors and the training saved them; "" otherwise."""
    path = run.store.dir / fw / LAYER_OUTPUTS
    return str(path) if _layers_wanted(run, prec) and registry.LAYERS in info.capabilities and path.exists() else ""


def microcontroller(run: "Run", job: Job) -> bool:
    art = run.results.artifact(job.artifact)
    if art is None or art.status != "ok" or job.needs[0] not in run.done:
        return False  # runs only what verified on the host: its logits are the reference
    rt = registry.runtimes()[job.runtime]
    fw, fmt, prec = job.artifact
    label = f"{fw}/{fmt}-{prec} on {rt.name.upper()}"
    missing = rt.missing_module()
    if missing:
        art.put(RuntimeResult(runtime=rt.name, role="microcontroller", reference=art.runtime, status="skipped",
                              error=f"{rt.display} is not installed (module '{missing}'; {rt.install_hint})"))
        return True
    # The format's first microcontroller runtime keeps the folders it always had; another gets its own.
    first = registry.microcontroller_runtimes(fmt)[0].name == rt.name
    name = f"mcu-{fw}-{fmt}-{prec}" if first else f"mcu-{rt.name}-{fw}-{fmt}-{prec}"
    c_dir = run.store.dir / fw / "mcu" / ("" if first else rt.name) / Path(art.file).stem
    cfg = run.cfg
    task = MicrocontrollerTask(
        name=name, runtime=rt.name, file=str(run.store.dir / art.file), run_dir=str(run.store.dir),
        data=run.data_ref, reference_logits=str(run.store.logits_path(job.artifact)),
        c_dir=str(c_dir), boards=tuple(b.to_dict() for b in run.boards),
        bench=Bench(cfg.latency_min_iters, cfg.latency_min_time_s), network=run.net.describe(), task=task_kind(run),
        outputs_path=str(_mcu_outputs(run, rt.name, job.artifact)), **_mcu_reference(run, rt, art, job.artifact),
        emulate_samples=cfg.emulate_samples, layer_samples=_mcu_layer_samples(run, prec))
    run.on_event(label, {"event": "start", "kind": "verify", "total": len(run.dataset.x_test)})
    res = run.child(task, 1, label, worker_key(job))
    if res.returncode != 0 or res.outcome is None or res.outcome.status not in ("ok", "unsupported", "skipped"):
        error = res.failure(rt.display)
        art.put(RuntimeResult(runtime=rt.name, role="microcontroller", reference=art.runtime, status="failed",
                              error=error, exit_code=res.returncode))
        run.on_event(label, {"event": "failed", "error": error})
        return True
    record = {**res.outcome.record, "log": f"logs/{name}.log", "load": watched(run, label, res)}
    _count_layer_time(run, record)
    reference = record.pop("reference", None) or art.runtime  # a runtime may say whose outputs it compared with
    result = art.put(runtime_result(rt.name, "microcontroller", reference, res.outcome.status, record))
    # The progress line says what happened: an artifact the runtime cannot run was not verified.
    run.on_event(label, {"event": "done", "kind": "verify", "status": res.outcome.status, "reason": result.error})
    return True


def _mcu_layer_samples(run: "Run", prec: str) -> int:
    """Inputs on which a microcontroller runtime compares every tensor with its reference runtime's
    (--layers as for the host runtimes; 0: no per-layer table)."""
    return int(getattr(run.cfg, "layer_samples", 0)) if _layers_wanted(run, prec) else 0


def _mcu_outputs(run: "Run", runtime: str, key: tuple[str, str, str]) -> Path:
    """Where a microcontroller runtime keeps its outputs on the test set (beside the host runtime's)."""
    return run.store.logits / f"{'-'.join(key)}-{runtime}.npy"


def _mcu_reference(run: "Run", rt, art: Artifact, key: tuple[str, str, str]) -> dict:
    """For a runtime checked against another microcontroller runtime: that runtime's outputs and the
    figures of its result (when it ran the file)."""
    ref = rt.reference_runtime
    if not ref or ref == art.runtime or ref == rt.name:
        return {}
    done = art.result(ref)
    figures = ({"status": done.status, "ram_bytes": done.ram_bytes, "flash_bytes": done.flash_bytes}
               if done is not None else {})
    return {"reference_runtime": ref, "reference_outputs": str(_mcu_outputs(run, ref, key)),
            "reference_figures": figures}


HANDLERS = {SPEED_LIMIT: speed_limit, TRAIN: train, TIMING: timing, TWIN: twin, VERIFY: verify,
            MICROCONTROLLER: microcontroller}
