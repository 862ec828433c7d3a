"""Datasets: an IDX reader, the bundled (checksum-verified) MNIST, Fashion-MNIST from Debian,
any folder of IDX files, and the shared batch order.

Everything returned is plain NumPy; frameworks convert at their own edge.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from edgebench.errors import DataError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# IDX type codes (the third magic byte) -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_FILE_RE = re.compile(r"^(train|t10k|test)[-_.](images|labels)[-_.]idx(\d)[-_.]ubyte(\.gz)?$")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return raw


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse an IDX buffer (already decompressed) into an array of its declared shape."""
    if len(data) < 4:
        raise DataError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{name}: not an IDX file (magic number starts {data[0]:#04x} {data[1]:#04x}, expected 0x00 0x00)"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{name}: unknown IDX data type code {code:#04x}")
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX header (needs {header} bytes, has {len(data)})")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual < expected:
        raise DataError(
            f"{name}: truncated: header declares shape {shape} ({expected} bytes of data) but the file has {actual}"
        )
    if actual > expected:
        raise DataError(
            f"{name}: {actual - expected} unexpected bytes after the data declared by the header {shape}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape)), offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: Path) -> np.ndarray:
    return parse_idx(_read_bytes(Path(path)), str(path))


@dataclass
class Dataset:
    """Images scaled to [0, 1] float32 and flattened; labels int64."""

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    image_shape: tuple[int, ...]
    checksums: dict[str, str] = field(default_factory=dict)
    checksum_verified: bool = False

    @property
    def input_size(self) -> int:
        return int(np.prod(self.image_shape))

    def describe(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "train_samples": int(len(self.x_train)),
            "test_samples": int(len(self.x_test)),
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "scaling": "uint8 / 255 -> float32 in [0, 1], flattened",
            "sha256": self.checksums,
            "checksum_verified": self.checksum_verified,
        }


def _find_files(folder: Path) -> dict[tuple[str, str], Path]:
    found: dict[tuple[str, str], Path] = {}
    for p in sorted(folder.iterdir()):
        m = _FILE_RE.match(p.name)
        if not m:
            continue
        split = "train" if m.group(1) == "train" else "test"
        key = (split, m.group(2))
        # Prefer the uncompressed file if both are present.
        if key not in found or not p.name.endswith(".gz"):
            found[key] = p
    return found


def _read_sums(folder: Path) -> dict[str, str]:
    sums_file = folder / "SHA256SUMS"
    if not sums_file.is_file():
        return {}
    sums = {}
    for line in sums_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def load_folder(folder: Path, name: str, *, limit_train: int | None = None, limit_test: int | None = None,
                splits: tuple[str, ...] = ("train", "test"), num_classes: int | None = None) -> Dataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: dataset folder not found")
    files = _find_files(folder)
    for split in splits:
        for kind in ("images", "labels"):
            if (split, kind) not in files:
                prefix = "train" if split == "train" else "t10k"
                raise DataError(
                    f"{folder}: no {split} {kind} file (expected e.g. {prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte[.gz])"
                )
    expected = _read_sums(folder)
    checksums: dict[str, str] = {}
    arrays: dict[tuple[str, str], np.ndarray] = {}
    for split in splits:
        for kind in ("images", "labels"):
            path = files[(split, kind)]
            digest = sha256_file(path) if path.exists() else None
            if digest is None:
                raise DataError(f"{path}: file not found")
            if path.name in expected and expected[path.name] != digest:
                raise DataError(
                    f"{path}: SHA-256 mismatch (expected {expected[path.name][:16]}..., got {digest[:16]}...): "
                    "the file is corrupt or was replaced"
                )
            checksums[path.name] = digest
            arrays[(split, kind)] = read_idx(path)

    def split_arrays(split: str, limit: int | None):
        x, y = arrays[(split, "images")], arrays[(split, "labels")]
        xi, yi = files[(split, "images")], files[(split, "labels")]
        if x.ndim < 2:
            raise DataError(f"{xi}: images must have at least 2 dimensions (N, ...), got shape {x.shape}")
        if y.ndim != 1:
            raise DataError(f"{yi}: labels must be one-dimensional, got shape {y.shape}")
        if len(x) != len(y):
            raise DataError(f"{xi.name} has {len(x)} images but {yi.name} has {len(y)} labels")
        if len(x) == 0:
            raise DataError(f"{xi}: contains no images")
        if limit is not None:
            x, y = x[:limit], y[:limit]
        return x, y

    out = {s: split_arrays(s, lt) for s, lt in zip(("train", "test"), (limit_train, limit_test)) if s in splits}
    image_shape = next(iter(out.values()))[0].shape[1:]
    for s, (x, _) in out.items():
        if x.shape[1:] != image_shape:
            raise DataError(f"{folder}: train images are {image_shape} but {s} images are {x.shape[1:]}")
    num_classes = check_labels({s: (files[(s, "labels")], arrays[(s, "labels")]) for s in splits}, num_classes)

    def prep(x):
        x = np.asarray(x)
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / np.float32(255.0)
        else:
            x = x.astype(np.float32)
        return np.ascontiguousarray(x.reshape(len(x), -1))

    empty_x = np.zeros((0, int(np.prod(image_shape))), np.float32)
    empty_y = np.zeros((0,), np.int64)
    tr = out.get("train")
    te = out.get("test")
    return Dataset(
        name=name,
        source=str(folder),
        x_train=prep(tr[0]) if tr else empty_x,
        y_train=tr[1].astype(np.int64) if tr else empty_y,
        x_test=prep(te[0]) if te else empty_x,
        y_test=te[1].astype(np.int64) if te else empty_y,
        num_classes=num_classes,
        image_shape=tuple(int(d) for d in image_shape),
        checksums=checksums,
        checksum_verified=bool(expected) and all(n in expected for n in checksums),
    )


def bundled_mnist_dir() -> Path:
    return Path(str(resources.files("edgebench") / "datasets" / "mnist"))


def resolve(dataset: str) -> tuple[str, Path]:
    """Map a --dataset value to (name, folder), with an actionable error when it is absent."""
    key = dataset.strip()
    if key.lower() == "mnist":
        return "mnist", bundled_mnist_dir()
    if key.lower() in ("fashion-mnist", "fashion_mnist", "fashionmnist"):
        if not FASHION_MNIST_DIR.is_dir():
            raise DataError(
                f"fashion-mnist not found in {FASHION_MNIST_DIR}; install it with "
                "'sudo apt-get install dataset-fashion-mnist' or pass --dataset PATH to a folder of IDX files"
            )
        return "fashion-mnist", FASHION_MNIST_DIR
    path = Path(key).expanduser()
    if not path.exists():
        raise DataError(
            f"--dataset '{dataset}': not 'mnist' or 'fashion-mnist', and no such folder"
        )
    if not path.is_dir():
        raise DataError(f"--dataset '{dataset}': is a file; pass the folder holding the four IDX files")
    return path.name or str(path), path


def check_labels(labels: dict[str, tuple[Path, np.ndarray]], num_classes: int | None) -> int:
    """The number of classes K, from the whole label files (not a --limit slice). With num_classes
    given, every label must lie in 0..K-1; without, K is the largest label + 1 and each of the K
    classes must have a training example (a stray label would otherwise make a bigger network
    without a word). A DataError (one line) names the file, the label value and how many there are."""
    for path, y in labels.values():
        if len(y) and y.min() < 0:
            v = int(y.min())
            raise DataError(f"{path}: negative label {v} ({int((y == v).sum())} of {len(y)} labels)")
    if num_classes is not None:
        for path, y in labels.values():
            bad = y >= num_classes
            if bad.any():
                v = int(y[bad][0])
                raise DataError(f"{path}: label {v} is outside 0..{num_classes - 1} (--num-classes {num_classes}); "
                                f"{int(bad.sum())} of {len(y)} labels are")
        return num_classes
    k = max(int(y.max()) + 1 for _, y in labels.values() if len(y))
    if "train" in labels:
        path, y = labels["train"]
        counts = np.bincount(y, minlength=k)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            top = k - 1
            where, y_top = next((p, y) for p, y in labels.values() if len(y) and int(y.max()) == top)
            shown = ", ".join(map(str, empty[:5])) + (", ..." if len(empty) > 5 else "")
            raise DataError(f"{where}: label {top} ({int((y_top == top).sum())} of {len(y_top)} labels) makes {k} "
                            f"classes, but {len(empty)} of them ({shown}) have no example in {path.name}; fix the "
                            "labels, or pass --num-classes to say how many classes there are")
    return max(k, 2)


def load(dataset: str, *, limit_train: int | None = None, limit_test: int | None = None,
         splits: tuple[str, ...] = ("train", "test"), num_classes: int | None = None) -> Dataset:
    name, folder = resolve(dataset)
    ds = load_folder(folder, name, limit_train=limit_train, limit_test=limit_test, splits=splits,
                     num_classes=num_classes)
    if name == "mnist" and not ds.checksum_verified:
        raise DataError(f"{folder}: bundled MNIST has no SHA256SUMS entry for some file; the package is damaged")
    return ds


def save_arrays(ds: Dataset, folder: Path) -> None:
    """The decoded, scaled arrays as .npy files: a run's child processes read these instead of
    decompressing and checking the IDX files again (the parent has checked them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.save(folder / f"{key}.npy", getattr(ds, key))
    meta = {"name": ds.name, "num_classes": ds.num_classes, "image_shape": list(ds.image_shape)}
    (folder / "meta.json").write_text(json.dumps(meta))


def load_arrays(folder: Path, splits: tuple[str, ...] = ("train", "test")) -> Dataset:
    """What save_arrays wrote; a split not asked for is empty."""
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    arr = {f"{kind}_{split}": np.load(folder / f"{kind}_{split}.npy") if split in splits else np.zeros(0)
           for split in ("train", "test") for kind in ("x", "y")}
    return Dataset(name=meta["name"], source=str(folder), num_classes=meta["num_classes"],
                   image_shape=tuple(meta["image_shape"]), **arr)


def batch_order(n: int, epochs: int, seed: int) -> np.ndarray:
    """One permutation of range(n) per epoch, shape (epochs, n), made once and used by every
    framework so all of them see the same batches in the same order."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    return np.stack([rng.permutation(n).astype(np.int64) for _ in range(epochs)])


def load_npz(path: Path, *, limit_test: int | None = None) -> Dataset:
    """A deployment data set from an .npz: x_test (images (N, H, W), (N, H, W, C) or rows (N, F)),
    optionally y_test (N integer labels) and x_calib (calibration images of the same shape, which
    become the training split). uint8 images are scaled by 1/255, float images are used as they
    are. Never unpickled (allow_pickle=False): an object array is an error."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"--dataset {path}: file not found") from None
    except ValueError as e:
        raise DataError(f"--dataset {path}: cannot read ({' '.join(str(e).split())[:200]})") from None
    except (OSError, EOFError, zlib.error, KeyError) as e:
        raise DataError(f"--dataset {path}: not a readable .npz ({type(e).__name__}: {e})") from None
    if "x_test" not in arrays:
        raise DataError(f"--dataset {path}: no x_test array (found: {', '.join(sorted(arrays)) or 'nothing'})")
    x = arrays["x_test"]
    if x.ndim not in (2, 3, 4) or len(x) == 0 or x.dtype.kind not in "fiu":
        raise DataError(f"--dataset {path}: x_test must be a non-empty numeric array of images (N, H, W[, C]) or "
                        f"rows (N, F), got {x.dtype} {list(x.shape)}")
    image_shape = tuple(int(d) for d in x.shape[1:]) + ((1,) if x.ndim == 3 else ())
    y = arrays.get("y_test")
    if y is not None:
        if y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "iu" or (len(y) and y.min() < 0):
            raise DataError(f"--dataset {path}: y_test must be {len(x)} non-negative integer labels, got "
                            f"{y.dtype} {list(y.shape)}")
    calib = arrays.get("x_calib")
    if calib is not None and (calib.shape[1:] != x.shape[1:] or calib.dtype.kind not in "fiu"):
        raise DataError(f"--dataset {path}: x_calib must be images shaped like x_test's {list(x.shape[1:])}, got "
                        f"{calib.dtype} {list(calib.shape)}")

    def prep(a):
        a = a.astype(np.float32) / np.float32(255.0) if a.dtype == np.uint8 else a.astype(np.float32)
        return np.ascontiguousarray(a.reshape(len(a), -1))

    if limit_test is not None:
        x, y = x[:limit_test], (y[:limit_test] if y is not None else None)
    empty_y = np.zeros((0,), np.int64)
    return Dataset(
        name=path.stem, source=str(path),
        x_train=prep(calib) if calib is not None else np.zeros((0, int(np.prod(image_shape))), np.float32),
        y_train=empty_y, x_test=prep(x), y_test=y.astype(np.int64) if y is not None else empty_y,
        num_classes=int(y.max()) + 1 if y is not None and len(y) else 0,
        image_shape=image_shape, checksums={path.name: sha256_file(path)}, checksum_verified=False)


def load_any(dataset: str, *, limit_test: int | None = None, limit_train: int | None = None) -> Dataset:
    """`deploy`'s --dataset: an .npz file, or what `run` takes (its train split gives calibration)."""
    if str(dataset).lower().endswith(".npz"):
        return load_npz(Path(dataset).expanduser(), limit_test=limit_test)
    return load(dataset, limit_test=limit_test, limit_train=limit_train)
