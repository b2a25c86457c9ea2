"""The real MNIST (60,000 + 10,000 digits in their original IDX files), where it is on disk.

torchvision downloads it into data/MNIST/raw/ on first use; offline, a copy can be put there by
hand. Without it these tests are skipped, so a fresh clone still passes."""
import os

import pytest
import torch

import reproduce
from ddpm.data import load_splits
from tests.conftest import ROOT

RAW = os.path.join(ROOT, "data", "MNIST", "raw")
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(RAW, "train-images-idx3-ubyte")),
                                reason="the real MNIST is not in data/MNIST/raw/ (torchvision downloads it there "
                                       "with internet; tests on tiny MNIST files cover the loader meanwhile)")

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]     # the official training split
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]           # the official test split


@pytest.fixture(scope="module")
def splits():
    return load_splits("mnist", os.path.join(ROOT, "data"))


def test_counts_and_classes(splits):
    train, aux, test = splits["train"], splits["aux"], splits["test"]
    assert len(train) + len(aux) == 60_000 and len(test) == 10_000
    assert (train.labels.bincount(minlength=10) + aux.labels.bincount(minlength=10)).tolist() == TRAIN_COUNTS
    assert test.labels.bincount(minlength=10).tolist() == TEST_COUNTS
    assert aux.labels.bincount(minlength=10).tolist() == [100] * 10
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype == torch.uint8


def test_the_attackers_split_is_disjoint_from_training(splits):
    """No aux image is also a training image (compared by content, so duplicates would show too)."""
    train = {bytes(x.numpy().tobytes()) for x in splits["train"].images}
    assert not any(bytes(x.numpy().tobytes()) in train for x in splits["aux"].images)


@pytest.mark.slow
def test_smoke_pipeline_on_real_mnist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink(os.path.join(ROOT, "data"), tmp_path / "data")
    assert reproduce.main(["--smoke", "--preset", "mnist", "--seeds", "0", "--methods", "dimum"]) == 0
    assert "| DiMUM |" in (tmp_path / "results" / "mnist-smoke" / "table.md").read_text()
