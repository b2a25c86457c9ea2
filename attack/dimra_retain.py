"""DiMRA-retain: relearning from data without the forgotten class (the registry's entry for it).

Threat model: the attacker holds the unlearned weights theta_u and ordinary data of the retained
classes only (every held-out 'aux' image whose label is not f); it need not even know which class
was forgotten. It fine-tunes with the pre-training loss, label dropout included:

    theta* = argmin_theta L_simple(theta; D_aux),   D_aux = {(x, c) in aux : c != f},   from theta_u

The code is attack/dimra.py (`dimra`, `attack_set`); this module fixes its threat model, so the
numbers are exactly those of calling dimra(model, schedule, attack_set(aux, f, 'retain', ...), ...).
"""
from dataclasses import dataclass, field

from .dimra import DiMRAConfig, run_threat

HEADLINE = True    # attacked in every run by default (the paper's attack); the others by --attacks
LABEL = "DiMRA-retain"
THREAT = "fine-tunes theta_u with L_simple on held-out images of the retained classes only (no image of f)"


@dataclass
class Config(DiMRAConfig):
    """DiMRAConfig with its threat model fixed: `aux` and `share` are not settings here, but stay in
    to_dict() (the same record, and cache key, as DiMRAConfig(aux='retain'))."""
    aux: str = field(default="retain", init=False)
    share: float = field(default=DiMRAConfig.share, init=False)


def run(model, schedule, data, cfg: Config, measure=None, progress: bool = True, start: float | None = None) -> dict:
    """DiMRA on D_aux = attack_set(data.aux, f, 'retain', ...): see attack.dimra.run_threat and attack/base.py."""
    return run_threat("retain", model, schedule, data, cfg, measure=measure, progress=progress, start=start)
