import os

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# precision 'auto' caches its measurement per machine: the tests keep theirs out of the user's ~/.cache
os.environ.setdefault("UNLEARN_CACHE_DIR", os.path.join(ROOT, ".pytest_cache", "unlearning-ddpm"))

from ddpm.schedule import NoiseSchedule
from ddpm.unet import UNet, UNetConfig


def error_lines(err: str) -> list[str]:
    """stderr without the status lines a run prints (which device, which precision, the time left):
    what a test of a one-line error message counts."""
    return [line for line in err.strip().splitlines() if line.strip()
            and not line.startswith(("device:", "precision:")) and "left at this speed" not in line]


def tiny_unet(image_size=8, in_channels=1, seed=0):
    torch.manual_seed(seed)
    return UNet(UNetConfig(image_size=image_size, in_channels=in_channels, ch=8, ch_mult=(1, 2),
                           num_res_blocks=1, groups=4))


@pytest.fixture
def tiny():
    """(model, schedule) small enough for a CPU unit test."""
    return tiny_unet(), NoiseSchedule(T=50)
