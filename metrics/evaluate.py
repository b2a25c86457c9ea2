"""The numbers of the results table: forget_acc, retain_acc, cFID on retained classes, ||theta - theta_0||.

forget_acc: the judge's accuracy on n images generated with label f (UA = 1 - forget_acc).
retain_acc: the same on images generated with every other label (n per label).
All sampling is DDIM (eta = 0) with classifier-free guidance, seeded: the same model, seed and
settings give the same number.
"""
from dataclasses import dataclass

import torch

from ddpm.data import ImageData, to_float
from ddpm.diffusion import ddim_sample

from .fid import fid_from_features, judge_features


@dataclass
class SampleSettings:
    steps: int = 25          # DDIM steps
    guidance: float = 2.0    # classifier-free guidance scale w
    batch_size: int = 500


@torch.no_grad()
def generate(model, schedule, labels: torch.Tensor, s: SampleSettings, seed: int = 0) -> torch.Tensor:
    """DDIM samples for `labels`, in batches, from one seeded generator (returned on the CPU)."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    out = [ddim_sample(model, schedule, labels[i:i + s.batch_size], steps=s.steps, guidance=s.guidance,
                       generator=g).cpu() for i in range(0, len(labels), s.batch_size)]
    return torch.cat(out)


@torch.no_grad()
def judge_accuracy(judge, images: torch.Tensor, labels: torch.Tensor) -> float:
    judge.eval()
    device = next(judge.parameters()).device
    preds = torch.cat([judge(images[i:i + 500].to(device)).argmax(1).cpu() for i in range(0, len(images), 500)])
    return (preds == labels).float().mean().item()


def forget_acc(model, schedule, judge, f: int, n: int = 100, s: SampleSettings = SampleSettings(),
               seed: int = 0) -> float:
    labels = torch.full((n,), f, dtype=torch.long)
    return judge_accuracy(judge, generate(model, schedule, labels, s, seed), labels)


def retain_labels(f: int | None, n_per_class: int, num_classes: int = 10) -> torch.Tensor:
    classes = [k for k in range(num_classes) if k != f]
    return torch.tensor(classes).repeat_interleave(n_per_class)


def retain_metrics(model, schedule, judge, f: int | None, real: ImageData, n_per_class: int = 100,
                   s: SampleSettings = SampleSettings(), seed: int = 0) -> dict:
    """retain_acc and cFID of the retained classes against the real test images of those classes."""
    labels = retain_labels(f, n_per_class)
    x = generate(model, schedule, labels, s, seed)
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
