import gzip

import numpy as np
import pytest

from conftest import DATA, replace_file, run_cli
from mnistlab import data
from mnistlab.errors import DataError

MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_class_counts(mnist, fashion):
    assert mnist.train.x.shape == (60000, 28, 28) and mnist.train.x.dtype == np.uint8
    assert np.bincount(mnist.train.y).tolist() == MNIST_TRAIN
    assert np.bincount(mnist.test.y).tolist() == MNIST_TEST
    assert np.bincount(fashion.train.y).tolist() == [6000] * 10
    assert np.bincount(fashion.test.y).tolist() == [1000] * 10


def test_second_load_uses_cache(mnist):
    again = data.load_dataset("mnist")
    assert np.array_equal(again.test.x, mnist.test.x)
    assert list((data.cache_root() / "decoded" / "mnist").glob("*.npy"))


def _idx(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return head + arr.astype(np.uint8).tobytes()


def test_parse_idx_roundtrip():
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(data.parse_idx(_idx(arr), "x"), arr)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"\x01" + b[1:], "magic"),
    (lambda b: b[:2] + b"\x0d" + b[3:], "unsupported IDX type"),
    (lambda b: b[:-1], "truncated"),
    (lambda b: b[:4] + (3).to_bytes(4, "big") + b[8:], "truncated or padded"),
])
def test_parse_idx_rejects(mutate, message):
    good = _idx(np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(DataError, match=message):
        data.parse_idx(mutate(good), "f")


def _payload(name: str) -> bytes:
    return gzip.decompress((DATA / name).read_bytes())


@pytest.mark.parametrize("kind, message", [
    ("missing", "not found"),
    ("truncated_gzip", "corrupt or truncated gzip"),
    ("not_gzip", "not a gzip file"),
    ("flipped", "SHA-256 mismatch"),
    ("bad_magic", "bad magic"),
])
def test_bad_file_one_line_error(data_copy, kind, message):
    name = "mnist/t10k-labels-idx1-ubyte.gz"
    target = data_copy / name
    raw = (DATA / name).read_bytes()
    if kind == "missing":
        target.unlink()
    elif kind == "truncated_gzip":
        replace_file(target, raw[: len(raw) // 2])
    elif kind == "not_gzip":
        replace_file(target, b"this is not gzip at all")
    elif kind == "flipped":
        payload = bytearray(_payload(name))
        payload[100] ^= 0x01
        replace_file(target, gzip.compress(bytes(payload)))
    else:
        replace_file(target, gzip.compress(b"\x07" + _payload(name)[1:]))
    with pytest.raises(DataError, match=message) as info:
        data.load_dataset("mnist", data_copy)
    assert "\n" not in str(info.value) and "t10k-labels" in str(info.value)


def test_bad_file_does_not_poison_cache(data_copy):
    name = "mnist/t10k-labels-idx1-ubyte.gz"
    payload = bytearray(_payload(name))
    payload[50] ^= 0xFF
    replace_file(data_copy / name, gzip.compress(bytes(payload)))
    with pytest.raises(DataError):
        data.load_split("mnist", "test", data_copy)
    replace_file(data_copy / name, (DATA / name).read_bytes())
    assert np.bincount(data.load_split("mnist", "test", data_copy).y).tolist() == MNIST_TEST


def test_verify_cli_names_flipped_file(data_copy):
    name = "fashion-mnist/t10k-labels-idx1-ubyte.gz"
    payload = bytearray(_payload(name))
    payload[-1] ^= 0x01
    replace_file(data_copy / name, gzip.compress(bytes(payload)))
    res = run_cli("data", "verify", "--data-dir", str(data_copy))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stdout.count("OK ") == 7
    assert "FAIL fashion-mnist/t10k-labels-idx1-ubyte" in res.stdout
    assert res.stderr.strip().count("\n") == 0 and "t10k-labels" in res.stderr


def test_helpers():
    x = np.array([[0, 255], [128, 64]], np.uint8)
    assert data.to_unit(x).max() == 1.0 and data.to_unit(x).min() == 0.0
    s = data.to_signed(x)
    assert s.min() == -1.0 and s.max() == 1.0
    assert data.flatten(np.zeros((5, 28, 28))).shape == (5, 784)
    oh = data.one_hot(np.array([0, 3, 9]))
    assert oh.shape == (3, 10) and oh.sum() == 3 and oh[1, 3] == 1


def test_select_pair_labels():
    y = np.array([0, 1, 2, 1, 0, 7])
    x = np.arange(6)
    xp, yp = data.select_pair(x, y, 0, 1)
    assert xp.tolist() == [0, 1, 3, 4] and yp.tolist() == [-1, 1, 1, -1]
    xp, yp = data.select_pair(x, y, 7, 2)
    assert xp.tolist() == [2, 5] and yp.tolist() == [1, -1]


def test_fashion_groups():
    groups = data.fashion_groups(np.arange(10))
    assert [i for i in range(10) if groups[i] == 0] == [5, 7, 9]
    assert [i for i in range(10) if groups[i] == 1] == [3, 6, 8]
    assert [i for i in range(10) if groups[i] == 2] == [0, 1, 2, 4]


def test_validation_split_seeded_and_disjoint():
    tr, va = data.validation_split(100, 20, seed=3)
    tr2, va2 = data.validation_split(100, 20, seed=3)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    assert len(va) == 20 and len(set(tr) | set(va)) == 100 and not set(tr) & set(va)
    assert not np.array_equal(va, data.validation_split(100, 20, seed=4)[1])
