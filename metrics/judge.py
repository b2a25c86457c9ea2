"""The judge: a small CNN classifier trained by the project on the real training split.

It decides which class a generated image shows (forget_acc, retain_acc) and its penultimate
layer gives the features of cFID. It never sees a generated image in training. Its accuracy on
the real test split is printed and stored in its checkpoint (lab/judges.py trains, saves and loads it).
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ddpm.data import DATASETS, ImageData, load_splits, to_float
from ddpm.errors import UserError, require


@dataclass
class JudgeConfig:
    dataset: str = "mnist5k"
    data_root: str = "data"
    image_size: int = 16
    width: int = 32            # channels of the first stage (x2, x4 in the next two)
    feature_dim: int = 128     # penultimate layer: the cFID features
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0

    def __post_init__(self):
        require((self.dataset in DATASETS, f"unknown dataset {self.dataset!r}: choose one of {', '.join(DATASETS)}"),
                *[(getattr(self, n) >= 1, f"--{n.replace('_', '-')} {getattr(self, n)} must be at least 1")
                  for n in ("image_size", "width", "feature_dim", "epochs", "batch_size")],
                (self.image_size >= 4, f"--image-size {self.image_size} must be at least 4 (the judge halves it twice)"),
                (self.lr > 0, f"--lr {self.lr} must be positive"))


# The judge of each data set: JudgeConfig's defaults fit mnist5k; the full MNIST needs fewer epochs, and
# the CIFAR-10 judge is wider (it needs a GPU to train in minutes). train.py judge and reproduce.py
# both build their judge from here, so the two train the same judge.
JUDGE_PRESETS = {"mnist5k": dict(epochs=15), "mnist": dict(epochs=6, width=32),
                 "cifar10": dict(epochs=40, width=96, feature_dim=256)}


def judge_config(dataset: str, **overrides) -> JudgeConfig:
    """The judge of `dataset` (JUDGE_PRESETS), with `overrides` (those that are None are ignored)."""
    if dataset not in JUDGE_PRESETS:
        raise UserError(f"unknown dataset {dataset!r}: choose one of {', '.join(JUDGE_PRESETS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return JudgeConfig(**{**JUDGE_PRESETS[dataset], "dataset": dataset, **given})


class Judge(nn.Module):
    """[conv-BN-ReLU x2, maxpool] x 2 -> conv-BN-ReLU x2 -> global average -> fc (features) -> fc (logits)."""

    def __init__(self, in_channels: int, num_classes: int = 10, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.in_channels = in_channels

        def stage(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                    nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        w = width
        self.body = nn.Sequential(*stage(in_channels, w), nn.MaxPool2d(2), *stage(w, 2 * w), nn.MaxPool2d(2),
                                  *stage(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(4 * w, feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features of images in [-1, 1]: what cFID compares. Always in float32,
        also inside a bf16 autocast region (reproduce.py --bf16): the ruler must not change with the
        precision of the model it measures."""
        with torch.autocast(x.device.type, enabled=False):
            return self.body(x.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.head(self.body(x.float()))


def augment(x: torch.Tensor, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 px (pad with the background, crop), and horizontal flips for CIFAR-10."""
    B, _, H, W = x.shape
    padded = F.pad(x, (2, 2, 2, 2), value=-1.0 if not flip else 0.0)
    dx, dy = torch.randint(0, 5, (2,), generator=generator).tolist()
    x = padded[:, :, dy:dy + H, dx:dx + W]
    if flip:
        m = torch.rand(B, generator=generator) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(-1), x)
    return x


@torch.no_grad()
def accuracy(judge: Judge, data: ImageData, batch_size: int = 500) -> float:
    judge.eval()
    device = next(judge.parameters()).device
    correct = 0
    for i in range(0, len(data), batch_size):
        x = to_float(data.images[i:i + batch_size]).to(device)
        correct += (judge(x).argmax(1).cpu() == data.labels[i:i + batch_size]).sum().item()
    return correct / len(data)


def fit_judge(cfg: JudgeConfig, device: torch.device | str = "cpu", progress: bool = True) -> tuple[Judge, float]:
    """Train on the train + aux splits (all real training images); (the judge, its accuracy on the test split)."""
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    splits = load_splits(cfg.dataset, cfg.data_root, cfg.image_size)
    train = ImageData(torch.cat([splits["train"].images, splits["aux"].images]),
                      torch.cat([splits["train"].labels, splits["aux"].labels]))
    in_ch = train.images.shape[1]
    judge = Judge(in_ch, 10, cfg.width, cfg.feature_dim).to(device)
    steps_per_epoch = -(-len(train) // cfg.batch_size)
    opt = torch.optim.AdamW(judge.parameters(), lr=cfg.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    for epoch in tqdm(range(cfg.epochs), desc="judge", disable=not progress):
        judge.train()
        perm = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            x = augment(to_float(train.images[idx]), flip=in_ch == 3, generator=g).to(device)
            loss = F.cross_entropy(judge(x), train.labels[idx].to(device), label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return judge, accuracy(judge, splits["test"])
