"""The unconditional branch: how much of the forgotten class a model draws when given no label.

Classifier-free guidance mixes two predictions for every label c,

    eps~ = (1 + w) eps_theta(x_t, t, c) - w eps_theta(x_t, t, null),

so the unconditional branch eps_theta(., ., null) takes part in every sample of every class. The
pre-trained model learned it on all classes (label dropout), f included; Retrain never saw f
there. This measure is the share of unguided samples drawn with the null label (label K =
model.null_class, guidance off: eps~ = eps_theta(x_t, t, null)) that a judge reads as f:

    uncond_share(f) = (1/n) sum_i 1[judge(x_i) = f],   x_i ~ p_theta(x | null)   (DDIM, eta = 0, seeded)

About 1/K for a model that draws the K classes evenly from the null label; near 0 where it never
draws f. Compare a model's value with Retrain's and the pre-trained model's.
"""
from dataclasses import replace

import torch

from ddpm.data import check_class
from ddpm.errors import UserError

from .evaluate import SampleSettings, check_finite, generate, judge_accuracy
from .knn import KNNJudge


def null_samples(model, schedule, n: int, s: SampleSettings, seed: int = 0) -> torch.Tensor:
    """n DDIM samples with the null label and no guidance (s's steps and batch size), on the CPU."""
    if n < 1:
        raise UserError(f"the unconditional measure needs n >= 1 samples, got {n}")
    labels = torch.full((n,), model.null_class, dtype=torch.long)
    return check_finite(generate(model, schedule, labels, replace(s, guidance=0.0), seed))


def unconditional_share(model, schedule, judge, f: int, n: int, s: SampleSettings, seed: int = 0) -> float:
    """The share of n null-label, unguided samples that `judge` (the CNN judge or a KNNJudge) reads as f."""
    check_class(f, model.null_class)
    x = null_samples(model, schedule, n, s, seed)
    target = torch.full((n,), f, dtype=torch.long)
    return judge.accuracy(x, target) if isinstance(judge, KNNJudge) else judge_accuracy(judge, x, target)
