import gzip
import hashlib
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

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


def have(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


needs_tf = pytest.mark.skipif(not have("tensorflow", "ai_edge_litert"), reason="tensorflow not installed")
needs_torch = pytest.mark.skipif(not have("torch", "onnxruntime", "onnxscript"), reason="torch not installed")
