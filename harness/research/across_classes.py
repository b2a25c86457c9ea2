"""The headline table of several forget classes in one table (one results.json per class).

    python -m harness.research.across_classes results/mnist5k-quick-bf16/results.json results/mnist5k-quick-f7/results.json ...

For each class and method: forget_acc after unlearning (CNN judge, kNN judge in brackets, ⚑ when
they differ by more than metrics.knn.DISAGREE), forget_acc after each DiMRA attack at its middle and
last measured step with the verdict against Retrain under the same attack, and retain_acc. Values
are mean ± sd where a run has several seeds. Runs must have been attacked alike; they may differ in
--eval-every (where the curve was measured) if each measured the two steps shown. Prints markdown
(results/forget-classes/README.md).
"""
import argparse
import json
import statistics
import sys


from metrics.knn import DISAGREE

from ..validity import cell_text, cells
from ..rows import at_step, attacked, fmt, label, middle_step


def row_cells(rows: dict, name: str, mid: int, steps: int, n: int) -> list[str]:
    """The cells of one method of one class (— where it diverged or was not attacked)."""
    ok = [r for r in rows[name].values() if "diverged" not in r]
    if not ok:
        return ["diverged", "—", "—", "—"]
    cnn = [r["forget_acc"] for r in ok]
    knn = [r["forget_acc_knn"] for r in ok if "forget_acc_knn" in r]
    flag = " ⚑" if knn and abs(statistics.mean(knn) - statistics.mean(cnn)) > DISAGREE else ""
    out = [fmt(cnn) + (f" ({fmt(knn)}{flag})" if knn else "")]
    for attack in ("dimra_retain", "dimra_mixed"):
        curves = [a["curve"] for a in attacked(ok, attack)]
        if not curves:
            out.append("—")
            continue
        judged = cell_text(cells(rows, name, attack, n, steps))
        out.append(f"{fmt([at_step(c, mid) for c in curves])} / {fmt([at_step(c, steps) for c in curves])}"
                   + (f" ({judged})" if judged else ""))
    out.append(fmt([r["retain_acc"] for r in ok]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", help="results.json of reproduce.py runs (one forget class each)")
    a = p.parse_args(argv)
    runs = []
    for path in a.results:
        with open(path) as fh:
            runs.append(json.load(fh))
    # eval_every only says where the curve was watched, not how the model was attacked: runs that
    # differ in it alone share a table, as long as each measured the two steps the table shows
    watched = lambda attack: {k: v for k, v in attack.items() if k != "eval_every"}   # noqa: E731
    attacks = {json.dumps(watched(run["settings"]["attack"]), sort_keys=True) for run in runs}
    if len(attacks) > 1:
        print(f"error: these runs attacked with different DiMRA settings, one table cannot hold them: {attacks}",
              file=sys.stderr)
        return 2
    steps, mid = runs[0]["settings"]["attack"]["steps"], middle_step(runs[0]["settings"]["attack"])
    for path, run in zip(a.results, runs):
        if middle_step(run["settings"]["attack"]) != mid:
            print(f"error: {path} did not measure forget_acc at steps {mid} and {steps}: rerun it with an "
                  f"--eval-every that divides {mid}", file=sys.stderr)
            return 2
    intervals = {run["settings"]["attack"].get("eval_every") for run in runs}
    first = True
    for run in runs:
        st = run["settings"]
        if first:
            print(f"| forget class | model | forget_acc after unlearning (kNN) | DiMRA-retain @{mid} / @{steps} "
                  f"(verdict) | DiMRA-mixed @{mid} / @{steps} (verdict) | retain_acc |")
            print("| --- | --- | --- | --- | --- | --- |")
            first = False
        seeds = len(st["seeds"])
        for name in run["rows"]:
            if name == "pretrained":
                continue
            cells = [f"{st['forget_class']}" + (f" ({seeds} seeds)" if seeds > 1 else ""), label(name)]
            print("| " + " | ".join(cells + row_cells(run["rows"], name, mid, steps, st["n_forget"])) + " |")
    if len(intervals) > 1:
        print("\nThe recovery curves were measured at different intervals: "
              + "; ".join(f"class {run['settings']['forget_class']} every {run['settings']['attack'].get('eval_every')} "
                          "steps" for run in runs)
              + ". Each verdict compares curves of one run (the method's and Retrain's), measured alike.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
