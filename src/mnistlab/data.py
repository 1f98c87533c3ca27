"""MNIST and Fashion-MNIST: find the IDX files, verify them, decode them, cache the arrays.

Lookup order for each file (first folder that has it wins; see `candidate_dirs`):
  1. `data_dir` argument / `--data-dir` / `MNISTLAB_DATA` (authoritative: a file missing there is an error)
  2. the repository's `data/` folder
  3. the user cache dir (`<cache>/raw/<dataset>/`)
  4. the system dataset dir (Debian's `dataset-fashion-mnist`: /usr/share/datasets/fashion-mnist)
  5. download from the dataset's public mirror into the user cache (unless MNISTLAB_OFFLINE=1)
A file that is found but is truncated, corrupt or fails its SHA-256 is an error: we never fall back silently
past a bad file, and never cache one.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from mnistlab.errors import DataError
from mnistlab.runs import atomic_write_bytes, atomic_write_json

DATASETS = {"mnist": "mnist", "fashion": "fashion-mnist"}
FILES = {  # split -> (images, labels) base names, without .gz
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SIZES = {"train": 60_000, "test": 10_000}
# SHA-256 of the *decompressed* payloads (the gzip bytes may differ between mirrors).
SHA256 = {
    "mnist/train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "mnist/train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "mnist/t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "mnist/t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "fashion-mnist/train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "fashion-mnist/train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "fashion-mnist/t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "fashion-mnist/t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
SYSTEM_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}
REPO_DATA = Path(__file__).resolve().parents[2] / "data"

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
GROUP_NAMES = ("Shoes", "Gendered", "Uni-Sex")
# item label -> group label, the brief's split: Shoes {5,7,9}=0, Gendered {3,6,8}=1, Uni-Sex {0,1,2,4}=2
ITEM_TO_GROUP = np.array([2, 2, 2, 1, 2, 0, 1, 0, 1, 0], dtype=np.int64)
_IDX_DTYPES = {0x08: np.uint8}


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # (N, 28, 28) uint8
    y: np.ndarray  # (N,) uint8


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    test: Split


# ---------------------------------------------------------------- locating files
def cache_root() -> Path:
    return Path(os.environ.get("MNISTLAB_CACHE") or platformdirs.user_cache_dir("mnistlab"))


def candidate_dirs(folder: str, data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for `folder` ('mnist' or 'fashion-mnist'), in order. An explicit dir stands alone."""
    explicit = data_dir or os.environ.get("MNISTLAB_DATA")
    if explicit:
        return [Path(explicit) / folder]
    dirs = [REPO_DATA / folder, cache_root() / "raw" / folder]
    if folder in SYSTEM_DIRS:
        dirs.append(SYSTEM_DIRS[folder])
    return dirs


def find_file(folder: str, base: str, data_dir: str | Path | None = None) -> Path:
    """Path of `base` (.gz or raw) in the first candidate dir that has it; download as a last resort."""
    dirs = candidate_dirs(folder, data_dir)
    for d in dirs:
        for name in (base + ".gz", base):
            if (d / name).is_file():
                return d / name
    if data_dir or os.environ.get("MNISTLAB_DATA"):
        raise DataError(f"{folder}/{base}.gz not found in {dirs[0]}; copy it from the repo's data/{folder}/ "
                        "or drop --data-dir/MNISTLAB_DATA to use the vendored copy")
    return _download(folder, base)


def _download(folder: str, base: str) -> Path:
    target = cache_root() / "raw" / folder / (base + ".gz")
    if os.environ.get("MNISTLAB_OFFLINE") == "1":
        raise DataError(f"{folder}/{base}.gz not found (offline); restore the repo's data/ folder (git checkout data/)")
    url = MIRRORS[folder] + base + ".gz"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            blob = resp.read()
    except OSError as err:
        raise DataError(f"{folder}/{base}.gz not found locally and download from {url} failed ({err}); "
                        "restore the repo's data/ folder (git checkout data/)") from None
    _decode(blob, f"{folder}/{base}", url)  # verify before it is kept
    atomic_write_bytes(target, blob)
    return target


# ---------------------------------------------------------------- decoding
def parse_idx(payload: bytes, where: str) -> np.ndarray:
    """Decode one IDX payload: 2 zero bytes, dtype code, ndim, ndim big-endian uint32 dims, then the data."""
    if len(payload) < 4 or payload[0] != 0 or payload[1] != 0:
        raise DataError(f"{where}: not an IDX file (bad magic number); restore it from the repo's data/")
    code, ndim = payload[2], payload[3]
    if code not in _IDX_DTYPES or ndim not in (1, 3):
        raise DataError(f"{where}: unsupported IDX type 0x{code:02x} with {ndim} dims; restore it from data/")
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise DataError(f"{where}: truncated IDX header; restore it from the repo's data/")
    dims = tuple(int(d) for d in np.frombuffer(payload, ">u4", ndim, 4))
    expected = header + int(np.prod(dims))
    if len(payload) != expected:
        raise DataError(f"{where}: {len(payload)} bytes but dims {dims} need {expected} (truncated or padded); "
                        "restore it from the repo's data/")
    return np.frombuffer(payload, _IDX_DTYPES[code], offset=header).reshape(dims)


def _decode(blob: bytes, key: str, where: str) -> np.ndarray:
    """gunzip (if gzipped), check the SHA-256 of the payload, then parse it."""
    if blob[:2] == b"\x1f\x8b":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as err:
            raise DataError(f"{where}: corrupt or truncated gzip ({err}); restore it from the repo's data/ "
                            "(git checkout data/)") from None
    elif where.endswith(".gz"):
        raise DataError(f"{where}: not a gzip file; restore it from the repo's data/ (git checkout data/)")
    digest = hashlib.sha256(blob).hexdigest()
    if digest != SHA256[key]:
        # Parse first so a structural problem gets the more specific message.
        parse_idx(blob, where)
        raise DataError(f"{where}: SHA-256 mismatch (got {digest[:12]}..., want {SHA256[key][:12]}...); "
                        "the file is corrupt: restore it from the repo's data/ (git checkout data/)")
    return parse_idx(blob, where)


def _check_shape(arr: np.ndarray, base: str, split: str, where: str) -> None:
    want = (SIZES[split], 28, 28) if "images" in base else (SIZES[split],)
    if arr.shape != want:
        raise DataError(f"{where}: shape {arr.shape}, expected {want}; restore it from the repo's data/")


def _signature(path: Path) -> dict[str, object]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def load_array(folder: str, base: str, split: str, data_dir: str | Path | None = None) -> np.ndarray:
    """One verified array. The decoded copy is cached as .npy keyed by the payload checksum; it is reused only
    for a source file whose path, size and mtime were verified before, so an edited file is always re-checked."""
    key = f"{folder}/{base}"
    src = find_file(folder, base, data_dir)
    cdir = cache_root() / "decoded" / folder
    npy, meta = cdir / f"{base}-{SHA256[key][:16]}.npy", cdir / f"{base}-{SHA256[key][:16]}.json"
    sig = _signature(src)
    try:
        if npy.is_file() and sig in _verified_sources(meta):
            return np.load(npy)
    except (OSError, ValueError):
        pass  # an unreadable cache is rebuilt below
    arr = _decode(src.read_bytes(), key, str(src))
    _check_shape(arr, base, split, str(src))
    try:
        buf = io.BytesIO()
        np.save(buf, arr)
        atomic_write_bytes(npy, buf.getvalue())
        old = _verified_sources(meta)
        atomic_write_json(meta, {"sha256": SHA256[key], "verified_sources": [*old[-7:], sig]})
    except OSError:
        pass  # a read-only cache dir only costs speed
    return arr


def _verified_sources(meta: Path) -> list[dict[str, object]]:
    """The source signatures a cache entry was verified against; [] for a missing or damaged record (which is
    then rewritten: a damaged record must not switch the cache off for good)."""
    try:
        sources = json.loads(meta.read_text())["verified_sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [s for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []


def load_split(name: str, split: str, data_dir: str | Path | None = None) -> Split:
    folder = DATASETS[name]
    xb, yb = FILES[split]
    x = load_array(folder, xb, split, data_dir)
    y = load_array(folder, yb, split, data_dir)
    return Split(x=x, y=y)


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """`name` is 'mnist' or 'fashion'. Arrays are uint8: x (N, 28, 28), y (N,)."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return Dataset(name, load_split(name, "train", data_dir), load_split(name, "test", data_dir))


def verify_all(data_dir: str | Path | None = None) -> list[tuple[str, str, str]]:
    """Fully re-check all eight files (no cache). Returns (file, 'OK' or 'FAIL', detail) rows."""
    rows = []
    for folder in DATASETS.values():
        for split, bases in FILES.items():
            for base in bases:
                try:
                    src = find_file(folder, base, data_dir)
                    arr = _decode(src.read_bytes(), f"{folder}/{base}", str(src))
                    _check_shape(arr, base, split, str(src))
                    rows.append((f"{folder}/{base}", "OK", f"{src} {arr.shape} sha256 verified"))
                except DataError as err:
                    rows.append((f"{folder}/{base}", "FAIL", str(err)))
    return rows


# ---------------------------------------------------------------- helpers
def to_unit(x: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1]."""
    return x.astype(np.float32) / 255.0


def to_signed(x: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1] (x / 127.5 - 1), the perceptron's input scaling."""
    return x.astype(np.float32) / 127.5 - 1.0


def flatten(x: np.ndarray) -> np.ndarray:
    """(N, 28, 28) -> (N, 784)."""
    return x.reshape(len(x), -1)


def select_pair(x: np.ndarray, y: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Images of digits a and b, with labels -1 for a (the first digit) and +1 for b."""
    if a == b:
        raise ValueError("a pair needs two different classes")
    keep = (y == a) | (y == b)
    return x[keep], np.where(y[keep] == a, -1, 1).astype(np.int8)


def one_hot(y: np.ndarray, n: int = 10) -> np.ndarray:
    """(N,) int -> (N, n) float32."""
    out = np.zeros((len(y), n), np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


def fashion_groups(y: np.ndarray) -> np.ndarray:
    """Fashion item labels -> group labels (0 Shoes, 1 Gendered, 2 Uni-Sex)."""
    return ITEM_TO_GROUP[np.asarray(y, dtype=np.int64)]


def validation_split(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train_idx, val_idx) partition of range(n), both sorted. Only ever applied to the train split."""
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be in (0, {n}), got {val_size}")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[val_size:]), np.sort(perm[:val_size])
