"""Build and run a generated model folder on the host (cc), to verify it against TFLite Micro.

build_host(gen_dir, work_dir) compiles the generated C with a small host main (written into
work_dir) using `cc -std=c99 -O3` (no -ffast-math, and ISO C99 keeps GCC from contracting a*b+c
into an FMA: float kernels keep IEEE semantics and their order of operations; -O3 vectorizes the
int8 dot products, 1.7x faster than -O2 on ResNet-8 with identical outputs).
run_host(exe, inputs) runs it as a child process: N inputs written to one file as the raw bytes
the model takes, N outputs read back from another; one process for all N.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

CFLAGS = ["-std=c99", "-O3"]

HOST_MAIN = r"""/* edgebench host harness: runs model_invoke on each input record of a file. */
#include <stdio.h>
#include "model.h"

static unsigned char eb_in[EB_MODEL_INPUT_BYTES];
static unsigned char eb_out[EB_MODEL_OUTPUT_BYTES];

int main(int argc, char **argv) {
    FILE *fi, *fo;
    if (argc != 3) {
        fprintf(stderr, "usage: %s inputs.bin outputs.bin\n", argv[0]);
        return 2;
    }
    fi = fopen(argv[1], "rb");
    fo = fopen(argv[2], "wb");
    if (!fi || !fo) {
        fprintf(stderr, "cannot open the input or output file\n");
        return 2;
    }
    while (fread(eb_in, 1, EB_MODEL_INPUT_BYTES, fi) == EB_MODEL_INPUT_BYTES) {
        model_invoke(eb_in, eb_out);
        if (fwrite(eb_out, 1, EB_MODEL_OUTPUT_BYTES, fo) != EB_MODEL_OUTPUT_BYTES) {
            fprintf(stderr, "short write\n");
            return 3;
        }
    }
    fclose(fi);
    return fclose(fo) == 0 ? 0 : 3;
}
"""


# The per-layer dump: the model built with EB_PROFILE and EB_DUMP, its layer marks writing each
# finished layer's output bytes (offset and size from model.json) after every input.
DUMP_MAIN = r"""/* edgebench host harness, per-layer dump: after each layer, its output as the plan holds it. */
#include <stdio.h>
#include <stdint.h>
#include "model.h"
#include "eb_dump_layout.h"

const uint8_t *eb_arena_base(void);
static unsigned char eb_in[EB_MODEL_INPUT_BYTES];
static unsigned char eb_out[EB_MODEL_OUTPUT_BYTES];
static FILE *eb_fo;

void eb_layer_mark(int layer) {
    if (layer > 0 && eb_fo)
        fwrite(eb_arena_base() + eb_dump_offset[layer - 1], 1, eb_dump_bytes[layer - 1], eb_fo);
}

int main(int argc, char **argv) {
    FILE *fi;
    if (argc != 3) {
        fprintf(stderr, "usage: %s inputs.bin layers.bin\n", argv[0]);
        return 2;
    }
    fi = fopen(argv[1], "rb");
    eb_fo = fopen(argv[2], "wb");
    if (!fi || !eb_fo) {
        fprintf(stderr, "cannot open the input or output file\n");
        return 2;
    }
    while (fread(eb_in, 1, EB_MODEL_INPUT_BYTES, fi) == EB_MODEL_INPUT_BYTES)
        model_invoke(eb_in, eb_out);
    fclose(fi);
    return fclose(eb_fo) == 0 ? 0 : 3;
}
"""


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ("error" in ln.lower() or "undefined reference" in ln) and "collect2" not in ln]
    return (errors or lines or ["no output"])[0][:300]


def _compile(gen_dir: Path, work_dir: Path, main_name: str, main_text: str, exe_name: str,
             flags: tuple[str, ...] = (), what: str = "host build") -> Path:
    """gen_dir's C files and a host main (written to work_dir/main_name) into work_dir/exe_name, with
    model.json beside it; RuntimeError if cc is missing or fails."""
    cc = shutil.which("cc")
    if cc is None:
        raise RuntimeError("no host C compiler (cc) on PATH")
    main = work_dir / main_name
    main.write_text(main_text)
    exe = work_dir / exe_name
    sources = sorted(str(p) for p in gen_dir.glob("*.c"))
    cmd = [cc, *CFLAGS, *flags, f"-I{gen_dir}", f"-I{work_dir}", *sources, str(main), "-o", str(exe), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed: {_first_error(proc.stderr)}")
    io = gen_dir / "model.json"
    if io.exists():
        shutil.copyfile(io, exe.with_suffix(".json"))
    return exe


def build_host(gen_dir: Path, work_dir: Path) -> Path:
    """Compile gen_dir's C files and a host main into work_dir/model_host; RuntimeError if cc fails."""
    gen_dir, work_dir = Path(gen_dir).resolve(), Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    return _compile(gen_dir, work_dir, "eb_host_main.c", HOST_MAIN, "model_host")


def build_host_dump(gen_dir: Path, work_dir: Path) -> Path:
    """The generated C built for the host with every layer's output written out after it runs
    (EB_PROFILE + EB_DUMP: the same model.c and kernels as the checked build, plus the marks)."""
    gen_dir, work_dir = Path(gen_dir).resolve(), Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    layers = json.loads((gen_dir / "model.json").read_text())["layers"]
    (work_dir / "eb_dump_layout.h").write_text(
        "static const unsigned long eb_dump_offset[] = {" + ", ".join(str(x["offset"]) for x in layers) + "};\n"
        "static const unsigned long eb_dump_bytes[] = {" + ", ".join(str(x["bytes"]) for x in layers) + "};\n")
    return _compile(gen_dir, work_dir, "eb_dump_main.c", DUMP_MAIN, "model_dump", ("-DEB_PROFILE", "-DEB_DUMP"),
                    "host dump build")


def _run(exe: Path, payload: bytes, names: tuple[str, str], timeout: float | None, what: str) -> bytes:
    """Run a host harness on an input file of payload; the bytes it wrote."""
    work = Path(exe).parent
    fin, fout = work / names[0], work / names[1]
    fin.write_bytes(payload)
    fout.unlink(missing_ok=True)
    try:
        proc = subprocess.run([str(exe), str(fin), str(fout)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} timed out after {timeout} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {_first_error(proc.stderr)}")
    return fout.read_bytes()


def run_host_dump(exe: Path, inputs: np.ndarray, timeout: float | None = 600) -> dict[int, np.ndarray]:
    """Each generated layer's output for N inputs: {tensor index in the .tflite: (N, *shape) array in
    the tensor's dtype}."""
    io = _io(exe)
    layers = io["layers"]
    in_dtype = np.dtype(io["input"]["dtype"])
    x = np.ascontiguousarray(np.asarray(inputs), dtype=in_dtype).reshape(-1)
    n = x.size // int(np.prod(io["input"]["shape"]))
    raw = _run(exe, x.tobytes(), ("eb_dump_inputs.bin", "eb_layers.bin"), timeout, "host dump run")
    per_input = sum(x["bytes"] for x in layers)
    if len(raw) != n * per_input:
        raise RuntimeError(f"host dump wrote {len(raw)} bytes for {n} inputs ({per_input} each)")
    out: dict[int, list] = {x["tensor"]: [] for x in layers}
    pos = 0
    for _ in range(n):
        for x_ in layers:
            a = np.frombuffer(raw, dtype=np.dtype(x_["dtype"]), count=int(np.prod(x_["output_shape"])), offset=pos)
            shape = x_["output_shape"]
            out[x_["tensor"]].append(a.reshape(shape[1:] if shape and shape[0] == 1 else shape))
            pos += x_["bytes"]
    return {k: np.stack(v) for k, v in out.items()}


def _io(exe: Path) -> dict:
    path = Path(exe).with_suffix(".json")
    if not path.exists():
        raise RuntimeError(f"{path.name} missing next to {Path(exe).name} (build with build_host)")
    return json.loads(path.read_text())


def run_host(exe: Path, inputs: np.ndarray, timeout: float | None = 600) -> np.ndarray:
    """Outputs for N inputs, shape (N, *model output shape), in the model's output dtype."""
    io = _io(exe)
    in_dtype, out_dtype = np.dtype(io["input"]["dtype"]), np.dtype(io["output"]["dtype"])
    per_in = int(np.prod(io["input"]["shape"]))
    x = np.ascontiguousarray(np.asarray(inputs), dtype=in_dtype).reshape(-1)
    if x.size % per_in:
        raise RuntimeError(f"inputs of {x.size} values are not a whole number of {per_in}-value inputs")
    n = x.size // per_in
    out = _run(exe, x.astype(in_dtype.newbyteorder("<")).tobytes(), ("eb_inputs.bin", "eb_outputs.bin"), timeout,
               "host model run")
    raw = np.frombuffer(out, dtype=out_dtype.newbyteorder("<")).astype(out_dtype)
    shape = io["output"]["shape"]
    if raw.size != n * int(np.prod(shape)):
        raise RuntimeError(f"host model wrote {raw.size} values for {n} inputs")
    return raw.reshape(n, *shape)
