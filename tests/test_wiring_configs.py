"""Wiring, continued (see tests/test_wiring.py): pre-training (DDPMConfig through `pretrain`), the UNet,
the judge (JudgeConfig through `train_judge`), the evaluation sampler (SampleSettings through `generate`)
and the plateau rule (Plateau through `fit`). Every field, changed alone, changes what is computed.

Pre-training and the judge read their data through `load_splits` and write checkpoints and grids:
the tests replace those by fakes that record what was asked for (which data set, where, at which
size) and keep what would have been written, in memory. The observation never includes the
recorded config itself, only what the run computed with it.
"""
import dataclasses
import importlib
import pkgutil
import tempfile
from unittest import mock

import pytest
import torch
from torch import nn

import lab.judges
import lab.pretrain
import metrics.judge
from ddpm.config import DDPMConfig
from ddpm.data import ImageData
from ddpm.schedule import NoiseSchedule
from ddpm.train_loop import Plateau, fit
from ddpm.unet import UNet, UNetConfig
from lab.judges import train_judge
from lab.pretrain import pretrain
from metrics.evaluate import SampleSettings, generate
from metrics.judge import JudgeConfig
from tests.conftest import tiny_unet
from tests.test_wiring import SUBJECTS as METHOD_AND_ATTACK_SUBJECTS
from tests.test_wiring import ALTERED, EXEMPT, Runs, Subject, cases, check_streams, settable_fields, state

TINY_UNET = dict(image_size=8, ch=8, ch_mult=(1, 2), groups=4)


class FakeIO:
    """Stands in for load_splits, save_checkpoint and save_grid in `module`: records the data asked for,
    keeps every checkpoint (its step) and grid in memory."""

    def __init__(self, *modules):
        self.modules, self.loads, self.saved, self.grids = modules, [], [], []

    def load_splits(self, name, root="data", image_size=None, **kwargs):
        self.loads.append((name, root, image_size))
        g = torch.Generator().manual_seed(0)
        size, channels = image_size or 28, 3 if name == "cifar10" else 1

        def split(n):
            return ImageData(torch.randint(0, 256, (10 * n, channels, size, size), generator=g, dtype=torch.uint8),
                             torch.arange(10).repeat_interleave(n))
        return {"train": split(8), "aux": split(2), "test": split(2)}

    def save_checkpoint(self, obj, path):
        self.saved.append(obj)

    def save_grid(self, x, path, nrow=10):
        self.grids.append((path.rsplit("/", 1)[-1], x.detach().clone()))

    def __enter__(self):
        self.patches = [mock.patch.object(module, name, getattr(self, name)) for module in self.modules
                        for name in ("load_splits", "save_checkpoint", "save_grid") if hasattr(module, name)]
        for p in self.patches:
            p.start()
        return self

    def __exit__(self, *exc):
        for p in reversed(self.patches):
            p.stop()


def observe_pretraining(cfg: DDPMConfig) -> dict:
    with FakeIO(lab.pretrain) as io, tempfile.TemporaryDirectory() as tmp:
        pretrain(cfg, f"{tmp}/ddpm.pt", progress=False)
    last = io.saved[-1]
    return {"loads": io.loads, "grids": io.grids, "checkpoint_steps": [c["step"] for c in io.saved],
            **{k: last[k] for k in ("step", "model", "ema", "ema_updates", "history")}}


def observe_judge(cfg: JudgeConfig) -> dict:
    with FakeIO(metrics.judge, lab.judges) as io, tempfile.TemporaryDirectory() as tmp:
        acc = train_judge(cfg, f"{tmp}/judge.pt", progress=False)
    return {"loads": io.loads, "test_acc": acc, "model": io.saved[-1]["model"]}


def observe_unet(cfg: UNetConfig) -> dict:
    torch.manual_seed(0)
    model = UNet(cfg).train()           # train mode: dropout acts
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)
    torch.manual_seed(2)
    return {"weights": state(model), "out": model(x, torch.tensor([3, 40]), torch.tensor([0, 3])).detach()}


def observe_sampler(s: SampleSettings) -> dict:
    """The samples, and the batch size of every forward pass (what `batch_size` is for)."""
    model, batches, forward = tiny_unet(), [], UNet.forward

    def spy(self, x, t, c):
        batches.append(len(x))
        return forward(self, x, t, c)
    with mock.patch.object(UNet, "forward", spy):
        x = generate(model, NoiseSchedule(50), torch.arange(6), s, seed=0)
    return {"samples": x, "batches": batches}


PLATEAU_LOSSES = [1 + 10 * 0.5 ** k for k in range(20)]   # falls fast, then flattens


def observe_plateau(p: Plateau) -> dict:
    """fit on a scripted loss sequence: with the base rule it stops at step 7, with any field changed later."""
    model, losses = nn.Linear(1, 1), iter(PLATEAU_LOSSES)
    hist = fit(model, lambda: model.weight.sum() * 0 + next(losses), 20, 0.1, plateau=p, progress=False)
    return {"steps_done": hist["steps_done"], "stopped": hist["stopped"]}


SUBJECTS = {
    "DDPMConfig": Subject(DDPMConfig, dict(TINY_UNET, T=50, steps=3, batch_size=4, warmup=2, ema_decay=0.05,
                                           grad_clip=1e3, ddim_steps=2, guidance=1.0, sample_every=2,
                                           ckpt_every=2), observe_pretraining),
    "UNetConfig": Subject(UNetConfig, TINY_UNET, observe_unet),
    "JudgeConfig": Subject(JudgeConfig, dict(image_size=8, width=4, feature_dim=8, epochs=1, batch_size=16),
                           observe_judge),
    "SampleSettings": Subject(SampleSettings, dict(steps=3, guidance=1.0, batch_size=4), observe_sampler),
    "Plateau": Subject(Plateau, dict(window=2, rel_tol=0.4, min_steps=7), observe_plateau),
}
RUNS = Runs(SUBJECTS)


@pytest.mark.parametrize("key", list(SUBJECTS))
def test_a_tiny_run_is_deterministic(key):
    RUNS.check_deterministic(key)


@pytest.mark.parametrize("key, name", cases(SUBJECTS))
def test_every_setting_changes_the_run(key, name):
    RUNS.check_field(key, name)


def test_batch_size_and_seed_reach_every_stream_of_pretraining():
    """See check_streams (the judge is left out: it draws its batches with its own permutation, not Batches)."""
    check_streams(SUBJECTS["DDPMConfig"])


def test_the_plateau_base_run_stops_on_the_plateau():
    assert RUNS.base("Plateau") == {"steps_done": 7, "stopped": "plateau"}


# Dataclasses of the science packages that hold no settings, or whose fields are tested through others.
NOT_SETTINGS = {
    "ddpm.data.ImageData": "data (images, labels)",
    "lab.distributed.Ranks": "the torchrun process group, read from the environment",
    "unlearn.base.UnlearnSettings": "the shared fields: tested through every method's Settings",
    "unlearn.base.UnlearnData": "the data streams a method is given",
    "unlearn.base.Plan": "what a method hands to fit",
    "attack.base.AttackData": "the attacker's data",
    "metrics.verdict.Counts": "a result", "metrics.verdict.Verdict": "a result",
}


def science_dataclasses() -> set[str]:
    found = set()
    for package in ("ddpm", "unlearn", "attack", "metrics", "lab"):
        root = importlib.import_module(package)
        for info in pkgutil.iter_modules(root.__path__, f"{package}."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            found |= {f"{module.__name__}.{obj.__qualname__}" for obj in vars(module).values()
                      if dataclasses.is_dataclass(obj) and isinstance(obj, type) and obj.__module__ == module.__name__}
    return found


def test_every_settings_dataclass_is_covered():
    """A new settings dataclass in ddpm/, unlearn/, attack/ or metrics/ must get a subject in the wiring
    tests (or an entry in NOT_SETTINGS saying why it needs none)."""
    covered = {f"{sub.cls.__module__}.{sub.cls.__qualname__}"
               for sub in [*METHOD_AND_ATTACK_SUBJECTS.values(), *SUBJECTS.values()]}
    missing = science_dataclasses() - covered - set(NOT_SETTINGS)
    assert not missing, f"settings dataclasses no wiring test covers: {sorted(missing)}"


def test_exempt_and_altered_entries_are_real_fields():
    """No stale entry: each EXEMPT key names a field of a subject of the wiring tests, each ALTERED key a
    field of some settings dataclass (so a renamed field cannot silently fall back to the type rule)."""
    subjects = {**METHOD_AND_ATTACK_SUBJECTS, **SUBJECTS}
    names = {f"{key}.{name}" for key, sub in subjects.items() for name in settable_fields(sub.cls)}
    assert set(EXEMPT) <= names, set(EXEMPT) - names
    all_fields = {name.rsplit(".", 1)[1] for name in names}
    assert set(ALTERED) <= all_fields, set(ALTERED) - all_fields
