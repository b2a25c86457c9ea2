import os
import pickle

import numpy as np
import pytest
import torch

from ddpm import data as D
from ddpm.errors import UserError


def test_mnist5k_loads_offline_with_fixed_splits():
    s = D.load_splits("mnist5k", image_size=16)
    assert {k: len(v) for k, v in s.items()} == {"train": 3000, "aux": 1000, "test": 1000}
    assert s["train"].images.dtype == torch.uint8 and s["train"].images.shape[1:] == (1, 16, 16)
    assert torch.equal(s["aux"].labels.bincount(), torch.full((10,), 100))
    again = D.load_splits("mnist5k", image_size=16)
    assert torch.equal(again["aux"].images, s["aux"].images)           # seeded


def test_unknown_dataset_one_line_hint():
    with pytest.raises(UserError, match="choose one of mnist5k"):
        D.load_splits("imagenet")


def write_tiny_cifar10(root, per_class=12, test_per_class=3):
    """A tiny CIFAR-10 in its real on-disk format: pickled dicts of N x 3072 uint8 rows (R, G, B planes)."""
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)

    def batch(n_per_class):
        labels = [k for k in range(10) for _ in range(n_per_class)]
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        data[:, :1024] = np.array(labels, dtype=np.uint8)[:, None] * 20      # red plane encodes the class
        return {b"data": data, b"labels": labels, b"batch_label": b"tiny"}

    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(batch(per_class), f)
    with open(os.path.join(folder, "test_batch"), "wb") as f:
        pickle.dump(batch(test_per_class), f)
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump({b"label_names": [b"c%d" % k for k in range(10)]}, f)


def write_tiny_mnist(root, per_class=12, test_per_class=3):
    """A tiny MNIST in its real on-disk (IDX) format, where torchvision.datasets.MNIST reads it."""
    raw = os.path.join(root, "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", per_class), ("t10k", test_per_class)):
        labels = np.array([k for k in range(10) for _ in range(n)], dtype=np.uint8)
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        with open(os.path.join(raw, f"{prefix}-images-idx3-ubyte"), "wb") as f:
            f.write((2051).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
            f.write(images.tobytes())
        with open(os.path.join(raw, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
            f.write((2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big"))
            f.write(labels.tobytes())


def test_cifar10_loader_reads_the_real_format(tmp_path):
    write_tiny_cifar10(str(tmp_path))
    s = D.load_splits("cifar10", str(tmp_path), aux_per_class=2)
    assert len(s["train"]) == 5 * 120 - 20 and len(s["aux"]) == 20 and len(s["test"]) == 30
    assert s["test"].images.shape[1:] == (3, 32, 32)
    # the red plane carries the label, so a wrong reshape of the 3072-byte rows would show here
    assert torch.equal(s["test"].images[:, 0, 0, 0].long(), s["test"].labels * 20)


def test_mnist_loader_reads_the_real_format(tmp_path):
    write_tiny_mnist(str(tmp_path))
    s = D.load_splits("mnist", str(tmp_path), aux_per_class=2)
    assert len(s["train"]) == 100 and len(s["aux"]) == 20 and s["test"].images.shape == (30, 1, 28, 28)


def test_download_failure_is_one_line(tmp_path, monkeypatch):
    import torchvision

    def offline(*a, **k):
        if k.get("download"):
            raise OSError("Network is unreachable")
        raise RuntimeError("Dataset not found")
    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    for name in ("mnist", "cifar10"):
        with pytest.raises(UserError, match="--dataset mnist5k offline"):
            D.load_splits(name, str(tmp_path))


def test_batches_are_seeded_and_resumable():
    data = D.ImageData(torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1), torch.arange(10))
    a = D.Batches(data, 4, seed=1)
    next(a)
    state = a.state_dict()
    x1 = [next(a)[1] for _ in range(3)]
    b = D.Batches(data, 4, seed=99)
    b.load_state_dict(state)
    assert all(torch.equal(u, next(b)[1]) for u in x1)


class RunsCode:
    """A pickle payload that would run a shell command when unpickled by plain pickle.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_cifar_batch_cannot_run_code(tmp_path):
    root = str(tmp_path / "data")
    write_tiny_cifar10(root)
    marker = tmp_path / "pwned"
    with open(os.path.join(root, "cifar-10-batches-py", "data_batch_1"), "wb") as f:
        pickle.dump({b"data": RunsCode(marker), b"labels": [0]}, f)
    with pytest.raises(UserError, match="data_batch_1 is not a CIFAR-10 batch file"):
        D.load_splits("cifar10", root)
    assert not marker.exists()


def test_the_real_cifar_format_still_loads(tmp_path):
    write_tiny_cifar10(str(tmp_path / "data"))
    splits = D.load_splits("cifar10", str(tmp_path / "data"))
    assert splits["train"].images.shape[1:] == (3, 32, 32)
