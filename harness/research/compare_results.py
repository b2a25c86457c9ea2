"""Two results.json side by side: each row's metrics (mean ± sd over seeds) and verdicts.

    python -m harness.research.compare_results results/mnist5k-quick/results.json results/mnist5k-quick-bf16/results.json

Used for docs/benchmarks.md (float32 vs bf16): a change of precision or of the code is
indistinguishable when every verdict is the same and every number lies within the seed spread.
"""
import argparse
import json
import sys


from ..rows import at_step, fmt, label
from ..validity import cell_text, cells


def cells(rows: dict, name: str, steps: int, n: int) -> list[str]:
    rs = [r for r in rows[name].values() if "diverged" not in r]
    out = [fmt([r[k] for r in rs]) for k in ("forget_acc", "retain_acc", "cfid")]
    for attack in ("dimra_retain", "dimra_mixed"):
        curves = [r[attack]["curve"] for r in rs]
        judged = "" if name == "retrain" else f" ({cell_text(cells(rows, name, attack, n, steps))})"
        out.append(fmt([at_step(c, steps) for c in curves]) + judged)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a")
    p.add_argument("b")
    a = p.parse_args(argv)
    runs = [json.load(open(path)) for path in (a.a, a.b)]
    st = runs[0]["settings"]
    steps = st["attack"]["steps"] if "attack" in st else st["attack_steps"]     # the older layout
    metrics = ["forget_acc", "retain_acc", "cFID", f"DiMRA-retain @{steps} (verdict)", f"DiMRA-mixed @{steps} (verdict)"]
    print(f"| row | metric | {a.a} | {a.b} |\n| --- | --- | --- | --- |")
    for name in [n for n in runs[0]["rows"] if n != "pretrained" and n in runs[1]["rows"]]:
        for metric, x, y in zip(metrics, cells(runs[0]["rows"], name, steps, st["n_forget"]),
                                   cells(runs[1]["rows"], name, steps, st["n_forget"])):
            print(f"| {label(name)} | {metric} | {x} | {y} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
