"""Tests that pin the wiring (issue 22, item 6): every setting reaches the code that should use it.

Tests of the property, not of the instance. Every field of every settings dataclass of the science
packages, changed alone, changes what the code computes on a tiny model and tiny data (the loss
history, the weights, the samples, the curve). The cases are generated from dataclasses.fields(...),
so a field added later is tested at once and fails if it reaches nothing; a field that legitimately
changes nothing observable in a tiny run is listed in EXEMPT with the reason, and a new dataclass
must be covered or declared (test_wiring_configs.py, `test_every_settings_dataclass_is_covered`).

The altered value of a field follows its type (`altered`): a bool is flipped, an int + 1, a float
doubled (0 -> 1); ALTERED holds the exceptions, each with its reason. Each subject's base run is
checked to be deterministic first: otherwise "it changed" would prove nothing.

This file: the machinery, the unlearning methods (every module of unlearn.METHODS, the shared
UnlearnSettings fields included, less those a method declares it ignores: its IGNORES, which must then
change nothing) and the attacks (DiMRAConfig, and every attack of attack.ATTACKS).
test_wiring_configs.py: pre-training, UNet, judge, sampler and plateau settings.
test_wiring_fit.py: what `fit` promises. test_wiring_metrics.py: each metric scores the labels it sampled.
"""
import dataclasses
from dataclasses import dataclass
from typing import Callable
from unittest import mock

import pytest
import torch

from attack import ATTACKS
from attack.base import AttackData
from attack.dimra import DiMRAConfig, run_threat
from attack.run import run_attack
from ddpm.config import DDPMConfig
from ddpm.data import Batches, ImageData
from ddpm.schedule import NoiseSchedule
from ddpm.train_loop import Plateau
from tests.conftest import tiny_unet
from unlearn import METHODS
from unlearn.run import unlearn

# ----------------------------------------------------------------------------- the machinery
# Exceptions to the type rule of `altered`; a callable gets the base value.
ALTERED = {
    # Adam is invariant to a constant scale of the gradient, so a clip that is active at both values (or
    # at neither) changes nearly nothing: the bases set grad_clip = 1e3 (never active), this is always active.
    "grad_clip": 1e-3,
    "p_uncond": 0.9,            # 0.1 -> 0.2 moves only the few label draws in [0.1, 0.2) of a tiny run
    "exclude_class": 3,         # None -> a class
    # strings (no type rule): another valid value; for `aux` the base is 'mixed' (share only acts there)
    "alt": "class:3", "aux": "retain", "init": "mean", "schedule": "cosine", "retain_reduction": "sum",
    "dataset": "mnist", "data_root": "elsewhere",
    # +1 breaks the UNet's shape rules (widths divisible by groups, sizes that halve)
    "ch": 16, "groups": 2, "image_size": 16, "ch_mult": (1, 1), "attn_resolutions": (4,),
    "dropout": 0.5,             # 0 -> 1 would zero every activation
    # the base run stops at min_steps, so only a stricter tolerance can move the stop
    "rel_tol": lambda v: v / 2,
    "eval_at": (1,),            # () -> an extra measured step the base (every 2 of 3 steps) does not measure
}

# "<subject>.<field>": why changing it alone changes nothing a tiny CPU run computes.
EXEMPT = {
    "DDPMConfig.amp": "bf16 autocast on CUDA only: on the CPU autocast() is a null context by design",
    "DDPMConfig.compile": "torch.compile on CUDA only (pretrain skips it on the CPU by design)",
    "DDPMConfig.channels_last": "a memory format on CUDA only (speedups() returns the model as is on the CPU)",
}


def altered(name: str, value):
    if name in ALTERED:
        rule = ALTERED[name]
        return rule(value) if callable(rule) else rule
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 if value else 1.0
    raise AssertionError(f"no rule alters the field {name} = {value!r}: add one to ALTERED in tests/test_wiring.py")


@dataclass
class Subject:
    """A settings dataclass, the tiny-run values of some of its fields (the rest keep their defaults),
    and `observe(settings) -> dict`: runs the code with those settings, returns what it computed.
    `ignores`: fields the code declares it has no use for (a method's IGNORES): not settings of it."""
    cls: type
    base: dict
    observe: Callable
    ignores: tuple = ()


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def settable_fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def settings_of(sub: Subject) -> list[str]:
    """The fields of a subject a user may set: its settable fields, less those it ignores."""
    return [name for name in settable_fields(sub.cls) if name not in sub.ignores]


def cases(subjects: dict) -> list:
    """(subject key, field name) for every setting of every subject, the exempt ones left out."""
    return [pytest.param(key, name, id=f"{key}.{name}") for key, sub in subjects.items()
            for name in settings_of(sub) if f"{key}.{name}" not in EXEMPT]


class Runs:
    """The subjects of one test file, and each one's base observation (computed once)."""

    def __init__(self, subjects: dict):
        self.subjects, self.base_runs = subjects, {}

    def base(self, key: str) -> dict:
        if key not in self.base_runs:
            sub = self.subjects[key]
            self.base_runs[key] = sub.observe(sub.cls(**sub.base))
        return self.base_runs[key]

    def check_deterministic(self, key: str) -> None:
        sub = self.subjects[key]
        assert same(self.base(key), sub.observe(sub.cls(**sub.base))), \
            f"two runs of {key} with the same settings differ: a 'changed' result would prove nothing"

    def altered_run(self, key: str, name: str) -> tuple:
        """(old value, new value, what the code computes with the field altered alone)."""
        sub = self.subjects[key]
        old = getattr(sub.cls(**sub.base), name)
        new = altered(name, old)
        assert new != old, f"{key}.{name}: the altered value equals the base value {old!r}"
        return old, new, sub.observe(sub.cls(**{**sub.base, name: new}))

    def check_field(self, key: str, name: str) -> None:
        old, new, changed = self.altered_run(key, name)
        assert not same(self.base(key), changed), (
            f"{key}.{name} = {old!r} -> {new!r} changed nothing the code computes: the setting does not reach "
            f"the code that should use it (or, if that is right, list it in EXEMPT with the reason)")

    def check_ignored(self, key: str, name: str) -> None:
        old, new, changed = self.altered_run(key, name)
        assert same(self.base(key), changed), (
            f"{key}.{name} = {old!r} -> {new!r} changed the run, yet the method declares it in IGNORES: "
            f"drop it from IGNORES (and give it a default in the method's Settings)")


# ----------------------------------------------------------------------------- tiny data and probes
def tiny_images(per_class: list[int], size=8, seed=0) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.full((n,), k) for k, n in enumerate(per_class)])
    return ImageData(torch.randint(0, 256, (len(labels), 1, size, size), generator=g, dtype=torch.uint8), labels)


TRAIN = tiny_images([8] * 10)               # the unlearning methods' training split
AUX = tiny_images([10] + [2] * 9, seed=1)   # the attacker's split: 10 images of f = 0, 2 of each other class
MODEL_CONFIG = DDPMConfig(image_size=8, ch=8, ch_mult=(1, 2), groups=4, T=50, ddim_steps=2, guidance=1.0)
PROBE = torch.linspace(-1, 1, 64).view(1, 1, 8, 8), torch.tensor([25]), torch.tensor([0])


@torch.no_grad()
def measure(model) -> float:
    """A cheap stand-in for forget_acc: the model's prediction for label f = 0 on one fixed input."""
    return float(model(*PROBE).sum())


def state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ----------------------------------------------------------------------------- unlearning methods
def fast_plateau(self, losses):
    """The plateau rule with its numbers cut to a tiny run: it fires after 2 steps."""
    return len(losses) >= 2


def unlearn_subject(method: str) -> Subject:
    def observe(s) -> dict:
        model = tiny_unet()
        with mock.patch.object(Plateau, "reached", fast_plateau):
            res = unlearn(model, NoiseSchedule(50), TRAIN, method, s, progress=False)
        return {**res, "weights": state(model)}
    # plateau off in the base (3 steps), so that turning it on (2 steps) and steps + 1 both show
    base = dict(forget_class=0, steps=3, batch_size=4, plateau=False, grad_clip=1e3)
    return Subject(METHODS[method].Settings, base, observe, tuple(getattr(METHODS[method], "IGNORES", ())))


# ----------------------------------------------------------------------------- attacks
ATTACK_DATA = AttackData(aux=AUX, forget_class=0, seed=0, model_config=MODEL_CONFIG)
ATTACK_BASE = dict(steps=3, batch_size=4, grad_clip=1e3, eval_every=2, n_images=6, n_samples=6)


def dimra_subject() -> Subject:
    """DiMRAConfig as the registry runs it: D_aux = attack_set(aux, f, cfg.aux, cfg.share), then dimra."""
    def observe(cfg) -> dict:
        model = tiny_unet()
        res = run_threat(cfg.aux, model, NoiseSchedule(50), ATTACK_DATA, cfg, measure=measure, progress=False)
        return {**res, "weights": state(model)}
    return Subject(DiMRAConfig, dict(aux="mixed", **{k: ATTACK_BASE[k] for k in settable_fields(DiMRAConfig)
                                                     if k in ATTACK_BASE}), observe)


def attack_subject(name: str) -> Subject:
    cls = ATTACKS[name].Config

    def observe(cfg) -> dict:
        model = tiny_unet()
        res = run_attack(name, model, NoiseSchedule(50), ATTACK_DATA, cfg, measure=measure, progress=False)
        return {**res, "weights": state(model)}
    return Subject(cls, {k: v for k, v in ATTACK_BASE.items() if k in settable_fields(cls)}, observe)


SUBJECTS = {**{f"unlearn.{m}": unlearn_subject(m) for m in METHODS},
            "DiMRAConfig": dimra_subject(),
            **{f"attack.{a}": attack_subject(a) for a in ATTACKS}}
RUNS = Runs(SUBJECTS)


@pytest.mark.parametrize("key", list(SUBJECTS))
def test_a_tiny_run_is_deterministic(key):
    RUNS.check_deterministic(key)


@pytest.mark.parametrize("key, name", cases(SUBJECTS))
def test_every_setting_changes_the_run(key, name):
    """Changing the field alone changes the loss history, the weights or the curve of the tiny run."""
    RUNS.check_field(key, name)


@pytest.mark.parametrize("key, name", [pytest.param(key, name, id=f"{key}.{name}")
                                       for key, sub in SUBJECTS.items() for name in sub.ignores])
def test_an_ignored_setting_changes_nothing(key, name):
    """A method's IGNORES is true: changing such a field alone changes nothing the tiny run computes."""
    RUNS.check_ignored(key, name)


class Streams:
    """Records every batch any ddpm.data.Batches hands out, stream by stream, and the global RNG after the run."""

    def __init__(self):
        self.batches, self.rng = {}, None

    def run(self, sub: Subject, **changes) -> "Streams":
        real, batches = Batches.__next__, self.batches

        def spy(stream):
            x, c = real(stream)
            batches.setdefault(id(stream), []).append((x.clone(), c.clone()))
            return x, c
        with mock.patch.object(Batches, "__next__", spy):
            sub.observe(sub.cls(**{**sub.base, **changes}))
        self.rng = torch.get_rng_state()
        return self

    def streams(self) -> list:
        return list(self.batches.values())


def check_streams(sub: Subject) -> None:
    """A setting can reach one of its uses and miss another, and still change the run: `seed` passed to
    the D_f stream but not to D_r, `batch_size` to one stream only. So: every batch the run draws, from
    every stream, has `batch_size` images, and another seed changes every stream and the global RNG's
    draws (the noise, the dropped labels)."""
    changes = {"batch_size": 3, **({"alpha": 1.0} if "alpha" in settings_of(sub) else {})}  # D_r drawn
    one = Streams().run(sub, **changes)
    assert one.streams() and all(len(c) == 3 for s in one.streams() for _, c in s)
    other = Streams().run(sub, **changes, seed=sub.cls(**sub.base).seed + 1)
    assert len(other.streams()) == len(one.streams())
    for k, (a, b) in enumerate(zip(one.streams(), other.streams())):
        assert not same(a, b), f"data stream {k} (in the order first drawn) does not follow the seed"
    assert not torch.equal(one.rng, other.rng), "the global RNG (noise, label dropout) does not follow the seed"


def seeded(subjects: dict) -> list:
    return [key for key, sub in subjects.items() if {"seed", "batch_size"} <= set(settings_of(sub))]


@pytest.mark.parametrize("key", seeded(SUBJECTS))
def test_batch_size_and_seed_reach_every_stream(key):
    check_streams(SUBJECTS[key])

