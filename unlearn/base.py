"""What every unlearning method shares: its settings' common fields, the data it is given, and
what it hands to the shared fine-tuning loop (what a method module defines: unlearn/__init__.py).
"""
from dataclasses import dataclass
from typing import Callable

import torch

from ddpm.data import Batches, ImageData
from ddpm.errors import require


@dataclass(kw_only=True)
class UnlearnSettings:
    """Settings every method has. `steps` and `lr` have no default here: each method sets them. A method
    that has no use for one of the others declares it in its module's IGNORES (unlearn/__init__.py)."""
    forget_class: int                  # the class f to forget
    steps: int                         # fine-tuning steps (an upper bound when `plateau` is on)
    lr: float                          # Adam learning rate
    alpha: float = 0.0                 # weight of the retain term alpha * L_simple(theta; D_r); 0 = none
    batch_size: int = 64
    plateau: bool = False              # stop when the loss stops falling (convergent losses only)
    freeze_class_emb: bool = False     # keep the class embedding at theta_0 (cf. SD's frozen text encoder)
    p_uncond: float = 0.0              # label dropout during unlearning: each label the trained model is
                                       # conditioned on becomes the null label with this probability (pre-
                                       # training used 0.1; 0 = none, the project's default)
    grad_clip: float = 1.0
    seed: int = 0

    def __post_init__(self):
        require((0 <= self.forget_class < 10, f"class index {self.forget_class} is out of range: use 0..9"),
                (self.steps >= 1, f"--steps {self.steps} must be at least 1"),
                (self.lr > 0, f"--lr {self.lr} must be positive"),
                (self.alpha >= 0, f"--alpha {self.alpha} must be >= 0"),
                (0 <= self.p_uncond < 1, f"--p-uncond {self.p_uncond} must be in [0, 1)"),
                (self.batch_size >= 1, f"--batch-size {self.batch_size} must be at least 1"),
                (self.grad_clip > 0, f"--grad-clip {self.grad_clip} must be positive"),
                (self.seed >= 0, f"--seed {self.seed} must be >= 0"))


@dataclass
class UnlearnData:
    """The data every method is given: endless seeded streams of (x in [-1, 1], labels) batches."""
    train: ImageData        # the whole training split (DiMUM draws its alternative images from it)
    forget: Batches         # D_f: training images of the forgotten class, labelled f
    retain: Batches         # D_r: training images of every other class
    device: torch.device


@dataclass
class Plan:
    """What a method hands to the shared loop: `loss_fn()` draws its own batches and returns a scalar;
    `grad_mask` ({parameter name: 0/1 tensor}) restricts which weights move (SalUn), None = all."""
    loss_fn: Callable[[], torch.Tensor]
    grad_mask: dict | None = None
