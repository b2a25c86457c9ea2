"""Zero-noise unlearning, the README's example method: under the forgotten label f the model learns
to predict zero noise.

    L(theta) = E_{x_0 ~ D_f, t, eps} || eps_theta(x_t, t, f) ||^2

Copy it to unlearn/zero.py and register it (README.md, "Add your own method"; what a method module
defines: unlearn/__init__.py).
"""
from dataclasses import dataclass

from ddpm.diffusion import noised

from .base import Plan, UnlearnSettings

LABEL = "Zero"                      # its name in tables and figures (COLOR is optional)
IGNORES = ("alpha", "p_uncond")     # shared settings it has no use for: no flags, refused if given


@dataclass(kw_only=True)
class Settings(UnlearnSettings):    # the method's defaults: the only place they live
    steps: int = 100
    lr: float = 1e-4


def zero_loss(model, schedule, x_f, c_f):
    """L = || eps_theta(x_t, t, f) ||^2 on a batch (x_f, c_f) of D_f, x_t noised from x_f."""
    t, _, x_t = noised(schedule, x_f)
    return model(x_t, t, c_f).pow(2).mean()


def setup(model, schedule, data, s: Settings) -> Plan:
    """What the shared loop needs: a loss closure that draws its own batches (here from D_f)."""
    return Plan(lambda: zero_loss(model, schedule, *next(data.forget)))
