"""The numbers of the results table: forget_acc, retain_acc, cFID on retained classes, ||theta - theta_0||.

forget_acc: the judge's accuracy on n images generated with label f (UA = 1 - forget_acc).
retain_acc: the same on images generated with every other label (n per label).
All sampling is DDIM (eta = 0) with classifier-free guidance, seeded: the same model, seed and
settings give the same number. Samples that are not finite (a diverged model) are never judged:
`NonFiniteSamples` is raised instead, so NaN can never be counted as "forgotten".
"""
from dataclasses import dataclass

import torch

from ddpm.data import ImageData, to_float
from ddpm.diffusion import ddim_sample
from ddpm.errors import UserError

from .fid import fid_from_features, judge_features


N_FORGET = 100               # samples of the forgotten class per forget_acc
N_RETAIN_PER_CLASS = 50      # samples of each retained class per retain_acc / cFID
N_AFTER_ATTACK = 20          # samples of each retained class per retain_acc / cFID after an attack
PRETRAINED_PER_CLASS = 100   # samples of each class of the pre-trained model's accuracy check


class NonFiniteSamples(UserError):
    """A model produced NaN/inf images: it diverged, and no score of it means anything."""


@dataclass
class SampleSettings:
    steps: int               # DDIM steps
    guidance: float          # classifier-free guidance scale w
    batch_size: int = 500

    @classmethod
    def of(cls, cfg) -> "SampleSettings":
        """The evaluation sampler of a DDPM: its config's ddim_steps and guidance (the one home of both)."""
        return cls(steps=cfg.ddim_steps, guidance=cfg.guidance)


@torch.no_grad()
def generate(model, schedule, labels: torch.Tensor, s: SampleSettings, seed: int = 0) -> torch.Tensor:
    """DDIM samples for `labels`, in batches, from one seeded generator (returned on the CPU)."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    out = [ddim_sample(model, schedule, labels[i:i + s.batch_size], steps=s.steps, guidance=s.guidance,
                       generator=g).cpu() for i in range(0, len(labels), s.batch_size)]
    return torch.cat(out)


def check_finite(images: torch.Tensor) -> torch.Tensor:
    if not torch.isfinite(images).all():
        bad = (~torch.isfinite(images)).flatten(1).any(1).sum().item()
        raise NonFiniteSamples(f"{bad} of {len(images)} generated images are NaN/inf: the model diverged")
    return images


@torch.no_grad()
def judge_predictions(judge, images: torch.Tensor) -> torch.Tensor:
    """The class the CNN judge reads in each image (on the CPU)."""
    check_finite(images)
    judge.eval()
    device = next(judge.parameters()).device
    return torch.cat([judge(images[i:i + 500].to(device)).argmax(1).cpu() for i in range(0, len(images), 500)])


def judge_accuracy(judge, images: torch.Tensor, labels: torch.Tensor) -> float:
    return (judge_predictions(judge, images) == labels).float().mean().item()


def read_as(predictions: torch.Tensor, num_classes: int = 10) -> list[int]:
    """How many images a judge read as each class: what a model draws instead of the class it was asked for."""
    return torch.bincount(predictions, minlength=num_classes).tolist()


def forget_acc(model, schedule, judge, f: int, n: int, s: SampleSettings, seed: int = 0) -> float:
    labels = torch.full((n,), f, dtype=torch.long)
    return judge_accuracy(judge, generate(model, schedule, labels, s, seed), labels)


def retain_labels(f: int | None, n_per_class: int, num_classes: int = 10) -> torch.Tensor:
    classes = [k for k in range(num_classes) if k != f]
    return torch.tensor(classes).repeat_interleave(n_per_class)


def retain_metrics(model, schedule, judge, f: int | None, real: ImageData, n_per_class: int,
                   s: SampleSettings, seed: int = 0) -> dict:
    """retain_acc and cFID of the retained classes against the real test images of those classes."""
    labels = retain_labels(f, n_per_class)
    x = check_finite(generate(model, schedule, labels, s, seed))
    keep = real.labels != f if f is not None else torch.ones(len(real), dtype=torch.bool)
    real_x = to_float(real.images[keep])
    cfid = fid_from_features(judge_features(judge, x), judge_features(judge, real_x))
    return {"retain_acc": judge_accuracy(judge, x, labels), "cfid": cfid}


@torch.no_grad()
def param_distance(model, reference_state: dict) -> float:
    """||theta - theta_0||_2 over every parameter of the UNet (buffers excluded)."""
    total = 0.0
    for name, p in model.named_parameters():
        total += (p.detach().cpu().float() - reference_state[name].float()).pow(2).sum().item()
    return total ** 0.5
