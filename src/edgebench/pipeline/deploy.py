"""`edgebench deploy MODEL`: the deployment half of a run, on a model file a user brings.

Everything that can be wrong with the file or the data is found before anything is written: the
file's kind from its name and first bytes (sources.sniff), then the file opened and described in
a child process (an InspectTask in a scratch folder: a framework that crashes on a corrupt file
takes only that child down), then its input checked against the data set's images and its output
against the labels. Only then is the run folder made. Its jobs are a source job (the model on the
test set, its logits the reference, then every export it reaches) followed by the same verify and
microcontroller jobs `run` plans, run by the same handlers: one deployment path for both.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from edgebench import data
from edgebench.config import DeployConfig, validate_deploy
from edgebench.errors import UserError
from edgebench.measure.boards import boards_for
from edgebench.models.network import ModelShape
from edgebench.pipeline.handlers import HANDLERS, LAYER_OUTPUTS, drop_layer_outputs, exported
from edgebench.pipeline.inputs import boards_record, inference, skeleton, timed_sections_note, write_calibration
from edgebench.pipeline.jobs import SOURCE, DataRef, InspectTask, Job, SourceTask
from edgebench.pipeline.plan import artifact_jobs, selected_exporters
from edgebench.pipeline.run import Run
from edgebench.pipeline.runner import run_child
from edgebench.pipeline.store import INPUTS, RunStore, default_run_dir, forget_unfinished_artifacts
from edgebench.results.schema import RunResults, Source
from edgebench.sources import KINDS, SourceError, exporters_for, fit_input, image_shape_of, sniff

STAGE_SOURCE = "source model on the test set, with exports"
GENERATED = "generated_inputs.npz"  # --dataset none: the inputs, as the run used them


def input_range(facts: dict, cfg: DeployConfig) -> tuple[float, float, str]:
    """The value range generated inputs are drawn from, and why: --input-range when given; for a
    quantized input, the float range its scale and zero point cover; else [0, 1] (images)."""
    if cfg.input_range is not None:
        return float(cfg.input_range[0]), float(cfg.input_range[1]), "--input-range"
    inp = facts["input"]
    q = inp.get("quantization")
    if q:
        lo_q, hi_q = (-128, 127) if inp["dtype"] == "int8" else (0, 255)
        return ((lo_q - q["zero_point"]) * q["scale"], (hi_q - q["zero_point"]) * q["scale"],
                f"the range the input's {inp['dtype']} scale {q['scale']:.6g} and zero point {q['zero_point']} cover")
    return 0.0, 1.0, "[0, 1], float input (say --input-range LO,HI for another)"


def generate_inputs(facts: dict, cfg: DeployConfig, path: Path, scratch_dir: Path):
    """--dataset none: cfg.samples inputs in the model's own (channels-last) shape, uniform in its
    range, from the seed; written to an .npz (x_test, and x_calib: the same inputs) in scratch_dir,
    which the run folder takes over. Returns the Dataset and the record of how they were made."""
    from edgebench.sources import image_shape_of

    shape = image_shape_of(facts)
    if shape is None:
        raise SourceError(f"{path}: the input {facts['input']['shape']} has a dynamic dimension besides the batch, "
                          "so inputs cannot be generated; give --dataset")
    lo, hi, why = input_range(facts, cfg)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 17]))
    x = rng.uniform(lo, hi, (cfg.samples, *shape)).astype(np.float32)
    scratch = Path(scratch_dir) / GENERATED
    np.savez(scratch, x_test=x, x_calib=x[:cfg.calibration_samples])
    record = {"samples": cfg.samples, "shape": list(shape), "low": lo, "high": hi, "range_from": why,
              "distribution": "uniform", "seed": cfg.seed, "scratch": scratch,
              "note": "no data set: inputs generated in the model's input shape and range; accuracy is not "
                      "reported, agreement between the source and each artifact (and LiteRT and TFLite Micro) is"}
    return data.load_npz(scratch), record


def output_task(asked: str, facts: dict, labelled: bool) -> dict:
    """Are the model's outputs class scores (top-1 agreement and accuracy mean something) or values
    (a reconstruction, a regression: the error and its distribution do)? --task says so; auto decides
    from the data and the graph, and records how."""
    if asked != "auto":
        return {"kind": asked, "decided_by": f"--task {asked}"}
    out = facts["output"]["shape"]
    n_out = out[-1] if out else 0
    n_in = int(np.prod([d for d in facts["input"]["shape"][1:] if d > 0])) if facts["input"]["shape"] else 0
    last = ((facts.get("layer_table") or [{}])[-1]).get("type", "")
    if labelled:
        return {"kind": "classification", "decided_by": "the data set has labels"}
    if "softmax" in str(last).lower():
        return {"kind": "classification", "decided_by": f"the graph ends in {last}"}
    if n_out == n_in and n_out > 1:
        return {"kind": "regression", "decided_by": f"the output has as many values as the input ({n_out}): a "
                                                    "reconstruction (an autoencoder), not class scores"}
    if n_out < 2:
        return {"kind": "regression", "decided_by": "one output value: not class scores"}
    return {"kind": "classification", "decided_by": f"{n_out} outputs, not a reconstruction of the input "
                                                    "(--task regression if they are not class scores)"}


def inspect(path: Path, kind: str) -> dict:
    """The model file's facts, read in a child process in a scratch folder; SourceError when the
    file cannot be deployed (its own one-line reason, or how the loader died)."""
    with tempfile.TemporaryDirectory(prefix="edgebench-inspect-") as tmp:
        task = InspectTask(name="inspect", file=str(Path(path).resolve()), source_kind=kind)
        res = run_child(task, Path(tmp), Path(tmp) / "inspect.log", 1, lambda ev: None)
    if res.outcome is not None and res.outcome.status == "failed" and res.outcome.error:
        raise SourceError(res.outcome.error)
    if not res.ok:
        raise SourceError(f"{path}: could not be read as a {KINDS[kind][2]} ({res.failure('the loader')})")
    return res.outcome.record


def plan_deploy(cfg: DeployConfig, framework: str, exporters: list, done: frozenset[str] | set[str] = frozenset(),
                runtimes: dict | None = None) -> list[Job]:
    """The source job, then one verify job per selected export and a microcontroller job for each
    export a microcontroller runtime runs (as `run` plans them)."""
    jobs = [Job(SOURCE, SOURCE, STAGE_SOURCE, framework=framework)]
    jobs += artifact_jobs(cfg, selected_exporters(cfg, framework, exporters), (SOURCE,), runtimes)
    return [j for j in jobs if j.id not in done]


class Deploy(Run):
    """One deployment run: the Run machinery (store, handlers, reports) with a source job where
    `run` has trainings."""

    def __init__(self, cfg: DeployConfig, on_event=None, resume: RunResults | None = None, writer=None):
        """resume: the results.json of an unfinished deploy in cfg.out, to continue it from the copy of
        the model file and the inputs it kept."""
        validate_deploy(cfg)
        self.writer = writer
        self._concurrency(on_event)
        self.t0 = time.perf_counter()
        self.notices: list[str] = []  # said before anything else (the CLI's first lines)
        if resume is not None:
            self._resume(cfg, resume)
            return
        path = Path(cfg.model).expanduser()
        self.kind = sniff(path)
        self.framework = KINDS[self.kind][0]
        # The data first (cheap, and its errors are the user's too), then the model in a child.
        # --dataset none: inputs generated in the model's own shape and range, after reading it.
        self.generated: dict | None = None
        if cfg.dataset is None:  # not given: MNIST if the model takes its images, else generated inputs
            cfg = self._auto_dataset(cfg, path)
        elif str(cfg.dataset).lower() == "none":
            self.facts = inspect(path, self.kind)
            self._generate(cfg, path)
        else:
            self.dataset = data.load_any(cfg.dataset, limit_test=cfg.limit_test, limit_train=cfg.limit_train)
            self.facts = inspect(path, self.kind)
        self.facts["file"] = str(path)
        ds = self.dataset
        fit_input(self.facts, ds.image_shape, f"--dataset {cfg.dataset}")
        self.net = self._shape(path, ds, cfg)
        self.task = output_task(cfg.task, self.facts, bool(len(ds.y_test)))
        self.exporters = exporters_for(self.kind, self.facts)
        self.cfg = cfg
        self.store = store = RunStore.create(Path(cfg.out) if cfg.out else default_run_dir())
        self.dir = self.store.dir
        self.results: RunResults | None = None
        self.resuming = False
        self.done: set[str] = set()
        self.boards = boards_for(cfg.boards)
        self.data_ref = DataRef(cfg.dataset, cfg.limit_train, cfg.limit_test)
        self.source_file = path
        if self.generated is not None:  # kept in the run folder: the run can be reproduced from it
            store.inputs.mkdir()
            kept = store.inputs / GENERATED
            shutil.move(self.generated.pop("scratch"), kept)
            digest = self.dataset.checksums[GENERATED]  # the same bytes, read when they were loaded
            self.generated.update(file=f"inputs/{GENERATED}", sha256=digest)
            self.dataset = dataclasses.replace(self.dataset, source=str(kept))
            self.data_ref = DataRef(str(kept.resolve()), None, None)

    def _generate(self, cfg: DeployConfig, path: Path) -> None:
        # Removed with this object if the deploy stops before its run folder exists.
        self._scratch = tempfile.TemporaryDirectory(prefix="edgebench-generated-")
        self.dataset, self.generated = generate_inputs(self.facts, cfg, path, Path(self._scratch.name))

    def _auto_dataset(self, cfg: DeployConfig, path: Path) -> DeployConfig:
        """No --dataset: MNIST when the model's input takes its images, else generated inputs, said on the
        first line (so a model for another task is profiled, not refused)."""
        self.facts = inspect(path, self.kind)
        self.facts["file"] = str(path)
        if cfg.input_range is None:
            mnist = data.load_any("mnist", limit_test=cfg.limit_test, limit_train=cfg.limit_train)
            try:
                fit_input(self.facts, mnist.image_shape, "--dataset mnist")
                self.dataset = mnist
                return dataclasses.replace(cfg, dataset="mnist")
            except SourceError:
                pass
        cfg = dataclasses.replace(cfg, dataset="none")
        self._generate(cfg, path)
        why = ("--input-range was given" if cfg.input_range is not None else
               f"its input {self.facts['input']['shape']} does not take MNIST's 28x28x1 images")
        self.notices.append(f"{path.name}: {why}, so it is profiled on {cfg.samples} generated inputs (as --dataset "
                            "none: agreement between runtimes, no accuracy); give --dataset for real data")
        self.generated["chosen"] = f"automatically: no --dataset was given and {why}"
        return cfg

    def _shape(self, path: Path, ds, cfg: DeployConfig) -> ModelShape:
        classes = self.facts["output"]["shape"]
        if len(classes) != 2:
            raise SourceError(f"{path}: the model's output has shape {classes}; expected [batch, outputs]")
        n_out = classes[1]
        if len(ds.y_test) and n_out > 0 and ds.num_classes > n_out:
            raise SourceError(f"{path}: the model gives {n_out} outputs but the labels of --dataset {cfg.dataset} "
                              f"go up to {ds.num_classes - 1}")
        shape = image_shape_of(self.facts) or tuple(ds.image_shape)
        if len(shape) == 1:  # a flat input: the images as rows
            shape = (int(np.prod(ds.image_shape)),)
        return ModelShape(path.name, tuple(int(d) for d in shape), n_out if n_out > 0 else ds.num_classes,
                          self.facts["weighted_layers"], self.facts["max_fan_in"], self.facts["parameters"])

    def _resume(self, cfg: DeployConfig, r: RunResults) -> None:
        """Continue an unfinished deploy from what its folder keeps: the copy of the model file (checked
        against its SHA-256), the data set (checked against its checksums) or the generated inputs."""
        folder = Path(cfg.out)
        src = r.source
        self.kind, self.framework = src.kind, src.framework
        self.facts = src.facts
        self.copy = folder / src.copy_
        self.source_file = Path(src.file)
        if src.sha256 and (not self.copy.is_file() or data.sha256_file(self.copy) != src.sha256):
            raise UserError(f"--resume {folder}: {self.copy} is missing or changed since the deploy started; "
                            "start a new deploy")
        gen = r.dataset.get("generated")
        if gen:
            kept = folder / gen["file"]
            if not kept.is_file() or data.sha256_file(kept) != gen["sha256"]:
                raise UserError(f"--resume {folder}: {kept} is missing or changed since the deploy started")
            self.dataset = dataclasses.replace(data.load_npz(kept), source=str(kept))
            self.data_ref = DataRef(str(kept.resolve()), None, None)
            self.generated = gen
        else:
            self.dataset = data.load_any(cfg.dataset, limit_test=cfg.limit_test, limit_train=cfg.limit_train)
            if self.dataset.checksums != r.config.get("dataset_sha256", self.dataset.checksums):
                raise UserError(f"--resume {folder}: the dataset '{cfg.dataset}' changed since the deploy started")
            self.data_ref = DataRef(cfg.dataset, cfg.limit_train, cfg.limit_test)
            self.generated = None
        self.net = self._shape(self.source_file, self.dataset, cfg)
        self.task = r.task or {"kind": "classification", "decided_by": "a deploy from before --task"}
        self.exporters = exporters_for(self.kind, self.facts)
        self.cfg = cfg
        self.store = RunStore.reopen(folder)
        self.dir = self.store.dir
        self.results = r
        self.resuming = True
        self.done = set()
        self.boards = boards_for(cfg.boards)

    def _jobs(self) -> RunResults:
        if self.resuming:
            self._reopen()
        else:
            self.results = self._inputs()
            self.save()
        self.done = set(self.results.progress.done)
        self._schedule(plan_deploy(self.cfg, self.framework, self.exporters, self.done))
        self._finish()
        drop_layer_outputs(self.store.dir)
        return self.results

    def _reopen(self) -> None:
        """Forget what was cut short: the source job (and so every export) if it had not finished, else
        the verifications and microcontroller checks that had not."""
        r = self.results
        done = set(r.progress.done)
        if SOURCE not in done:
            done = set()
            r.artifacts = []
            r.source.status, r.source.error = "pending", None
        forget_unfinished_artifacts(r, done)
        r.progress.done = sorted(done)
        self._reopened()

    def _inputs(self) -> RunResults:
        """The model file copied into the run (what was deployed, byte for byte), calibration
        indices, and the results skeleton."""
        cfg, ds, store = self.cfg, self.dataset, self.store
        src_dir = self.dir / "source"
        src_dir.mkdir()
        copy = src_dir / self.source_file.name
        if self.source_file.is_dir():
            shutil.copytree(self.source_file, copy)
            digest = None
        else:
            shutil.copyfile(self.source_file, copy)
            digest = data.sha256_file(copy)
        self.copy = copy
        store.inputs.mkdir(exist_ok=True)
        n_cal = write_calibration(cfg, ds, store)
        (self.dir / self.framework).mkdir(exist_ok=True)
        return RunResults.model_validate({
            **skeleton(cfg, ds, store),
            "command": "deploy",
            "task": self.task,
            "dataset": ds.describe() | ({"labels": False} if not len(ds.y_test) else {})
                       | ({"name": "generated", "generated": self.generated,
                           "scaling": "generated float32 values, used as they are (an int8 input quantizes them with "
                                      "its own scale)"} if self.generated else {}),
            "model": self.net.describe() | {"source_kind": self.kind, "input": self.facts["input"],
                                            "output": self.facts["output"]}
                     | {k: self.facts[k] for k in ("macs_per_sample", "layer_table") if k in self.facts},
            "source": {"file": str(self.source_file), "copy": str(copy.relative_to(self.dir)), "sha256": digest,
                       "kind": self.kind, "kind_title": KINDS[self.kind][2], "framework": self.framework,
                       "facts": self.facts, "status": "pending"},
            "fairness": {
                "calibration": {"file": f"inputs/{INPUTS[2]}", "samples": n_cal,
                                "note": ("the generated inputs themselves (no data set was given): a real "
                                         "calibration set gives better int8 models" if self.generated else
                                         "x_calib of the .npz" if ds.source.endswith(".npz") else
                                         "training images drawn without replacement from the seed")
                                        + "; the same images calibrate every static int8 export"},
                "reference": "every artifact is compared with the source model's own logits, computed in its "
                             "own framework (a .keras or SavedModel in TensorFlow, a .pt2 in PyTorch, an .onnx "
                             "in ONNX Runtime, a .tflite in LiteRT) on the same test images",
                "inference": inference(cfg),
                "layout": "test images are channels-last (N, H, W, C); each model and artifact gets them in its "
                          "own declared layout (transposed to NCHW, or flattened), recorded in its io",
                "dtype": "float32 images; an artifact with int8 input gets them quantized with its own scale",
                "isolation": "one child process for the source model and its exports; "
                             + ("one child process per artifact check (--fresh-process-per-repeat)"
                                if cfg.fresh_process_per_repeat else
                                "one long-lived worker per runtime for all of its artifacts (a crash names the "
                                "artifact; the next artifact gets a fresh worker)"),
                "timed_sections": timed_sections_note(cfg),
            },
            **boards_record(self.boards),
            "trainings": [],
            "artifacts": [],
            "progress": {"done": [], "note": "ids of the finished jobs (ok, failed or skipped)"},
        })

    def statuses(self) -> list[str]:
        return [self.results.source.status] + [a.status for a in self.results.artifacts]

    def _interrupted(self, why: str | None = None) -> None:
        src = self.results.source if self.results is not None else None
        if src is not None and src.status == "running":
            src.status, src.error = "interrupted", why or "interrupted before the source model and its exports finished"
        super()._interrupted(why)


def source(run: Deploy, job: Job) -> bool:
    """The source model on the test set (its logits: every artifact's reference), then its exports."""
    entry = run.results.source
    entry.status = "running"
    fw_dir = run.dir / run.framework
    selected = [e.name for e in selected_exporters(run.cfg, run.framework, run.exporters)]
    task = SourceTask(name="source", file=str(run.copy), source_kind=run.kind, fw_dir=str(fw_dir),
                      data=run.data_ref, threads=run.cfg.threads, network=run.net.describe(),
                      exports=tuple(selected), calibration_path=str(run.store.input_path(INPUTS[2])),
                      layer_samples=run.cfg.layer_samples if run.cfg.layers != "none" else 0,
                      layer_outputs=str(fw_dir / LAYER_OUTPUTS) if run.cfg.layers != "none" else "")
    label = f"{run.source_file.name} ({run.kind})"
    run.on_event(label, {"event": "start", "kind": "source", "total": None})
    res = run.child(task, run.cfg.threads, label)
    entry.log, entry.process_wall_s = "logs/source.log", res.wall_s
    if res.outcome is None or res.outcome.status != "ok":
        entry.status, entry.error, entry.exit_code = "failed", res.failure(f"{label}"), res.returncode
        run.on_event(label, {"event": "failed", "error": entry.error})
        return True
    arts = exported(res)
    run.results.source = Source.model_validate({**entry.model_dump(by_alias=True), **res.outcome.record,
                                                "status": "ok", "error": None})
    run.results.artifacts.extend(arts)
    run.on_event(label, {"event": "done", "kind": "source"})
    return True


HANDLERS[SOURCE] = source
