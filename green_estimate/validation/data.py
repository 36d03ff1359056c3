"""The data a validation run trains on: scikit-learn's digits, or FashionMNIST / CIFAR-10 from disk.

Nothing is ever downloaded. The digits ship inside scikit-learn; FashionMNIST is read from the
standard raw IDX files and CIFAR-10 from the "python version" pickle batches, both from a folder the
user already has. Images are scaled to [0, 1] and nothing else (the study's ``ToTensor()`` only).

Digits are 8×8; they are upsampled 2× by pixel repetition to 16×16 (no information is added or
lost) so the study's range of 1–4 conv blocks, each halving the image, fits the input.
"""
from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from green_estimate.errors import GreenEstimateError

if TYPE_CHECKING:
    import torch

DATASETS = ("digits", "fashion-mnist", "cifar10")
#: The digits train/test split never depends on ``--seed``: every run tests on the same samples.
SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2
DIGITS_UPSAMPLE = 2

FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"


class DatasetError(GreenEstimateError):
    """A data set's files are missing or unreadable; the message names the files expected."""


@dataclass
class Dataset:
    """Train and test tensors of one image-classification data set.

    Attributes:
        name: ``"digits"``, ``"fashion-mnist"`` or ``"cifar10"``.
        x_train: float32 images ``(n, channels, height, width)`` in [0, 1].
        y_train: int64 labels ``(n,)``.
        x_test: held-out images, same layout.
        y_test: held-out labels.
        n_classes: number of classes.
        source: where the data came from, in words.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    source: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample shape, e.g. ``(1, 16, 16)``."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_classes": self.n_classes,
            "source": self.source,
        }


def load_dataset(
    name: str,
    *,
    data_dir: Path | str | None = None,
    train_samples: int | None = None,
    test_samples: int | None = None,
) -> Dataset:
    """Load one of :data:`DATASETS`, optionally a fixed random subset of it.

    Args:
        name: ``"digits"`` (bundled with scikit-learn), ``"fashion-mnist"`` or ``"cifar10"``.
        data_dir: folder holding the FashionMNIST / CIFAR-10 files (unused for digits).
        train_samples: keep this many training samples (a seeded random subset); None keeps all.
        test_samples: the same for the test set.

    Raises:
        DatasetError: the files are missing or malformed; the message names the expected files.
    """
    if name == "digits":
        x_tr, y_tr, x_te, y_te, source = _digits_arrays()
    elif name == "fashion-mnist":
        x_tr, y_tr, x_te, y_te, source = _fashion_arrays(_need_dir(name, data_dir))
    elif name == "cifar10":
        x_tr, y_tr, x_te, y_te, source = _cifar_arrays(_need_dir(name, data_dir))
    else:
        raise DatasetError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}")
    x_tr, y_tr = _subset(x_tr, y_tr, train_samples, "train")
    x_te, y_te = _subset(x_te, y_te, test_samples, "test")
    return _to_tensors(name, x_tr, y_tr, x_te, y_te, source)


def _to_tensors(name: str, x_tr, y_tr, x_te, y_te, source: str) -> Dataset:
    import torch

    return Dataset(
        name=name,
        x_train=torch.as_tensor(np.ascontiguousarray(x_tr), dtype=torch.float32),
        y_train=torch.as_tensor(np.asarray(y_tr), dtype=torch.int64),
        x_test=torch.as_tensor(np.ascontiguousarray(x_te), dtype=torch.float32),
        y_test=torch.as_tensor(np.asarray(y_te), dtype=torch.int64),
        n_classes=int(max(np.max(y_tr), np.max(y_te)) + 1),
        source=source,
    )


def _subset(x: np.ndarray, y: np.ndarray, n: int | None, which: str):
    if n is None or n >= len(y):
        return x, y
    if n < 1:
        raise DatasetError(f"--{which}-samples must be at least 1, got {n}")
    keep = np.sort(np.random.default_rng(SPLIT_SEED).permutation(len(y))[:n])
    return x[keep], y[keep]


def _need_dir(name: str, data_dir: Path | str | None) -> Path:
    if data_dir is None:
        raise DatasetError(
            f"{name} is read from files you already have, never downloaded: pass --data-dir DIR "
            f"(expected files: {', '.join(_expected(name))}), or use --data digits, which needs no files"
        )
    return Path(data_dir)


def _expected(name: str) -> list[str]:
    if name == "fashion-mnist":
        return list(FASHION_FILES.values())
    return [*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE]


def _digits_arrays():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    # The bundled images hold integers 0..16; scale to [0, 1] like ToTensor() does for 0..255.
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    images = images.repeat(DIGITS_UPSAMPLE, axis=2).repeat(DIGITS_UPSAMPLE, axis=3)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, bunch.target, test_size=DIGITS_TEST_FRACTION, random_state=SPLIT_SEED, stratify=bunch.target
    )
    source = (
        f"scikit-learn load_digits (8x8 upsampled {DIGITS_UPSAMPLE}x by pixel repetition), "
        f"stratified {1 - DIGITS_TEST_FRACTION:.0%}/{DIGITS_TEST_FRACTION:.0%} split, seed {SPLIT_SEED}"
    )
    return x_tr, y_tr, x_te, y_te, source


def _find(root: Path, names: list[str], subdirs: tuple[str, ...], dataset: str) -> Path:
    """The folder (root or a conventional subfolder) that holds every file in ``names``."""
    candidates = [root, *(root / s for s in subdirs)]
    for folder in candidates:
        if all(_existing(folder / n) is not None for n in names):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise DatasetError(
        f"{dataset} files not found: expected {', '.join(names)} (optionally .gz for FashionMNIST) "
        f"in one of: {looked}. Copy the data set there (it is never downloaded), or use --data digits"
    )


def _existing(path: Path) -> Path | None:
    if path.is_file():
        return path
    gz = path.with_name(path.name + ".gz")
    return gz if gz.is_file() else None


def _fashion_arrays(root: Path):
    folder = _find(root, list(FASHION_FILES.values()), ("FashionMNIST/raw", "fashion-mnist", "raw"), "FashionMNIST")
    arrays = {key: read_idx(_existing(folder / fname)) for key, fname in FASHION_FILES.items()}  # type: ignore[arg-type]
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(
                f"FashionMNIST {split} files in {folder} do not match: images {images.shape}, labels {labels.shape}; "
                "expected (n, 28, 28) images and (n,) labels"
            )
    x_tr = (arrays["train_images"].astype(np.float32) / 255.0)[:, None]
    x_te = (arrays["test_images"].astype(np.float32) / 255.0)[:, None]
    return x_tr, arrays["train_labels"].astype(np.int64), x_te, arrays["test_labels"].astype(np.int64), f"FashionMNIST IDX files in {folder}"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format; gzipped if the name ends in ``.gz``) into an array.

    The header is two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions,
    then each dimension as a big-endian int32; the data follow in C order.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file (bad magic number); is it the raw FashionMNIST file?")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}i", raw[4:header])
    expected = int(np.prod(dims)) if dims else 0
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != expected:
        raise DatasetError(f"{path} is truncated: header says {dims} = {expected} bytes, found {data.size}")
    return data.reshape(dims)


def _cifar_arrays(root: Path):
    folder = _find(root, [*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE], ("cifar-10-batches-py",), "CIFAR-10")
    parts = [_cifar_batch(folder / n) for n in CIFAR_TRAIN_FILES]
    x_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    x_te, y_te = _cifar_batch(folder / CIFAR_TEST_FILE)
    return x_tr, y_tr, x_te, y_te, f"CIFAR-10 python batches in {folder}"


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # The official CIFAR-10 "python version" is pickled; like torchvision we unpickle the user's own file.
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, KeyError, TypeError, EOFError) as e:
        raise DatasetError(f"{path} is not a CIFAR-10 python batch (a pickled dict with b'data' and b'labels'): {e}") from e
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DatasetError(f"{path}: expected data of shape (n, 3072) and n labels, got {data.shape} and {labels.shape}")
    return (data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0), labels
