"""What the public and hidden tests share: the student's functions, small models and data, and
`expect`, which fails a test with one line naming the property of the math that does not hold."""
import importlib

import pytest
import torch
from torch import nn

from course.feedback import describe
from course.parts import location
from ddpm.unet import UNet, UNetConfig


def expect(condition, message: str) -> None:
    """Fail the test with `message` (one line, no traceback) unless `condition` holds."""
    if not condition:
        pytest.fail(message, pytrace=False)


def expect_close(got, want, message: str, atol: float = 1e-5) -> None:
    """expect that two tensors (or numbers) agree to `atol`; the message gets the largest difference."""
    expect(isinstance(got, (torch.Tensor, float, int)), f"{message} (got a {type(got).__name__}, not a tensor)")
    got, want = torch.as_tensor(got).detach().float(), torch.as_tensor(want).detach().float()
    expect(got.shape == want.shape, f"{message} (shape {tuple(got.shape)}, expected {tuple(want.shape)})")
    diff = (got - want).abs().max().item() if got.numel() else 0.0
    expect(diff <= atol, f"{message} (largest difference {diff:.3g})")


def student(function: str):
    """The student's function (e.g. 'ga_loss'), imported from its module; a module that does not
    import fails the test with one line saying why."""
    path, module = location(function)
    try:
        return getattr(importlib.import_module(module), function)
    except Exception as error:                           # SyntaxError, ImportError, NameError, ...
        pytest.fail(f"{path} does not import: {describe(error)}", pytrace=False)


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


class Spy(nn.Module):
    """Wraps a model and records every call: its inputs, and whether autograd was recording."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.calls = model, []
        self.null_class = model.null_class
        self.config = getattr(model, "config", None)

    def forward(self, x, t, c):
        self.calls.append({"x": x.detach().clone(), "t": t.detach().clone(), "c": c.detach().clone(),
                           "grad": torch.is_grad_enabled()})
        return self.model(x, t, c)

    def labels(self) -> torch.Tensor:
        return torch.cat([call["c"] for call in self.calls]) if self.calls else torch.empty(0, dtype=torch.long)


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
