import dataclasses
import gzip
import hashlib
import importlib
import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgebench import registry
from edgebench.data import bundled_mnist_dir

_CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B, np.dtype("int32"): 0x0C,
          np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}


def encode_idx(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr)
    header = bytes([0, 0, _CODES[arr.dtype], arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = False) -> Path:
    raw = encode_idx(arr)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def make_idx_folder(folder: Path, n_train=60, n_test=20, gz=True, shape=(28, 28), classes=10, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sfx = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_train, *shape), dtype=np.uint8), gz)
    write_idx(folder / f"train-labels-idx1-ubyte{sfx}", rng.integers(0, classes, n_train).astype(np.uint8), gz)
    write_idx(folder / f"t10k-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_test, *shape), dtype=np.uint8), gz)
    write_idx(folder / f"t10k-labels-idx1-ubyte{sfx}", rng.integers(0, classes, n_test).astype(np.uint8), gz)
    return folder


def write_sums(folder: Path) -> None:
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(folder.iterdir())
             if p.name != "SHA256SUMS"]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


@pytest.fixture
def idx_folder(tmp_path):
    return make_idx_folder(tmp_path / "idx")


@pytest.fixture
def mnist_copy(tmp_path):
    """A writable copy of the bundled MNIST folder, SHA256SUMS included."""
    dst = tmp_path / "mnist"
    shutil.copytree(bundled_mnist_dir(), dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


@pytest.fixture
def no_frameworks(monkeypatch):
    """Every framework in the registry made absent (a module that does not exist)."""
    for name, p in registry.frameworks().items():
        monkeypatch.setitem(registry.FRAMEWORKS, name,
                            dataclasses.replace(p, target="edgebench.nothing:Nothing",
                                                modules=(f"edgebench_absent_{name}",)))


def have(*modules: str) -> bool:
    """Whether every module is installed (found, not imported)."""
    return all(importlib.util.find_spec(m) is not None for m in modules)


# -- Tiers: a test's directory is its tier, and sets its marker (so `-m` selects by tier too). --

TIERS = ("unit", "integration", "timing", "framework")


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).parent
    wrong = []
    for item in items:
        tier = item.path.relative_to(root).parts[0]
        if tier not in TIERS:
            wrong.append(f"{item.nodeid}: not in a tier's folder ({', '.join('tests/' + t for t in TIERS)})")
            continue
        others = {m.name for m in item.iter_markers()} & set(TIERS) - {tier}
        if others:
            wrong.append(f"{item.nodeid}: marked {', '.join(sorted(others))} but in tests/{tier}: move it")
        item.add_marker(tier)
    if wrong:
        raise pytest.UsageError("tests outside their tier:\n" + "\n".join(wrong))


# -- What the project installs: skipped without it on a developer's machine, failed under CI=true. --
# CI (.ci/run) installs all of it: the `all`, `cluster` and `test` extras, Debian's
# dataset-fashion-mnist and chromium, and reads MLPerf Tiny's models from ../shared. A skip there
# would hide that a tier did not run, so there it fails, naming what is missing. Skips that depend on
# the platform (no C compiler) stay plain skips.

ON_CI = os.environ.get("CI", "").lower() == "true"


def extra(name: str) -> str:
    return f"pip install -e '.[{name}]'"


def missing(what: str, install: str, module_level: bool = False) -> None:
    """Skip (fail under CI=true): `what` is not installed; `install` says how to get it."""
    message = f"not installed: {what} ({install})"
    if ON_CI:
        pytest.fail(f"CI=true, yet {message}; CI installs it, so this test must run there", pytrace=False)
    pytest.skip(message, allow_module_level=module_level)


def need(available: bool, what: str, install: str) -> None:
    """Inside a test or fixture: go on only if `available` (else missing())."""
    if not available:
        missing(what, install)


def need_modules(*modules: str, extra_name: str) -> None:
    absent = [m for m in modules if not have(m)]
    need(not absent, " and ".join(absent), extra(extra_name))


def import_or_missing(module: str, extra_name: str):
    """pytest.importorskip at a module's top, with the CI rule."""
    if not have(module):
        missing(module, extra(extra_name), module_level=True)
    return importlib.import_module(module)


def needs(available: bool, what: str, install: str) -> pytest.MarkDecorator:
    """The marker form of need(), for a test, a module's pytestmark or a pytest.param."""
    return pytest.mark.needs(available, what, install)


def needs_modules(*modules: str, extra_name: str) -> pytest.MarkDecorator:
    absent = [m for m in modules if not have(m)]
    return needs(not absent, " and ".join(absent) or " and ".join(modules), extra(extra_name))


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs"):
        need(*mark.args)


needs_tf = needs_modules("tensorflow", "ai_edge_litert", extra_name="tf")
needs_torch = needs_modules("torch", "onnxruntime", "onnxscript", extra_name="torch")
needs_jax = needs_modules("jax", "flax", "optax", extra_name="jax")
needs_tflm = needs_modules("tflite_micro", extra_name="tflm")
_ARM_TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
_ARM_MISSING = [t for t in _ARM_TOOLS if shutil.which(t) is None]
# The firmware stage's Arm toolchain and emulator (Debian packages; .ci/run installs them).
needs_arm = needs(not _ARM_MISSING, " and ".join(_ARM_MISSING) or "the Arm toolchain",
                  "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no host C compiler (cc)")


# -- results.json (schema 2) artifacts, read raw: each runtime's result by name. --


def result_of(a: dict, runtime: str) -> dict:
    """The result `runtime` recorded on a raw results.json artifact; fails naming the artifact and the
    runtimes that did record one when it has none."""
    found = [x for x in a.get("results", []) if x["runtime"] == runtime]
    if not found:
        key = (a.get("framework"), a.get("format"), a.get("precision"))
        pytest.fail(f"{key}: no result of runtime {runtime!r} (results from: "
                    f"{[x['runtime'] for x in a.get('results', [])]})", pytrace=False)
    return found[0]


def host(a: dict) -> dict:
    """The host runtime's result (the runtime that verifies the artifact, against its source)."""
    res = result_of(a, a["runtime"])
    assert res["role"] == "host" and res["reference"] == "source", res
    return res


# Microcontroller runtimes compared with another microcontroller runtime rather than the host one.
MCU_REFERENCES = {"firmware": "tflm"}


def mcu(a: dict, name: str = "tflm") -> dict:
    """A microcontroller runtime's result (default TFLite Micro's), against the host runtime's (the
    generated firmware: against TFLite Micro's where it ran the file)."""
    res = result_of(a, name)
    assert res["role"] == "microcontroller" and res["reference"] in (a["runtime"], MCU_REFERENCES.get(name)), res
    return res


def mcu_results(a: dict) -> list[dict]:
    """Every microcontroller runtime's result on a raw artifact (none where none ran it)."""
    return [x for x in a.get("results", []) if x["role"] == "microcontroller"]
