"""The unit tier's promise, enforced: in-process tests only.

A test here may not start a child process (subprocess, os.fork / posix_spawn / system,
multiprocessing) nor import a framework or Ray. Either fails the test loudly, naming what it did,
even when the code under test catches the error (the attempt is recorded and checked at teardown):
a test that needs one of them belongs in tests/integration (child processes, NumPy backend) or
tests/framework (frameworks), so `make test-fast` stays an edit loop that finishes in seconds.

Finding out whether a framework is installed (importlib.util.find_spec) is allowed: that reads
the file system and imports nothing. The import guard is complete when the tier runs alone, as
`make test-fast` runs it: in one pytest run with tests/framework, a framework that its modules
imported first is already loaded and no longer refused (child processes still are).
"""

import _posixsubprocess
import importlib.abc
import importlib.machinery
import multiprocessing.process
import os
import subprocess
import sys

import pytest

# Top-level packages whose import loads a framework, a runtime or Ray (seconds each, and state that
# outlives the test). Submodules need their parent first, so the top level is enough.
FORBIDDEN_IMPORTS = frozenset({
    "tensorflow", "keras", "tf_keras", "torch", "torchvision", "jax", "jaxlib", "flax", "optax",
    "onnx", "onnxruntime", "onnxscript", "tf2onnx", "ai_edge_litert", "ai_edge_quantizer",
    "litert_torch", "tflite_micro", "executorch", "ray",
})

_violations: list[str] = []
_active = False


class TierViolation(RuntimeError):
    """Raised where a unit test breaks the tier's promise."""


def _refuse(what: str):
    message = f"unit tier: {what}; move this test to tests/integration or tests/framework (see tests/unit/conftest.py)"
    _violations.append(message)
    raise TierViolation(message)


class _RefusingLoader(importlib.abc.Loader):
    def __init__(self, name: str):
        self.name = name

    def create_module(self, spec):
        _refuse(f"imports {self.name}")

    def exec_module(self, module):  # pragma: no cover - create_module already raised
        _refuse(f"imports {self.name}")


class _FrameworkGuard(importlib.abc.MetaPathFinder):
    """Lets find_spec answer truthfully (is it installed?) but makes the import itself fail."""

    def find_spec(self, fullname, path=None, target=None):
        if not _active or fullname.partition(".")[0] not in FORBIDDEN_IMPORTS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None:
            return None  # not installed: the ordinary ModuleNotFoundError follows
        spec.loader = _RefusingLoader(fullname)
        return spec


if not any(isinstance(f, _FrameworkGuard) for f in sys.meta_path):
    sys.meta_path.insert(0, _FrameworkGuard())


def _guarded(name: str, shown_arg: int | None):
    """A stand-in for a process starter that refuses, showing its argument `shown_arg` (the command)."""
    def refuse(*args, **kwargs):
        shown = f" {args[shown_arg]!r}" if shown_arg is not None and len(args) > shown_arg else ""
        _refuse(f"starts a child process ({name}{shown})")
    return refuse


# Popen._execute_child, not Popen.__init__: the half-made Popen is then one that its own __del__
# can clean up. _posixsubprocess.fork_exec is what multiprocessing's spawn and forkserver use.
_PROCESS_STARTERS = [
    (subprocess.Popen, "_execute_child", "subprocess", 1),
    (_posixsubprocess, "fork_exec", "_posixsubprocess.fork_exec", 0),
    (multiprocessing.process.BaseProcess, "start", "multiprocessing Process.start", None),
] + [(os, name, f"os.{name}", 0) for name in (
    "fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "popen", "execv", "execve", "execvp",
    "execvpe", "spawnv", "spawnve", "spawnvp", "spawnvpe") if hasattr(os, name)]


def _already_imported() -> list[str]:
    return sorted(m for m in FORBIDDEN_IMPORTS if m in sys.modules)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """Guard imports while this tier's modules are collected (their module-level imports)."""
    global _active
    _active = True
    try:
        return (yield)
    finally:
        _active = False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.unit_tier_call_failed = report.failed
    return report


@pytest.fixture(autouse=True, scope="session")
def _matplotlib_font_cache():
    """Matplotlib builds its font cache on first use, on a fresh machine by running `fc-list`: a
    one-off of the machine, not of the code under test, so it is done here, before any guard."""
    try:
        import matplotlib.font_manager  # noqa: F401  (loads or builds the cache)
    except ImportError:
        pass


@pytest.fixture(autouse=True)
def _unit_tier_promise(monkeypatch, request, _matplotlib_font_cache):
    global _active
    for owner, attr, name, shown_arg in _PROCESS_STARTERS:
        monkeypatch.setattr(owner, attr, _guarded(name, shown_arg))
    _violations.clear()
    before = set(_already_imported())
    _active = True
    try:
        yield
    finally:
        _active = False
    broken = list(_violations) + [f"unit tier: imported {m}" for m in sorted(set(_already_imported()) - before)]
    _violations.clear()
    # A violation that made the test fail is reported there already; this catches the ones that the
    # code under test swallowed (a broad except around a subprocess call, an optional import).
    if broken and not getattr(request.node, "unit_tier_call_failed", False):
        pytest.fail("\n".join(dict.fromkeys(broken)), pytrace=False)
