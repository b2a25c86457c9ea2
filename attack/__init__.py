"""Attacks on an unlearned model: one module an attack, and ATTACKS, the one mapping from name to attack.

Each attack tests the weights from another side; attack/run.py gives its settings and runs it by
name, and `python -m attack --name` is its command line. An attack is a module of this package that
defines
    LABEL   its name in tables and figures ("Data-free")
    THREAT  its threat model in one line; the module docstring says what it does, with its equation
    Config  a dataclass with to_dict() (mix in attack.base.AttackConfig): the attack's defaults, the
            ONLY place those numbers live, with at least `steps` and `seed` (reproduce.py gives `seed`
            the row's seed, and overrides `steps`, `eval_every` and `eval_at` only where the run sets
            them: an attack's own defaults are used otherwise); its __post_init__ raises a one-line
            UserError on a bad value (ddpm.errors.require). Every field is a flag of `python -m attack`
    run(model, schedule, data: AttackData, cfg: Config, measure=None, progress=True, start=None) -> dict
            attacks `model` in place; returns {'curve': {'step': [...], 'forget_acc': [...]}, 'loss':
            [...], 'diverged': bool, 'n_real': int, 'n_real_forget': int}: the recovery curve (measure
            at step 0, `start` when given, then every eval_every steps and at the end: attack.base.Curve),
            the loss at every step, whether it stopped on a NaN/inf loss, and how many real images it
            read (of them, how many of the forgotten class). It may add keys of its own.
and optionally
    HEADLINE = True   attacked in every run by default (DiMRA's two entries); the others by --attacks
    as_attacked(model, data, result) -> context manager in which `model` IS the attacked model (its
            samples and its state_dict), for an attack that does not leave its result in the weights
            (inversion: label f means the learned embedding); see attack.base.as_attacked.
What `measure` and `start` are: attack/base.py. An entry of ATTACKS may also be an object with these
attributes: DiMRA is one file (attack/dimra.py) and its threat model a setting, registered twice with
the threat model fixed. To add an attack: its file here, then one import and one entry below
(README.md, "Add your own attack").
"""
from . import datafree, dimra, inversion

ATTACKS = {
    "dimra_retain": dimra.RETAIN,
    "dimra_mixed": dimra.MIXED,
    "inversion": inversion,
    "datafree": datafree,
}
