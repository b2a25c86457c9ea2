"""What every attack shares: the data an attacker may hold, the recovery curve, and the calls that
work for every attack (what an attack module defines: attack/__init__.py).

The measure. `measure(model) -> float` samples `model` with label f (e.g. metrics.evaluate.forget_acc)
and is called with the model in the attack's current state: after `step` fine-tuning steps, or,
for an attack that conditions on something other than label f's own embedding, with label f bound
to that conditioning for the duration of the call. So the measure never needs to know which
attack runs, and every curve point is "what label f generates now".

`start`: the value measure(model) returns before the first step, when the caller has it already
(the evaluation's forget_acc). Only attacks whose step 0 is the model as given use it.
"""
import contextlib
from dataclasses import asdict, dataclass

from ddpm.config import DDPMConfig
from ddpm.data import ImageData

RESULT_KEYS = ("curve", "loss", "diverged", "n_real", "n_real_forget")


@dataclass
class AttackData:
    """What the attacker holds besides the model: no part of the training split, ever."""
    aux: ImageData | None               # the held-out 'aux' split (None: a data-free attacker)
    forget_class: int                   # f, the class the attacker wants back
    seed: int = 0                       # which of aux's images the attacker drew
    model_config: DDPMConfig | None = None  # the attacked checkpoint's config (None: DDPMConfig's defaults)

    def config(self) -> DDPMConfig:
        """The attacked model's sampler and label dropout (white box: the attacker has its checkpoint)."""
        return self.model_config if self.model_config is not None else DDPMConfig()


class AttackConfig:
    """Mixed into a new attack's Config dataclass: what results and cache keys record of it."""

    def to_dict(self) -> dict:
        return asdict(self)


def as_attacked(module, model, data: AttackData, result: dict):
    """The context in which `model` is the attacked model (its samples, its state_dict): the
    attack's own `as_attacked` when it has one, else the model as it is (the weights hold the attack).
    state_dict() returns the live tensors: save or copy them inside the context."""
    own = getattr(module, "as_attacked", None)
    return own(model, data, result) if own is not None else contextlib.nullcontext(model)


def attacked_checkpoint(model, ddpm_config: dict, name: str, cfg, forget_class: int, source: str,
                        result: dict) -> dict:
    """The checkpoint of kind 'attacked' (python -m attack writes it, the pipeline caches it): the model
    as attacked (call it inside `as_attacked`), its DDPM config, the attack and its settings, the curve."""
    return {"kind": "attacked", "config": ddpm_config, "attack": cfg.to_dict(), "attack_name": name,
            "forget_class": forget_class, "source": source, "model": model.state_dict(), "ema": None,
            "curve": result["curve"], "history": {"loss": result["loss"]}}


class Curve:
    """The recovery curve of an attack of `steps` steps: measure(model) at step 0, every `every` steps,
    at each step of `at` (denser early points, e.g. (10, 25, 50): how fast f comes back) and at the
    last step. `on_step` is `fit`'s callback."""

    def __init__(self, measure, model, every: int, steps: int, at: tuple = ()):
        self.measure, self.model, self.every, self.steps, self.at = measure, model, every, steps, set(at)
        self.points = {"step": [], "forget_acc": []}

    def record(self, step: int, value: float | None = None) -> None:
        """One point, measured now unless `value` is given; the model's train/eval mode is kept."""
        if self.measure is None:
            return
        training = self.model.training
        self.points["step"].append(step)
        self.points["forget_acc"].append(self.measure(self.model) if value is None else value)
        self.model.train(training)

    def on_step(self, step: int, loss: float) -> None:
        if step % self.every == 0 or step == self.steps or step in self.at:
            self.record(step)
