"""Relearning delay: how many attack steps a model needs before label f is drawn as f again.

Under an attack that shows the model some images of f (DiMRA-mixed), even Retrain, which never saw
f, learns it eventually; what tells a model that only hid f from one that never learned it is how
fast f comes back. The machine-unlearning literature calls this the relearn time (Golatkar et al.
2020, "Eternal sunshine of the spotless net"): the fine-tuning steps until the forgotten class is
recognised again; its ratio to Retrain's is the Anamnesis Index of Chundawat et al. ("Zero-shot
machine unlearning", IEEE TIFS 2023), near 1 for a model that forgot as Retrain did. Here

    delay = the first step t at which forget_acc(t) >= level,

linearly interpolated between the two measured points around it (forget_acc is measured at step 0,
at the run's early points and every eval_every steps). A curve that never reaches `level` gives
`inf` (right-censored at its last step). Compared with Retrain's (a model that never learned f)
and theta_0's (one that never forgot it), paired by seed.
"""
import math

import numpy as np

LEVEL = 0.5


def steps_to(steps, rates, level: float = LEVEL) -> float:
    """The first step at which the curve reaches `level`, interpolated linearly; 0 if it starts there."""
    if rates[0] >= level:
        return float(steps[0])
    for (s0, r0), (s1, r1) in zip(zip(steps, rates), zip(steps[1:], rates[1:])):
        if r1 >= level:
            return s0 + (level - r0) / (r1 - r0) * (s1 - s0)
    return math.inf


def paired_difference(mine: dict, ref: dict, horizon: float, resamples: int = 4000, seed: int = 0):
    """(mean difference, lo, hi, censored) of delay(row) - delay(ref) over the seeds both have, with a
    95 % bootstrap interval over seeds. A censored delay (inf) counts as `horizon`, so a difference
    that involves one is a bound, not a value: `censored` says how many seeds had one."""
    seeds = sorted(set(mine) & set(ref))
    if not seeds:
        return None
    cap = lambda x: min(x, horizon)              # noqa: E731
    d = np.array([cap(mine[s]) - cap(ref[s]) for s in seeds])
    censored = sum(math.isinf(mine[s]) or math.isinf(ref[s]) for s in seeds)
    boot = d[np.random.default_rng(seed).integers(0, len(d), size=(resamples, len(d)))].mean(1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return float(d.mean()), float(lo), float(hi), censored
