"""Data loaders: digits from scikit-learn, FashionMNIST IDX and CIFAR-10 pickles written in tmp_path."""
from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from green_estimate.errors import GreenEstimateError
from green_estimate.validation.data import DatasetError, load_dataset, read_idx


def _write_idx(path, array: np.ndarray, gz: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _fashion(folder, n_train=6, n_test=4, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    tr = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    te = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    _write_idx(folder / "train-images-idx3-ubyte", tr, gz)
    _write_idx(folder / "train-labels-idx1-ubyte", np.arange(n_train) % 10, gz)
    _write_idx(folder / "t10k-images-idx3-ubyte", te, gz)
    _write_idx(folder / "t10k-labels-idx1-ubyte", (np.arange(n_test) + 3) % 10, gz)
    return tr, te


def test_digits_are_upsampled_scaled_and_split_80_20():
    ds = load_dataset("digits")
    # 1797 digits, stratified 20 % test: sklearn rounds the test size up, ceil(359.4) = 360.
    assert (ds.n_train, ds.n_test) == (1437, 360)
    assert ds.input_shape == (1, 16, 16) and ds.n_classes == 10
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    # 2x pixel repetition: each 2x2 block holds one original pixel (values k/16).
    x = ds.x_train[:, 0]
    assert np.array_equal(x[:, 0::2, 0::2].numpy(), x[:, 1::2, 1::2].numpy())
    assert np.allclose((x.numpy() * 16) % 1, 0)


def test_digits_split_and_subsets_are_fixed():
    a = load_dataset("digits", train_samples=50, test_samples=20)
    b = load_dataset("digits", train_samples=50, test_samples=20)
    assert (a.n_train, a.n_test) == (50, 20)
    assert np.array_equal(a.x_train.numpy(), b.x_train.numpy())
    assert np.array_equal(a.y_test.numpy(), b.y_test.numpy())


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("sub", ["", "FashionMNIST/raw"])
def test_fashion_mnist_from_raw_idx_files(tmp_path, gz, sub):
    tr, te = _fashion(tmp_path / sub if sub else tmp_path, gz=gz)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert ds.input_shape == (1, 28, 28) and (ds.n_train, ds.n_test) == (6, 4)
    assert np.allclose(ds.x_train[:, 0].numpy(), tr / 255.0)
    assert np.allclose(ds.x_test[:, 0].numpy(), te / 255.0)
    assert ds.y_train.tolist() == [0, 1, 2, 3, 4, 5]
    assert ds.y_test.tolist() == [3, 4, 5, 6]


def test_cifar10_from_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(2)
    batches = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        data = rng.integers(0, 256, size=(2, 3072), dtype=np.uint8)
        batches[name] = data
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": [i % 10, (i + 1) % 10]}, f)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.input_shape == (3, 32, 32) and (ds.n_train, ds.n_test) == (10, 2)
    # Row layout is 1024 red, 1024 green, 1024 blue values, each a 32x32 image in row order.
    first = batches["data_batch_1"][0]
    assert np.isclose(float(ds.x_train[0, 1, 0, 5]), first[1024 + 5] / 255.0)
    assert np.isclose(float(ds.x_train[0, 2, 31, 31]), first[3071] / 255.0)
    assert ds.y_train.tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    assert ds.y_test.tolist() == [5, 6]


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(DatasetError) as e:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    msg = str(e.value)
    assert "train-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg and "never downloaded" in msg
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", data_dir=tmp_path)
    assert "data_batch_1" in str(e.value) and "test_batch" in str(e.value)
    with pytest.raises(DatasetError, match="--data-dir"):
        load_dataset("cifar10")
    assert issubclass(DatasetError, GreenEstimateError)


def test_bad_idx_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">i", 3) + b"abc")
    with pytest.raises(DatasetError, match="unsigned-byte IDX"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">i", 5) + b"abc")
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(path)
