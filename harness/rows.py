"""Reading a run's rows: a row's display name and colour, mean +- sd over seeds, a curve's value at a
step, and the attacks of a row that did not diverge. Shared by the tables, the figures, the research
scripts and the notebook."""
import statistics

from unlearn import METHODS

REFERENCES = {"pretrained": ("Pre-trained", "tab:gray"), "retrain": ("Retrain", "black"),
              "hidden-emb": ("Pre-trained, f's embedding redrawn", "tab:olive")}
FALLBACK_COLORS = ["tab:blue", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]


def label(name: str) -> str:
    """A row's name in tables and figures: the method's LABEL, or the name itself."""
    if name in REFERENCES:
        return REFERENCES[name][0]
    return getattr(METHODS.get(name), "LABEL", name)


def color(name: str) -> str:
    if name in REFERENCES:
        return REFERENCES[name][1]
    if hasattr(METHODS.get(name), "COLOR"):
        return METHODS[name].COLOR
    return FALLBACK_COLORS[sum(map(ord, name)) % len(FALLBACK_COLORS)]


def mean_sd(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def fmt(xs, digits=2):
    m, sd = mean_sd(xs)
    if m is None:
        return "—"
    return f"{m:.{digits}f} ± {sd:.{digits}f}" if len(xs) > 1 else f"{m:.{digits}f}"


def at_step(curve, step):
    """forget_acc at `step` (or the last measured step before it)."""
    best = None
    for s, a in zip(curve["step"], curve["forget_acc"]):
        if s <= step:
            best = a
    return best


def middle_step(attack: dict) -> int:
    """The step of a table's middle column: 100 (half the attack when it is shorter), moved down to a
    step the curve measured (every eval_every steps), or up to the first measured one."""
    steps, every = attack["steps"], attack.get("eval_every", 1)
    mid = 100 if steps > 100 else max(steps // 2, 1)
    return mid - mid % every or min(every, steps)


def attacked(rs: list, attack: str) -> list:
    """The results of `attack` (a key of the rows: 'dimra_retain', ...) of the seeds whose model and
    attack did not diverge."""
    return [r[attack] for r in rs if attack in r and "diverged" not in r[attack]]


def attack_label(attack: str) -> str:
    """An attack's name in tables and figures: its registered LABEL ('DiMRA-retain'), or the key."""
    from attack import ATTACKS                       # here: the rows of older runs need no registry
    module = ATTACKS.get(attack)
    return getattr(module, "LABEL", attack.replace("dimra_", "DiMRA-"))
