"""What a run is made of: its settings (one dataclass, the flags of reproduce.py), its rows (Variant:
a model and the attacks on it) and the tiny sizes of --smoke.

The headline rows are the two references (the pre-trained model, Retrain) and every method
registered in unlearn/__init__.py; ABLATION lists the rows that vary one factor each.
"""
from dataclasses import dataclass, field, replace

from attack import ATTACKS
from ddpm.data import check_class
from ddpm.errors import require
from metrics.evaluate import N_AFTER_ATTACK, N_FORGET, N_RETAIN_PER_CLASS
from unlearn import METHODS

# --smoke: tiny sizes everywhere, to check that every stage runs (the one place these live).
SMOKE = {"ddpm": dict(steps=30, batch_size=16, sample_every=10 ** 9, ckpt_every=10, ch=16, ch_mult=(1, 2),
                      groups=8, num_res_blocks=1, ddim_steps=5),
         "judge": dict(epochs=1, width=8, feature_dim=16),
         "unlearn_steps": 5, "n_forget": 10, "n_retain": 4, "n_after": 2, "attack_steps": 4, "eval_every": 2,
         "pretrained_per_class": 10}
EVAL_STEPS = 70    # a row's evaluation costs about 70 training steps (15 s vs 0.22 s a step, docs/benchmarks.md)
WEIGHTS = "weights"              # shipped weights: <preset>-ddpm, <preset>-ddpm-retrain<f>, judge-<data>-<px>
# Retrain of a run's seed s is trained with seed RETRAIN_SEED + s: never the pre-trained model's seed, so
# the reference starts from its own initial weights and draws its own batches (with seed s itself,
# Retrain of seed 0 started from theta_0's exact initial weights and relearned f three times faster).
RETRAIN_SEED = 1000


def retrain_config(cfg, forget_class: int, seed: int):
    """The DDPMConfig of Retrain for the run's seed `seed`: cfg's recipe without class f, its own seed."""
    out = replace(cfg, exclude_class=forget_class, seed=RETRAIN_SEED + seed)
    require((out.seed != cfg.seed, f"Retrain's seed {out.seed} equals the pre-trained model's: "
                                   f"give the pre-trained model a seed below {RETRAIN_SEED}"))
    return out



@dataclass
class Variant:
    """One row: a model (pretrained, retrain, or an unlearning method with settings) and its attacks."""
    name: str
    method: str | None                      # None: the pre-trained model; 'retrain'; or an unlearning method
    unlearn: dict = field(default_factory=dict)
    attack: dict = field(default_factory=dict)
    attacks: tuple | None = None            # attack/ ATTACKS names; None: the run's (Settings.attacks)
    factor: str = ""                        # what an ablation row varies
    model: str = ""                         # the row whose model this row attacks (its files are shared)


# The hiding controls: for each attack, a model known to hold f in its weights with f's usual path cut.
# Attacking theta_0 (the positive control) shows that an attack keeps a class that is there; an attack
# that cannot bring f back out of its hiding control cannot certify that a method removed f, so its
# "resists" is not a verdict (harness/decisions.py). docs/design.md, "Validity before verdict".
#   hidden-emb: theta_0 with f's class-embedding row redrawn (every other weight untouched): f is in the
#               weights and the unconditional branch, only label f no longer reaches it
#   esd:        theta_0 after ESD (the run's ESD row): label f redirected by a small fine-tuning move (about 2.8
#               from theta_0 in weight distance, where Retrain lies 30 to 80 away), which hides f from both
#               judges at step 0: the shallow change the relearning attacks are built to undo. (GA, the
#               other candidate, leaves samples the kNN judge still reads as f: it does not hide.)
HIDING_CONTROL = {"dimra_retain": "esd", "dimra_mixed": "esd", "datafree": "esd",
                  "inversion": "hidden-emb", "uncond": "hidden-emb"}


def main_variants(methods=None, control: bool = False) -> list[Variant]:
    """The headline rows: the references, then every registered method (or the chosen ones). With
    `control` the pre-trained model is attacked too (the positive control: an attack that cannot bring
    the class back out of theta_0 measures nothing) and so is the hiding control theta_0 with f's
    embedding row redrawn, under the attacks whose control it is."""
    names = list(METHODS) if methods is None else list(methods)
    hidden = [Variant("hidden-emb", "hidden-emb")]        # attacked only where it is the control (Pipeline.attacks_of)
    return ([Variant("pretrained", None, attacks=None if control else ()), Variant("retrain", "retrain")]
            + (hidden if control else []) + [Variant(m, m) for m in names])


# The controls of the two questions "does a retain term resist attacks that do not share its objective"
# and "does DiMUM remove the class or hide it" (reproduce.py --controls: every seed, the run's attacks):
# ESD, SalUn and DiMUM each at alpha = 0 and 1 (ESD's headline alpha is 0, SalUn's and DiMUM's 1).
CONTROLS = [
    Variant("esd+retain", "esd", dict(alpha=1.0), factor="retain term (alpha=1)"),
    Variant("salun-alpha0", "salun", dict(alpha=0.0), factor="no retain term (alpha=0)"),
    Variant("dimum-alpha0", "dimum", dict(alpha=0.0), factor="no retain term (alpha=0)"),
]
# SalUn as its released DDPM code runs it (OPTML-Group/Unlearn-Saliency, DDPM/, cifar10 config): the retain
# term summed over pixels at alpha 1e-3, 1,000 steps at batch 128, label dropout 0.1, the mask from the
# guided loss (w = the evaluation's guidance, 2). unlearn/salun.py and docs/design.md list what still differs.
SALUN_RELEASED = dict(alpha=1e-3, retain_reduction="sum", steps=1000, batch_size=128, p_uncond=0.1, mask_guidance=2.0)

ABLATION = [   # in the order they are worth running; `--variants a,b` runs a subset
    # the retain term during unlearning (alpha = 0 -> 1); GA+retain as in NegGrad+, with the budget it needs
    Variant("ga+retain", "ga", dict(alpha=1.0, steps=300, lr=1e-4), attacks=("dimra_retain",),
            factor="retain term (alpha=1), 300 steps at lr 1e-4"),
    *[replace(v, attacks=("dimra_retain",) if v.name == "esd+retain" else None) for v in CONTROLS],
    Variant("salun-released", "salun", SALUN_RELEASED, factor="SalUn as released: retain summed over pixels "
            "(alpha 1e-3), 1000 steps at batch 128, label dropout 0.1, guided mask"),
    Variant("dimum-dropout", "dimum", dict(p_uncond=0.1), factor="label dropout 0.1 during unlearning"),
    # the share of the forgotten class in the mixed set (0% is the 'retain' attack, 10% the default)
    *[Variant(f"{m}-share1%", m, attack=dict(share=0.01), attacks=("dimra_mixed",), factor="mixed share 1%")
      for m in ("retrain", "esd", "dimum")],
    # the attacker: a 10x larger learning rate (retain-only for the methods added later)
    *[Variant(f"{m}-atk1e-3", m, attack=dict(lr=1e-3), factor="attack lr 1e-3") for m in ("retrain", "dimum")],
    *[Variant(f"{m}-atk1e-3", m, attack=dict(lr=1e-3), attacks=("dimra_retain",), factor="attack lr 1e-3")
      for m in ("ga", "esd", "salun")],
    Variant("ga+retain-atk1e-3", "ga", dict(alpha=1.0, steps=300, lr=1e-4), attack=dict(lr=1e-3), attacks=("dimra_retain",),
            factor="attack lr 1e-3", model="ga+retain"),
    Variant("esd+retain-atk1e-3", "esd", dict(alpha=1.0), attack=dict(lr=1e-3), attacks=("dimra_retain",),
            factor="attack lr 1e-3", model="esd+retain"),
    # freezing the class embedding (the analogue of Stable Diffusion's frozen text encoder)
    Variant("esd-frozenemb", "esd", dict(freeze_class_emb=True), attacks=("dimra_retain",),
            factor="class embedding frozen"),
    # the unlearning budget
    Variant("ga-100", "ga", dict(steps=100), factor="budget: 100 steps (default 130)"),
    Variant("dimum-1000", "dimum", dict(steps=1000, plateau=False), factor="budget: 1000 steps, no plateau stop"),
    # DiMUM's alternative set
    Variant("dimum-blank", "dimum", dict(alt="pattern:blank"), factor="D_alt: blank image"),
    Variant("dimum-fixed32", "dimum", dict(alt="fixed:1:32"), factor="D_alt: 32 fixed images of digit 1"),
]


@dataclass
class Settings:
    preset: str = "mnist5k-quick"
    seeds: tuple = (0, 1, 2)
    forget_class: int = 0
    attack_steps: int | None = None    # every attack's steps; None: each attack's own default (SMOKE's with --smoke)
    eval_every: int | None = None      # None: each attack's own default (SMOKE's with --smoke)
    eval_at: tuple = ()                # extra measured steps of the attacks that take them (--eval-at 10,25,50)
    n_forget: int | None = None        # None: metrics.evaluate.N_FORGET (SMOKE's with --smoke)
    n_retain: int | None = None        # None: metrics.evaluate.N_RETAIN_PER_CLASS (SMOKE's with --smoke)
    n_after: int | None = None         # the same after every attack; None: N_AFTER_ATTACK (SMOKE's); 0: not measured
    smoke: bool = False
    fresh: bool = False                # redo every stage, pre-training included
    from_scratch: bool = False         # train the pre-trained, Retrain and judge models instead of using weights/
    tag: str = ""                      # runs/<preset>-<tag>/ and results/<preset>-<tag>/ (--smoke: 'smoke')
    results: str = ""                  # results/<results>/ instead (the stages stay in runs/<preset>-<tag>/)
    precision: str = "auto"            # float32, bf16 (autocast), or auto: measured (lab/hardware.py)
    attacks: tuple = ()                # attack/ ATTACKS names; (): the headline ones (module HEADLINE = True)
    uncond: int = 0                    # > 0: the unconditional branch's share of f, on this many null samples
    progress: bool = True              # tqdm bars

    def __post_init__(self):
        """Fill what was not given from the one home of each default, then refuse bad values."""
        pick = lambda given, smoke_key, default: given if given is not None else (  # noqa: E731
            SMOKE[smoke_key] if self.smoke else default)
        self.attack_steps = pick(self.attack_steps, "attack_steps", None)
        self.eval_every = pick(self.eval_every, "eval_every", None)
        self.n_forget = pick(self.n_forget, "n_forget", N_FORGET)
        self.n_retain = pick(self.n_retain, "n_retain", N_RETAIN_PER_CLASS)
        self.n_after = pick(self.n_after, "n_after", N_AFTER_ATTACK)
        check_class(self.forget_class)
        self.from_scratch = self.from_scratch or self.fresh       # --fresh trains everything again
        self.attacks = tuple(self.attacks) or tuple(n for n, m in ATTACKS.items() if getattr(m, "HEADLINE", False))
        unknown = [a for a in self.attacks if a not in ATTACKS]
        require((not unknown, f"unknown attack(s) {', '.join(unknown)}: choose from {', '.join(ATTACKS)}"),
                (self.uncond >= 0, f"--uncond {self.uncond} must be >= 0"),
                (self.n_after >= 0, f"--n-after {self.n_after} must be >= 0"),
                (not self.results or self.results.replace("-", "").replace("_", "").isalnum(),
                 f"--results {self.results!r}: use letters, digits, - and _ only"),
                (not self.tag or self.tag.replace("-", "").replace("_", "").isalnum(),
                 f"--tag {self.tag!r}: use letters, digits, - and _ only"),
                (bool(self.seeds) and min(self.seeds) >= 0,
                 f"--seeds {' '.join(map(str, self.seeds))}: give one or more seeds >= 0"),
                *[(getattr(self, n) is None or getattr(self, n) >= 1,
                   f"--{n.replace('_', '-')} {getattr(self, n)} must be at least 1")
                  for n in ("attack_steps", "eval_every", "n_forget", "n_retain")])
