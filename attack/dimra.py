"""DiMRA, the Diffusion Model Relearning Attack.

Fine-tune the unlearned model theta_u with the ordinary conditional denoising loss (label dropout
as in pre-training) on an auxiliary data set the attacker holds:

    theta* = argmin_theta L_simple(theta; D_aux),   starting from theta_u, for K steps at rate lr

If unlearning only moved theta a little from the pre-trained theta_0, this pulls it back into
theta_0's basin and f is generated again. The forget-class accuracy is measured every few steps:
that recovery curve is the attack's result.

The threat model is a setting, `aux` (D_aux = attack_set(aux_split, f, aux, share)), and the registry
holds DiMRA twice, its threat model fixed (RETAIN and MIXED at the end: dimra_retain, dimra_mixed):
  retain  the attacker holds theta_u and ordinary data of the retained classes only (every held-out
          'aux' image whose label is not f); it need not even know which class was forgotten.
          D_aux = {(x, c) in aux : c != f}
  mixed   its data happens to contain some images of f, as any uniform sample of digits would: every
          held-out image of the retained classes plus m held-out images of f, m chosen so that f is
          `share` of the set (10 % by default). D_aux = D_r^aux + m images of f
"""
from dataclasses import asdict, dataclass, field

import torch

from ddpm.data import Batches, ImageData, forget_retain
from ddpm.diffusion import simple_loss
from ddpm.errors import UserError
from ddpm.train_loop import fit


@dataclass
class DiMRAConfig:
    """The attack's settings: the one place their defaults live (`python -m attack` flags and
    reproduce.py read them from here)."""
    aux: str = "retain"            # 'retain' (no image labelled f) or 'mixed'
    share: float = 0.1             # mixed: share of f in D_aux (0.1 = what a uniform sample holds)
    steps: int = 300
    lr: float = 1e-4
    batch_size: int = 64
    p_uncond: float = 0.1          # label dropout, as in pre-training
    grad_clip: float = 1.0
    # forget_acc is measured at step 0, every eval_every steps and at the end. 100 (4 points for 300
    # steps) gives the same verdicts as 50 (7 points) on the committed curves, for 3 fewer samplings
    # an attack (docs/benchmarks.md, "Less evaluation work")
    eval_every: int = 100
    # extra steps at which forget_acc is measured too (e.g. (10, 25, 50): how fast f comes back,
    # the relearning delay); empty by default, and then left out of to_dict() and so of cache keys
    eval_at: tuple = ()
    seed: int = 0

    def __post_init__(self):
        self.eval_at = tuple(sorted(set(int(s) for s in self.eval_at)))
        checks = [(self.aux in ("retain", "mixed"), f"--aux {self.aux!r}: use 'retain' or 'mixed'"),
                  (0 <= self.share < 1, f"--share {self.share} must be in [0, 1)"),
                  (self.steps >= 1, f"--steps {self.steps} must be at least 1"),
                  (self.lr > 0, f"--lr {self.lr} must be positive"),
                  (self.batch_size >= 1, f"--batch-size {self.batch_size} must be at least 1"),
                  (0 <= self.p_uncond < 1, f"--p-uncond {self.p_uncond} must be in [0, 1)"),
                  (self.grad_clip > 0, f"--grad-clip {self.grad_clip} must be positive"),
                  (self.eval_every >= 1, f"--eval-every {self.eval_every} must be at least 1"),
                  (all(0 < s < self.steps for s in self.eval_at),
                   f"--eval-at {' '.join(map(str, self.eval_at))}: steps must lie in 1..{self.steps - 1}"),
                  (self.seed >= 0, f"--seed {self.seed} must be >= 0")]
        for ok, message in checks:
            if not ok:
                raise UserError(message)

    def to_dict(self) -> dict:
        d = asdict(self)
        if not d["eval_at"]:
            del d["eval_at"]
        return d


def attack_set(aux: ImageData, forget_class: int, mode: str, share: float, seed: int = 0) -> ImageData:
    """The DiMRA attacker's auxiliary set D_aux, drawn from the held-out `aux` split.

    retain: every held-out image of the retained classes, and none labelled f.
    mixed:  those same images plus m images of f, m chosen so f makes up `share` of the set.
    """
    f_imgs, r_imgs = forget_retain(aux, forget_class)
    if mode == "retain":
        return r_imgs
    if mode != "mixed":
        raise UserError(f"unknown --aux {mode!r}: use 'retain' or 'mixed'")
    m = round(share * len(r_imgs) / (1 - share))
    if m > len(f_imgs):
        raise UserError(f"--share {share} needs {m} held-out images of class {forget_class}, "
                        f"the aux split has {len(f_imgs)}: lower the share")
    pick = torch.randperm(len(f_imgs), generator=torch.Generator().manual_seed(seed))[:m]
    f_part = f_imgs.subset(pick)
    return ImageData(torch.cat([r_imgs.images, f_part.images]), torch.cat([r_imgs.labels, f_part.labels]))


def dimra(model, schedule, d_aux: ImageData, forget_class: int, cfg: DiMRAConfig,
          measure=None, progress: bool = True, start: float | None = None) -> dict:
    """Attack `model` in place. `measure(model) -> float` (e.g. forget_acc) gives the recovery curve.
    `start`: measure(model) before the first step when the caller has it already (reproduce.py's
    evaluation draws the very samples the curve's first point would draw); measured here otherwise.

    Returns {'curve': {'step': [...], 'forget_acc': [...]}, 'loss': [...], 'diverged': bool}; a
    diverged attack (loss NaN/inf) stops there and keeps the curve measured so far.
    """
    if cfg.aux == "retain" and bool((d_aux.labels == forget_class).any()):
        raise UserError(f"the 'retain' auxiliary set holds images of class {forget_class}: "
                        f"build it with attack.dimra.attack_set(aux, f, 'retain', share)")
    torch.manual_seed(cfg.seed)
    device = next(model.parameters()).device
    batches = Batches(d_aux, cfg.batch_size, seed=cfg.seed, device=device)
    curve = {"step": [], "forget_acc": []}

    def record(step: int, value: float | None = None) -> None:
        if measure is not None:
            curve["step"].append(step)
            curve["forget_acc"].append(measure(model) if value is None else value)
            model.train()

    def on_step(step: int, loss: float) -> None:
        if step % cfg.eval_every == 0 or step == cfg.steps or step in cfg.eval_at:
            record(step)

    record(0, start)
    hist = fit(model, lambda: simple_loss(model, schedule, *next(batches), p_uncond=cfg.p_uncond),
               cfg.steps, cfg.lr, grad_clip=cfg.grad_clip, on_step=on_step, desc=f"DiMRA-{cfg.aux}",
               progress=progress)
    model.eval()
    return {"curve": curve, "loss": hist["loss"], "diverged": hist["stopped"] == "nonfinite"}


def run_threat(mode: str, model, schedule, data, cfg: DiMRAConfig, measure=None, progress: bool = True,
               start: float | None = None) -> dict:
    """DiMRA under the threat model `mode`, as the registry runs it (RETAIN, MIXED below):
    D_aux = attack_set(data.aux, f, mode, cfg.share, seed=data.seed), then dimra(...) on it, unchanged.
    `data` is an attack.base.AttackData; the result is dimra's plus how many real images D_aux holds."""
    if data.aux is None:
        raise UserError(f"DiMRA-{mode} fine-tunes on the attacker's held-out images: pass AttackData(aux=...)")
    if cfg.aux != mode:
        raise UserError(f"the settings say aux={cfg.aux!r}, this entry is DiMRA-{mode}: use its own Config")
    d_aux = attack_set(data.aux, data.forget_class, mode, cfg.share, seed=data.seed)
    res = dimra(model, schedule, d_aux, data.forget_class, cfg, measure=measure, progress=progress, start=start)
    return {**res, "n_real": len(d_aux), "n_real_forget": int((d_aux.labels == data.forget_class).sum())}


# ----------------------------------------------------------------------------- the registry's two entries
@dataclass
class RetainConfig(DiMRAConfig):
    """DiMRAConfig under the threat model 'retain': `aux` is fixed and `share` has no use, so neither is
    a setting (a flag); both stay fields, so its to_dict() is DiMRAConfig(aux='retain')'s."""
    aux: str = field(default="retain", init=False)
    share: float = field(default=DiMRAConfig.share, init=False)


@dataclass
class MixedConfig(DiMRAConfig):
    """DiMRAConfig under the threat model 'mixed': `aux` is fixed, so it is not a setting (a flag)."""
    aux: str = field(default="mixed", init=False)


class ThreatModel:
    """DiMRA with its threat model fixed: what attack/__init__.py says an attack defines (LABEL, THREAT,
    Config, run, a docstring), so the registry holds it as it holds an attack module."""
    HEADLINE = True    # attacked in every run by default (the paper's attack); the others by --attacks

    def __init__(self, mode: str, config: type, threat: str):
        self.mode, self.Config, self.THREAT, self.LABEL = mode, config, threat, f"DiMRA-{mode}"
        self.__doc__ = f"DiMRA-{mode}: DiMRA with aux={mode!r} (its threat model: attack/dimra.py's docstring)."

    def run(self, model, schedule, data, cfg, measure=None, progress: bool = True, start=None) -> dict:
        """run_threat(mode, ...): D_aux = attack_set(data.aux, f, mode, ...), then dimra on it."""
        return run_threat(self.mode, model, schedule, data, cfg, measure=measure, progress=progress, start=start)


RETAIN = ThreatModel("retain", RetainConfig, "fine-tunes theta_u with L_simple on held-out images of the "
                     "retained classes only (no image of f)")
MIXED = ThreatModel("mixed", MixedConfig, "fine-tunes theta_u with L_simple on held-out images of every "
                    "class, f a `share` of them")
