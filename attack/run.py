"""Run any registered attack by name: what reproduce.py, the command line and the tests call.

    cfg = make_config("inversion", steps=200)             # the attack's defaults, overrides on top
    res = run_attack("inversion", model, schedule, AttackData(aux, f, seed, model_config), cfg,
                     measure=lambda m: forget_acc(m, schedule, judge, f, n, s, seed))
    with as_attacked(ATTACKS["inversion"], model, data, res):   # the attacked model: grids, checkpoint
        ...
"""
from dataclasses import fields

from ddpm.errors import UserError

from . import ATTACKS
from .base import RESULT_KEYS, AttackData


def get_attack(name: str):
    if name not in ATTACKS:
        raise UserError(f"unknown attack {name!r}: choose one of {', '.join(ATTACKS)}")
    return ATTACKS[name]


def settings_of(name: str) -> list:
    """The fields of the attack's Config a user may set (DiMRA's fixed threat model is not one)."""
    return [f for f in fields(get_attack(name).Config) if f.init]


def make_config(name: str, **overrides):
    """The attack's Config with its defaults, `overrides` (None = keep the default) on top.
    A setting the attack does not have, or a value out of range, is a UserError before any work."""
    names = {f.name for f in settings_of(name)}
    given = {k: v for k, v in overrides.items() if v is not None}
    bad = sorted(set(given) - names)
    if bad:
        raise UserError(f"{name} has no setting {', '.join(bad)}: its settings are {', '.join(sorted(names))}")
    return get_attack(name).Config(**given)


def run_attack(name: str, model, schedule, data: AttackData, cfg, measure=None, progress: bool = True,
               start: float | None = None) -> dict:
    """get_attack(name).run(...), with the settings' type and the result's keys checked (attack/base.py)."""
    module = get_attack(name)
    if not isinstance(cfg, module.Config):
        raise TypeError(f"attack {name!r} needs its own Config (make_config({name!r}, ...)), got {type(cfg).__name__}")
    res = module.run(model, schedule, data, cfg, measure=measure, progress=progress, start=start)
    missing = [k for k in RESULT_KEYS if k not in res]
    if missing:
        raise TypeError(f"attack {name!r} returned no {', '.join(missing)}: see attack/base.py for what run returns")
    return res
