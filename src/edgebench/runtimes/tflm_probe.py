"""The TFLite Micro probe server: one process per caller that imports TFLM once and forks one
child per probe (load a model with an arena size, set one input, invoke).

Why a server: TFLM's Python wrapper can segfault when the arena is too small and says why a model
cannot load only on the C-level stderr, so each probe runs in a child whose death is just a "no".
Forking the caller is unsafe once it runs threads (JAX, TensorFlow, a BLAS pool: a lock held by
another thread at the fork stays held in the child, and the probe hangs). This process runs no
threads of its own (its BLAS pools are held to one thread by its environment), so forking it is
safe, and a fork of an already-imported TFLM costs milliseconds.

Protocol, one JSON line each way: {"model": PATH, "arena": N|null, "sample": NPY_PATH,
"print_allocations": bool} -> {"code": EXIT_CODE, "stderr": TEXT} (the child's stdout and stderr,
both redirected to a file).
"""

from __future__ import annotations

import faulthandler
import gc
import json
import os
import sys
import tempfile

import numpy as np


def _child(runtime, model: bytes, arena, sample: np.ndarray, print_allocations: bool, out_fd: int) -> None:
    code = 1
    try:
        # No garbage collection and no fault handler: a crash here is an expected "no".
        gc.disable()
        faulthandler.disable()
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        it = runtime.Interpreter.from_bytes(model, arena_size=arena)
        it.set_input(sample, 0)
        it.invoke()
        if print_allocations:
            it.print_allocations()
        code = 0
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def serve() -> None:
    from tflite_micro.python.tflite_micro import runtime

    models: dict[str, bytes] = {}
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed here goes to stderr, never into the replies
    for line in sys.stdin:
        req = json.loads(line)
        model = models.get(req["model"])
        if model is None:
            models.clear()
            model = models[req["model"]] = open(req["model"], "rb").read()
        sample = np.load(req["sample"])
        with tempfile.TemporaryFile() as out:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(runtime, model, req["arena"], sample, req["print_allocations"], out.fileno())
            _, status = os.waitpid(pid, 0)
            out.seek(0)
            text = out.read().decode(errors="replace")
        reply.write(json.dumps({"code": os.waitstatus_to_exitcode(status), "stderr": text}) + "\n")
        reply.flush()


if __name__ == "__main__":
    serve()
