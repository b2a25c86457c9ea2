import os
import types
from dataclasses import dataclass

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# precision 'auto' caches its measurement per machine: the tests keep theirs out of the user's ~/.cache
os.environ.setdefault("UNLEARN_CACHE_DIR", os.path.join(ROOT, ".pytest_cache", "unlearning-ddpm"))

from ddpm.diffusion import noised
from ddpm.schedule import NoiseSchedule
from ddpm.unet import UNet, UNetConfig
from unlearn.base import Plan, UnlearnSettings


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


# ----------------------------------------------------------------------------- a method in one file
@dataclass(kw_only=True)
class ToySettings(UnlearnSettings):
    steps: int = 3
    lr: float = 1e-4
    alpha: float = 0.0


def toy_loss(model, schedule, x_f, c_f):
    """Predict zero noise under f: || eps_theta(x_t, t, f) ||^2."""
    t, _, x_t = noised(schedule, x_f)
    return model(x_t, t, c_f).pow(2).mean()


TOY = types.SimpleNamespace(LABEL="Toy", Settings=ToySettings,
                            setup=lambda model, schedule, data, s: Plan(lambda: toy_loss(model, schedule,
                                                                                         *next(data.forget))))
SHARED_SMOKE = ["--smoke", "--seeds", "0", "--methods", "ga,toy"]


@pytest.fixture(scope="session")
def shared_smoke(tmp_path_factory):
    """One `reproduce.py --smoke --seeds 0 --methods ga,toy` run (the toy method above registered for it)
    for every test that only reads its models, stages or tables: each copies or links what it needs,
    none writes into it. The suite's one smoke run, made once a session."""
    import reproduce
    from unlearn import METHODS
    folder = tmp_path_factory.mktemp("shared-smoke")
    cwd = os.getcwd()
    METHODS["toy"] = TOY
    try:
        os.chdir(folder)
        assert reproduce.main(SHARED_SMOKE) == 0
    finally:
        os.chdir(cwd)
        del METHODS["toy"]
    return folder
