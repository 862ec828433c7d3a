"""The plan is a pure function of the configuration and what is done: no framework, no file."""

from edgebench.config import RunConfig
from edgebench.pipeline.plan import plan
from edgebench.registry import MICROCONTROLLER, Exporter, Runtime

EXPORTERS = [
    Exporter("a:tflite:float32", "m:f", (), "x", source="a", format="tflite", precision="float32", runtime="lite",
             filename="m.tflite"),
    Exporter("a:tflite:int8", "m:f", (), "x", source="a", format="tflite", precision="int8", runtime="lite",
             filename="m8.tflite"),
    Exporter("a:onnx:float32", "m:f", (), "x", source="a", format="onnx", precision="float32", runtime="ort",
             filename="m.onnx"),
    Exporter("b:onnx:float32", "m:f", (), "x", source="b", format="onnx", precision="float32", runtime="ort",
             filename="m.onnx"),
]
RUNTIMES = {
    "lite": Runtime("lite", "m:S", (), "x", formats=("tflite",)),
    "ort": Runtime("ort", "m:S", (), "x", formats=("onnx",)),
    "micro": Runtime("micro", "m:S", (), "x", title="Micro", formats=("tflite",),
                     capabilities=frozenset({MICROCONTROLLER})),
}


def ids(cfg, done=frozenset(), runtimes=RUNTIMES):
    return [j.id for j in plan(cfg, done, EXPORTERS, runtimes)]


def test_repeats_interleave_and_exports_follow_the_first_training():
    cfg = RunConfig(frameworks=("a", "b", "c"), repeats=3, warmup=0)
    got = ids(cfg)
    assert got[0] == "speed_limit"
    assert got[1:4] == ["train:a:eager:r1", "train:b:eager:r1", "train:c:eager:r1"]
    # Every export verified, then (where a microcontroller runtime runs its format) checked there:
    # planned before the later repeats, so their untimed work overlaps the first trainings'.
    assert got[4:10] == ["verify:a:tflite:float32", "microcontroller:micro:a:tflite:float32",
                         "verify:a:tflite:int8", "microcontroller:micro:a:tflite:int8",
                         "verify:a:onnx:float32", "verify:b:onnx:float32"]
    assert got[10:16] == ["train:b:eager:r2", "train:c:eager:r2", "train:a:eager:r2",
                          "train:c:eager:r3", "train:a:eager:r3", "train:b:eager:r3"]
    assert got[16:] == ["timing"]
    jobs = {j.id: j for j in plan(cfg, frozenset(), EXPORTERS, RUNTIMES)}
    assert jobs["train:b:eager:r2"].needs == ("train:b:eager:r1",)
    assert jobs["microcontroller:micro:a:tflite:int8"].needs == ("verify:a:tflite:int8",)
    assert jobs["microcontroller:micro:a:tflite:int8"].stage == "Micro"
    assert jobs["timing"].needs == tuple(i for i in got if i.startswith("train:"))


def test_modes_formats_microcontroller_and_twin_shape_the_plan():
    cfg = RunConfig(frameworks=("a", "b"), repeats=1, warmup=0, modes=("eager", "compiled"), formats=("onnx",),
                    microcontroller=False, twin=True)
    assert ids(cfg) == ["speed_limit", "train:a:eager:r1", "train:a:compiled:r1", "train:b:eager:r1",
                        "train:b:compiled:r1", "verify:a:onnx:float32", "verify:b:onnx:float32", "timing", "twin"]
    assert "twin" not in ids(RunConfig(frameworks=("a", "b"), repeats=1))
    only = ids(RunConfig(frameworks=("a",), repeats=1, formats=("a:tflite:int8",)))
    assert [i for i in only if ":tflite:" in i or ":onnx:" in i] == ["verify:a:tflite:int8",
                                                                     "microcontroller:micro:a:tflite:int8"]


def test_microcontroller_stage_is_chosen_by_capability_not_by_extension():
    onnx_micro = {**RUNTIMES, "micro": Runtime("micro", "m:S", (), "x", formats=("onnx",),
                                               capabilities=frozenset({MICROCONTROLLER}))}
    got = ids(RunConfig(frameworks=("a",), repeats=1), runtimes=onnx_micro)
    assert [i for i in got if i.startswith("microcontroller")] == ["microcontroller:micro:a:onnx:float32"]
    no_micro = {k: v for k, v in RUNTIMES.items() if k != "micro"}
    assert not [i for i in ids(RunConfig(frameworks=("a",), repeats=1), runtimes=no_micro)
                if i.startswith("microcontroller")]


def test_resume_skips_what_is_done_but_always_redoes_the_timing_summary():
    cfg = RunConfig(frameworks=("a", "b"), repeats=2, warmup=0)
    done = {"speed_limit", "train:a:eager:r1", "train:b:eager:r1", "train:b:eager:r2", "timing",
            "verify:a:tflite:float32"}
    assert ids(cfg, done) == ["microcontroller:micro:a:tflite:float32",
                              "verify:a:tflite:int8", "microcontroller:micro:a:tflite:int8",
                              "verify:a:onnx:float32", "verify:b:onnx:float32", "train:a:eager:r2", "timing"]
    assert ids(cfg, set(ids(cfg))) == ["timing"]


def test_warmup_trainings_come_first_and_repeat_1_exports():
    cfg = RunConfig(frameworks=("a", "b"), repeats=2, warmup=1, formats=("onnx",), microcontroller=False)
    trains = [j for j in plan(cfg, exporters=EXPORTERS) if j.kind == "train"]
    assert [(j.framework, j.repeat) for j in trains] == [("a", 1), ("b", 1), ("b", 2), ("a", 2), ("a", 3), ("b", 3)]


def test_the_executor_never_runs_two_jobs_of_one_worker_at_once_and_fills_places_with_others():
    """Three places (--parallel 3): the later repeats of one framework share its worker, so they
    wait for each other, and ready jobs of other workers go first (plan order otherwise); two
    artifacts of one runtime may run at once (a worker each)."""
    import threading
    import time

    from edgebench.pipeline.executor import LocalExecutor
    from edgebench.pipeline.jobs import TRAIN, VERIFY, Job, worker_key

    jobs = [Job(f"train:a:eager:r{r}", TRAIN, "", framework="a", mode="eager", repeat=r) for r in (1, 2, 3)]
    jobs += [Job(f"verify:a:x:{p}", VERIFY, "", framework="a", runtime="lite") for p in ("f", "g")]
    running, seen, started, lock = [], [], [], threading.Lock()

    def do(job):
        with lock:
            running.append(worker_key(job))
            seen.append(sorted(running))
            started.append(job.id)
        time.sleep(0.05)
        with lock:
            running.remove(worker_key(job))

    LocalExecutor(parallel=3).run(jobs, do)
    assert all(s.count("train:a:eager") <= 1 for s in seen), seen  # never two trainings of one worker
    assert any(x.count("verify:lite") == 2 for x in seen)
    assert started[:3] == ["train:a:eager:r1", "verify:a:x:f", "verify:a:x:g"]
    assert sorted(started) == sorted(j.id for j in jobs)
