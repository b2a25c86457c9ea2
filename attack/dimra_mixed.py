"""DiMRA-mixed: relearning from data that holds a share of the forgotten class (the registry's entry).

Threat model: the attacker holds theta_u and ordinary data that happens to contain some images of
f, as any uniform sample of digits would: every held-out image of the retained classes plus m
held-out images of f, m chosen so that f is `share` of the set (10 % by default). It fine-tunes
with the pre-training loss, label dropout included:

    theta* = argmin_theta L_simple(theta; D_aux),   D_aux = D_r^aux + m images of f,   from theta_u

The code is attack/dimra.py (`dimra`, `attack_set`); this module fixes its threat model, so the
numbers are exactly those of calling dimra(model, schedule, attack_set(aux, f, 'mixed', share), ...).
"""
from dataclasses import dataclass, field

from .dimra import DiMRAConfig, run_threat

HEADLINE = True    # attacked in every run by default (the paper's attack); the others by --attacks
LABEL = "DiMRA-mixed"
THREAT = "fine-tunes theta_u with L_simple on held-out images of every class, f a `share` of them"


@dataclass
class Config(DiMRAConfig):
    """DiMRAConfig with its threat model fixed (`aux` is not a setting here, but stays in to_dict():
    the same record, and cache key, as DiMRAConfig(aux='mixed'))."""
    aux: str = field(default="mixed", init=False)


def run(model, schedule, data, cfg: Config, measure=None, progress: bool = True, start: float | None = None) -> dict:
    """DiMRA on D_aux = attack_set(data.aux, f, 'mixed', ...): see attack.dimra.run_threat and attack/base.py."""
    return run_threat("mixed", model, schedule, data, cfg, measure=measure, progress=progress, start=start)
