"""DiMUM, Diffusion Model Unlearning by Memorization (the paper's defence).

Instead of pushing f away, teach the model to generate something else under f: alternative
images x_alt, labelled f, learned with the ordinary denoising loss and trained to convergence:

    L_DiMUM(theta) = L_simple(theta; {(x_alt, f) : x_alt in D_alt})  +  alpha * L_simple(theta; D_r)

Unlike GA / ESD / SalUn this loss has a minimum the model can reach (memorise D_alt), so the
unlearned model sits in a new basin rather than at an early-stopped point near theta_0.

The alternative set D_alt (`alternative_set`):
    class:K        every training image of class K (another digit), relabelled f
    fixed:K:N      N fixed training images of class K
    pattern:NAME   one fixed synthetic non-digit image: 'blank' (background only) or 'checker'
"""
import torch

from ddpm.data import ImageData
from ddpm.diffusion import simple_loss
from ddpm.errors import UserError


def dimum_loss(model, schedule, x_alt, f, x_r, c_r, alpha: float = 1.0):
    """x_alt: a batch of D_alt; f: labels (all f) for it."""
    loss = simple_loss(model, schedule, x_alt, f)
    if alpha > 0:
        loss = loss + alpha * simple_loss(model, schedule, x_r, c_r)
    return loss


def _pattern(name: str, channels: int, size: int) -> torch.Tensor:
    if name == "blank":
        return torch.zeros(1, channels, size, size, dtype=torch.uint8)
    if name == "checker":
        ij = torch.arange(size) // max(size // 4, 1)
        board = ((ij[:, None] + ij[None, :]) % 2).to(torch.uint8) * 255
        return board.expand(1, channels, size, size).clone()
    raise UserError(f"unknown pattern {name!r}: use pattern:blank or pattern:checker")


def alternative_set(spec: str, train: ImageData, forget_class: int, seed: int = 0) -> ImageData:
    """Build D_alt from its spec (see the module docstring); every image is labelled forget_class."""
    parts = spec.split(":")
    try:
        if parts[0] == "class" and len(parts) == 2:
            k, n = int(parts[1]), None
        elif parts[0] == "fixed" and len(parts) == 3:
            k, n = int(parts[1]), int(parts[2])
        elif parts[0] == "pattern" and len(parts) == 2:
            _, c, h, _ = train.images.shape
            img = _pattern(parts[1], c, h)
            return ImageData(img, torch.tensor([forget_class]))
        else:
            raise ValueError
    except ValueError:
        raise UserError(f"--alt {spec!r} not understood: use class:K, fixed:K:N or pattern:blank|checker") from None
    if k == forget_class or not 0 <= k < train.num_classes:
        raise UserError(f"--alt class {k} must be another class than the forgotten one ({forget_class}), in 0..9")
    images = train.images[train.labels == k]
    if n is not None:
        images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]]
    return ImageData(images, torch.full((len(images),), forget_class, dtype=torch.long))
