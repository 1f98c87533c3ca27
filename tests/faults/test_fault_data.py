"""Faults in the dataset files: each of the 8 files missing, cut short, with a flipped byte, a wrong magic number,
wrong dims, or not gzip at all. Each must end in one DataError line that names the file and the fix, must not be
cached, and a later load with the good file must give the verified array. Plus faults in the decoded cache.

The 48-case matrix goes through the library (`load_array`, what every study calls); a few cases go through the
CLI in a subprocess to check the exit code and that no traceback is printed (see also tests/test_data.py)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json

import numpy as np
import pytest
from faultkit import assert_user_error, audit, cli_outcome, record

from conftest import DATA, replace_file, run_cli
from mnistlab import data
from mnistlab.errors import DataError

FILES = [(folder, split, base) for folder in data.DATASETS.values()
         for split, bases in data.FILES.items() for base in bases]
FAULTS = {  # fault -> a fragment the message must hold
    "missing": "not found",
    "truncated": "corrupt or truncated gzip",
    "flipped byte": "corrupt or truncated gzip",  # a bit flipped on disk, in the compressed stream: the gzip CRC
    "wrong magic": "bad magic",
    "wrong dims": "truncated or padded",
    "not gzip": "not a gzip file",
}


@functools.cache
def _payload(rel: str) -> bytes:
    return gzip.decompress((DATA / rel).read_bytes())


def _break(kind: str, rel: str, target) -> None:
    """Replace the --data-dir symlink `target` with a broken copy of the vendored file `rel`."""
    raw = (DATA / rel).read_bytes()
    if kind == "missing":
        target.unlink()
    elif kind == "truncated":
        replace_file(target, raw[: len(raw) * 2 // 3])
    elif kind == "flipped byte":
        blob = bytearray(raw)
        blob[len(blob) // 2] ^= 0x10
        replace_file(target, bytes(blob))
    # re-gzipped without compression (level 0): the same format, no 47 MB deflate in a fast test
    elif kind == "wrong magic":
        replace_file(target, gzip.compress(b"\x00\x01" + _payload(rel)[2:], compresslevel=0, mtime=0))
    elif kind == "wrong dims":  # one more item than the data holds
        payload = bytearray(_payload(rel))
        payload[4:8] = (int.from_bytes(payload[4:8], "big") + 1).to_bytes(4, "big")
        replace_file(target, gzip.compress(bytes(payload), compresslevel=0, mtime=0))
    else:
        replace_file(target, b"PK\x03\x04 a zip, or an HTML error page, saved under the .gz name")


def _verified(arr: np.ndarray, key: str) -> bool:
    """The array is exactly the checksummed payload: rebuild its IDX header and hash both."""
    head = bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return hashlib.sha256(head + np.ascontiguousarray(arr).tobytes()).hexdigest() == data.SHA256[key]


@pytest.mark.parametrize("kind", list(FAULTS))
@pytest.mark.parametrize("folder, split, base", FILES, ids=[f"{f}/{b}" for f, _, b in FILES])
def test_bad_data_file(data_copy, folder, split, base, kind):
    rel = f"{folder}/{base}.gz"
    _break(kind, rel, data_copy / rel)
    with pytest.raises(DataError) as info:
        data.load_array(folder, base, split, data_copy)
    msg = str(info.value)
    cache = data.cache_root() / "decoded" / folder
    poisoned = [p.name for p in cache.glob(f"{base}-*.json") if str(data_copy.resolve()) in p.read_text()]
    record(f"data file: {kind}", rel, outcome="DataError", message=msg, error_lines=msg.count("\n") + 1,
           traceback=False, half_written=audit(data.cache_root()) + poisoned)
    assert "\n" not in msg and base in msg and ("restore" in msg or "copy" in msg), msg
    assert FAULTS[kind] in msg, msg
    assert not poisoned and audit(data.cache_root()) == []

    (data_copy / rel).unlink(missing_ok=True)  # the good file back: it loads, and gives the verified array
    (data_copy / rel).symlink_to(DATA / rel)
    assert _verified(data.load_array(folder, base, split, data_copy), f"{folder}/{base}")


@pytest.mark.parametrize("kind, rel", [
    ("missing", "fashion-mnist/train-images-idx3-ubyte.gz"),
    ("wrong dims", "mnist/t10k-labels-idx1-ubyte.gz"),
])
def test_bad_data_file_cli(data_copy, kind, rel):
    _break(kind, rel, data_copy / rel)
    res = run_cli("data", "verify", "--data-dir", str(data_copy))
    out = cli_outcome(res)
    record(f"data file: {kind} (CLI)", f"mnistlab data verify, {rel}", **out)
    assert_user_error(out, "1 of 8 data files failed", rel.split("/")[1].removesuffix(".gz"))
    assert res.stdout.count("OK ") == 7 and f"FAIL {rel.removesuffix('.gz')}" in res.stdout


def _cache_files(folder: str, base: str):
    key = f"{folder}/{base}"
    stem = data.cache_root() / "decoded" / folder / f"{base}-{data.SHA256[key][:16]}"
    return stem.with_suffix(".npy"), stem.with_suffix(".json")


@pytest.mark.parametrize("kind", ["npy cut short", "npy not an array", "meta not JSON", "meta wrong shape"])
def test_bad_decoded_cache_is_rebuilt(kind):
    folder, base = "fashion-mnist", "t10k-labels-idx1-ubyte"
    data.load_array(folder, base, "test")  # make sure the cache exists
    npy, meta = _cache_files(folder, base)
    if kind == "npy cut short":
        npy.write_bytes(npy.read_bytes()[:200])
    elif kind == "npy not an array":
        npy.write_bytes(b"not numpy")
    elif kind == "meta not JSON":
        meta.write_text("{half")
    else:
        meta.write_text(json.dumps({"verified_sources": "nope"}))
    arr = data.load_array(folder, base, "test")
    ok = _verified(arr, f"{folder}/{base}")
    record(f"decoded cache: {kind}", f"cache {npy.name}", outcome="rebuilt from the source file" if ok else "WRONG",
           traceback=False, half_written=audit(data.cache_root()))
    assert ok and audit(data.cache_root()) == []
