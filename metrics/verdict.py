"""Deciding a verdict: does a row regain the forgotten class faster than Retrain under the same attack?

One seed's curve under one attack and one judge holds counts: at step t_j, k_j of the n_j samples of
label f were read as f. Its recovery is the mean forget rate over the points after step 0 up to a fixed
horizon H (step 0, forget_acc after unlearning, is reported on its own and never enters):

    R = (1/P) sum_{j : 0 < t_j <= H} k_j / n_j                       P = number of such points

The effect is the seed-paired difference to Retrain attacked the same way, averaged over the S seeds:

    E = (1/S) sum_s (R_row,s - R_Retrain,s)      (one shared Retrain curve: R_Retrain,s = R_Retrain)

`interval` gives a 95 % percentile interval [lo, hi] for E (two-level bootstrap, see `_draws`), and
`decide` compares it with the practical margin m = MARGIN:

    resists   hi < m          reversed   lo > m          undecided   lo <= m <= hi

docs/design.md, "Deciding a verdict": the rule with a worked example, the sources of variance the
interval covers and leaves out, and the power table (`python -m metrics.verdict` prints it).
"""
import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

# Within 5 points of Retrain is not reversal: the judges misread 1 in 100 (CNN, test accuracy 0.99) to
# 1 in 20 (kNN, 0.95) real digits, and Retrain, which never saw f, has 0.00-0.07 of its samples read as
# f; a smaller gap is what a judge's errors alone can make, a larger one gives the attacker the class in
# more than 1 sample in 20. It is also the old rule's margin: verdicts change only where noise decides.
MARGIN = 0.05
LEVEL = 0.95
# Monte Carlo error of a percentile bound: sqrt(q(1-q)/B) / density at the 2.5 % quantile = 0.04 SE of E
# at B = 4,000 (under 0.001 at the usual SE of 0.01-0.02). 80 verdicts, 3 seeds x 3 points: 0.3-0.6 s.
RESAMPLES = 4000
SEED = 0                   # the generator's seed: the same counts always give the same interval


@dataclass(frozen=True)
class Counts:
    """One seed's recovery curve: at step[j], k[j] of the n[j] samples judged were read as class f."""
    step: tuple
    k: tuple
    n: tuple

    def __post_init__(self):
        step, k, n = (np.asarray(x, dtype=float) for x in (self.step, self.k, self.n))
        if step.ndim != 1 or not step.shape == k.shape == n.shape or not len(step) or (np.diff(step) <= 0).any():
            raise ValueError(f"step, k and n must be 1-d and of one length, the steps increasing: {self}")
        if (k != np.round(k)).any() or (n != np.round(n)).any() or (n < 1).any() or (k < 0).any() or (k > n).any():
            raise ValueError(f"counts must be integers with 0 <= k <= n, n >= 1: {self}")


def from_rates(curve: Mapping, n) -> Counts:
    """Counts from a committed rate curve {'step': [...], 'forget_acc': [...]} and the n samples judged
    a point (an int, or one per point): k = round(rate * n). A rate that is not a count out of n (off by
    more than 0.01 sample; float32 storage is off by under 1e-3 at n <= 10,000) is refused."""
    rate = np.asarray(curve["forget_acc"], dtype=float)
    n = np.broadcast_to(np.asarray(n, dtype=float), rate.shape)
    k = np.round(rate * n)
    if (np.abs(rate * n - k) > 0.01).any():
        raise ValueError(f"forget_acc {list(rate)} are not counts out of n = {list(n)}")
    return Counts(tuple(curve["step"]), tuple(int(x) for x in k), tuple(int(x) for x in n))


def _window(c: Counts, horizon: int):
    """(steps, k, n) of the points with 0 < step <= horizon; the curve must reach the horizon."""
    s, k, n = (np.asarray(x, dtype=float) for x in (c.step, c.k, c.n))
    if s[-1] < horizon:
        raise ValueError(f"the curve ends at step {s[-1]:g}, before the horizon {horizon}")
    keep = (s > 0) & (s <= horizon)
    if not keep.any():
        raise ValueError(f"no point measured in (0, {horizon}]")
    return s[keep], k[keep], n[keep]


def recovery(c: Counts, horizon: int) -> float:
    """R = (1/P) sum_{0 < t_j <= H} k_j / n_j: every measured point weighs the same, step 0 never."""
    _, k, n = _window(c, horizon)
    return float(np.mean(k / n))


def _stack(curves, horizon):
    """(steps, K, N), K and N of shape (curves, points); all curves must share the points in the window
    (a mean over other points, e.g. every 50 instead of every 100 steps, is another quantity)."""
    windows = [_window(c, horizon) for c in curves]
    if not windows:
        raise ValueError("no curve to judge")
    steps = windows[0][0]
    if any(not np.array_equal(w[0], steps) for w in windows):
        raise ValueError(f"curves measured at different steps in (0, {horizon}]: {[list(w[0]) for w in windows]}")
    return steps, np.stack([w[1] for w in windows]), np.stack([w[2] for w in windows])


def _prepare(row: Mapping, retrain, horizon: int):
    """Row and Retrain counts paired by seed: K, N (S, P) for the row's seeds; Kr, Nr (S, P), or (1, P)
    for one shared Retrain curve, or None without a reference. Extra Retrain seeds are not used."""
    seeds = sorted(row)
    steps, K, N = _stack([row[s] for s in seeds], horizon)
    if retrain is None:
        return K, N, None, None
    refs = [retrain] if isinstance(retrain, Counts) else [retrain.get(s) for s in seeds]
    if any(r is None for r in refs):
        raise ValueError(f"no Retrain curve for seed(s) {[s for s, r in zip(seeds, refs) if r is None]}")
    ref_steps, Kr, Nr = _stack(refs, horizon)
    if not np.array_equal(ref_steps, steps):
        raise ValueError(f"the row is measured at steps {list(steps)}, Retrain at {list(ref_steps)}")
    return K, N, Kr, Nr


def _draws(K, N, Kr, Nr, resamples: int, rng) -> np.ndarray:
    """B bootstrap replicates of E, resampling at both levels of the experiment:

    1. seeds: S indices drawn with replacement; a drawn seed brings its row AND its Retrain curve
       (pairs kept together); a shared Retrain curve is drawn once per replicate and subtracted from
       every seed, as the one measurement it is.
    2. judged samples: each point's rate is redrawn from the Jeffreys posterior of its count,
           p*_j ~ Beta(k_j + 1/2, n_j - k_j + 1/2),
       rather than k*_j ~ Binomial(n_j, k_j / n_j): the plain binomial bootstrap puts all its mass on
       0 when k_j = 0 (on 1 when k_j = n_j), so a one-seed curve at 0 would get a zero-width interval
       as if 100 samples measured the rate exactly. The Beta has almost the same spread inside
       (variance ~ p(1-p)/n), stays in [0, 1], and at k = 0 of 100 leaves 2.5 % above 0.025 (the
       Jeffreys interval: Brown, Cai & DasGupta 2001; exact coverage close to 95 %, unlike Wald's).
    Then E* = (1/S) sum_s (mean_j p*_row,s,j - mean_j p*_Retrain,s,j). In expectation its variance is
        Var* = ((S-1)/S s^2 + sigma^2) / S,
    s^2 the observed variance between the seeds' effects (which holds sigma^2, one seed's sampling
    variance, once already), so with few seeds the seed spread is under-, the sampling over-counted.
    """
    S = K.shape[0]
    pick = rng.integers(0, S, size=(resamples, S))

    def rates(k, n):
        return rng.beta(k + 0.5, n - k + 0.5).mean(-1)          # (B, S or 1) recoveries

    effect = rates(K[pick], N[pick])
    if Kr is not None:
        ref_pick = pick if len(Kr) > 1 else np.zeros((resamples, 1), dtype=int)
        effect = effect - rates(Kr[ref_pick], Nr[ref_pick])
    return effect.mean(-1)


def _bounds(K, N, Kr, Nr, level, resamples, seed):
    """(E, lo, hi): the estimate from the counts and the percentile interval of `_draws`, widened to
    hold E if needed: the Beta draws of a count n of n all lie below 1 (of 0, above 0), and Jeffreys'
    interval takes the bound at 1 (at 0) there, as Clopper-Pearson's does."""
    estimate = (K / N).mean(-1).mean()
    if Kr is not None:
        estimate -= (Kr / Nr).mean(-1).mean()
    draws = _draws(K, N, Kr, Nr, resamples, np.random.default_rng(seed))
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(estimate), float(min(lo, estimate)), float(max(hi, estimate))


def interval(row: Mapping, retrain: Mapping | Counts | None, horizon: int, level: float = LEVEL,
             resamples: int = RESAMPLES, seed: int = SEED):
    """(E, lo, hi) for row {seed: Counts} against Retrain ({seed: Counts}, paired by seed, or one
    shared Counts); with retrain None, the row's mean recovery and its interval."""
    return _bounds(*_prepare(row, retrain, horizon), level, resamples, seed)


@dataclass(frozen=True)
class Verdict:
    """E, its interval [lo, hi], the word, and the sizes behind them (n: the fewest samples a point)."""
    effect: float
    lo: float
    hi: float
    verdict: str
    seeds: int
    points: int
    n: int
    margin: float = MARGIN
    horizon: int = 0

    def format(self, digits: int = 2) -> str:
        """'+0.03 [-0.01, +0.07] undecided'"""
        return f"{self.effect:+.{digits}f} [{self.lo:+.{digits}f}, {self.hi:+.{digits}f}] {self.verdict}"

    __str__ = format


def decide(row: Mapping, retrain: Mapping | Counts, horizon: int, margin: float = MARGIN,
           level: float = LEVEL, resamples: int = RESAMPLES, seed: int = SEED) -> Verdict:
    """resists (hi < margin), reversed (lo > margin) or undecided, for row {seed: Counts} against
    Retrain under the same attack and judge ({seed: Counts} paired by seed, or one shared Counts)."""
    K, N, Kr, Nr = _prepare(row, retrain, horizon)
    effect, lo, hi = _bounds(K, N, Kr, Nr, level, resamples, seed)
    word = "resists" if hi < margin else "reversed" if lo > margin else "undecided"
    return Verdict(effect, lo, hi, word, K.shape[0], K.shape[1], int(min(N.min(), Nr.min())), margin, horizon)


def judges_disagree(a: Verdict, b: Verdict) -> bool:
    """True when the two judges' verdicts are different words (a decided word against 'undecided' too:
    the decided one would claim more than the other judge's counts support)."""
    return a.verdict != b.verdict


def combined(by_judge: Mapping[str, Verdict]) -> str:
    """The row's one word when every judge gives it, else 'judges disagree (CNN resists, kNN reversed)'."""
    words = [v.verdict for v in by_judge.values()]
    if len(set(words)) == 1:
        return words[0]
    return "judges disagree (" + ", ".join(f"{j} {v.verdict}" for j, v in by_judge.items()) + ")"


def _z(seeds):
    """S evenly spaced deviations of mean 0 and sample sd 1 (0 for one seed): (-1, 0, 1) for S = 3."""
    z = np.linspace(-1.0, 1.0, seeds)
    return z / z.std(ddof=1) if seeds > 1 else z


def _expected(n, points, seeds, spread, rate):
    """Fractional counts k = p_s n at every point, p_s = rate + spread z_s (the Beta takes real k)."""
    p = rate + spread * _z(seeds)
    if (p < 0).any() or (p > 1).any():
        raise ValueError(f"rates {p} outside [0, 1]")
    return np.repeat(p[:, None] * n, points, 1), np.full((seeds, points), float(n))


def min_separable_effect(n: int = 100, points: int = 3, seeds: int = 3, spread: float = 0.0,
                         reference: float = 0.0, side: str = "above", margin: float = MARGIN,
                         method: str = "bootstrap", level: float = LEVEL, resamples: int = RESAMPLES) -> float:
    """The smallest d such that an effect E = margin + d (side 'above') or margin - d ('below'),
    observed exactly, gets an interval that excludes the margin (reversed, resp. resists). Retrain's
    rate is `reference` at every point, one Retrain per seed; `spread` is the sd between seeds of the
    observed per-seed effects. A true effect d from the margin is then decided about half the time; 80 %
    of the time needs about (1.96 + 0.84) / 1.96 = 1.43 d. math.inf when no d in range separates.

    method 'bootstrap': the rule's own interval on expected counts, d found by bisection.
    method 'normal': d = z_{(1+level)/2} sqrt(V(d)), the variance the bootstrap has in expectation,
        V = spread^2 (S-1)/S^2 + (v(p_row) + v(p_Retrain)) / (S P)    (`_draws`' Var*), with
        v(p) = Var Beta(pn + 1/2, n - pn + 1/2) = (pn + 1/2)(n - pn + 1/2) / ((n + 1)^2 (n + 2)) ~ p(1-p)/n.
    """
    if side not in ("above", "below") or method not in ("bootstrap", "normal"):
        raise ValueError(f"side {side!r} or method {method!r}")
    sign = 1.0 if side == "above" else -1.0
    z = NormalDist().inv_cdf((1 + level) / 2)

    def v(p):
        return (p * n + 0.5) * (n - p * n + 0.5) / ((n + 1) ** 2 * (n + 2))

    def separated(d):
        rate = reference + margin + sign * d
        if method == "normal":
            var = spread ** 2 * (seeds - 1) / seeds ** 2 + (v(rate) + v(reference)) / (seeds * points)
            return d > z * math.sqrt(var)
        (K, N), (Kr, Nr) = _expected(n, points, seeds, spread, rate), _expected(n, points, seeds, 0.0, reference)
        _, lo, hi = _bounds(K, N, Kr, Nr, level, resamples, SEED)
        return lo > margin if sign > 0 else hi < margin

    top = (1 - reference - margin if sign > 0 else reference + margin) - spread * np.abs(_z(seeds)).max()
    if top <= 0 or not separated(top):
        return math.inf
    lo_d, hi_d = 0.0, top
    while hi_d - lo_d > 1e-4:
        mid = (lo_d + hi_d) / 2
        lo_d, hi_d = (lo_d, mid) if separated(mid) else (mid, hi_d)
    return hi_d


def _table(ns=(100, 200, 400), points=3):
    """The power table of docs/design.md: d for each size (seeds, seed spread, Retrain's rate, side)."""
    out = ["| seeds | seed spread | Retrain | decided as | " + " | ".join(f"n = {n}" for n in ns) + " |",
           "| --- | --- | --- | --- |" + " --- |" * len(ns)]
    for seeds, spread, ref, side in [(1, 0, 0, "above"), (1, 0, 0, "below"), (3, 0, 0, "above"),
                                     (3, 0, 0, "below"), (3, 0.03, 0, "above"), (3, 0, 0.5, "above")]:
        d = [min_separable_effect(n, points, seeds, spread, ref, side) for n in ns]
        word = "reversed: E >= 0.05 + d" if side == "above" else "resists: E <= 0.05 - d"
        out.append(f"| {seeds} | {spread} | {ref} | {word} | " + " | ".join(f"{x:.3f}" for x in d) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    print(_table())
