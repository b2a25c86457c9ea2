"""What the tests hand to a student's function: small models, images, a stream of batches and the
`measure` callbacks of an attack. The grader builds these in its own process and sends them to the
process that runs the student's code (course/objects.py), which builds the same objects there."""
import torch
from torch import nn

from ddpm.unet import UNet, UNetConfig


def tiny_unet(seed: int = 0, image_size: int = 8, in_channels: int = 1) -> UNet:
    """A UNet small enough for a CPU test (a few milliseconds a pass), with seeded weights."""
    torch.manual_seed(seed)
    return UNet(UNetConfig(image_size=image_size, in_channels=in_channels, ch=8, ch_mult=(1, 2),
                           num_res_blocks=1, groups=4))


def images(n: int, seed: int = 0, size: int = 8, channels: int = 1) -> torch.Tensor:
    """n images with pixels uniform in [-1, 1] (the range the models are trained on)."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g) * 2 - 1


def other_labels(n: int, f: int, num_classes: int = 10) -> torch.Tensor:
    """n labels of the retained classes (every class but f, in turn)."""
    return (f + 1 + torch.arange(n) % (num_classes - 1)) % num_classes


def flat_grad(model: nn.Module) -> torch.Tensor:
    """Every parameter's gradient in one vector (zeros where a parameter got none)."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in model.parameters()])


class PerClass(nn.Module):
    """eps(x, t, c) = table[c], whatever x and t: a model whose prediction for each class (the null
    class included, last row) is one learnable image. Its gradient says which classes' predictions a
    loss trains. `unused` is a parameter no prediction reads (its gradient stays None)."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = nn.Parameter(table.clone())
        self.unused = nn.Parameter(torch.zeros(5))
        self.null_class = len(table) - 1

    def forward(self, x, t, c):
        return self.table[c]


class BlowsUp(nn.Module):
    """A tiny UNet whose predictions turn to NaN from its `after`-th call on (an attack that diverges)."""

    def __init__(self, after: int, config: UNetConfig | None = None):
        super().__init__()
        self.model = UNet(config) if config is not None else tiny_unet()
        self.after, self.calls, self.null_class = after, 0, self.model.null_class

    def forward(self, x, t, c):
        self.calls += 1
        out = self.model(x, t, c)
        return out * float("nan") if self.calls >= self.after else out


class Repeat:
    """An endless stream that yields the same item every time (a stream of batches of D_f)."""

    def __init__(self, item):
        self.item = item

    def __iter__(self):
        return self

    def __next__(self):
        return self.item


class Counter:
    """A `measure` that returns 1.0, 2.0, ... on its successive calls."""


class Constant:
    """A `measure` that always returns `value`."""

    def __init__(self, value: float):
        self.value = value
