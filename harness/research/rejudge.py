"""Both judges on the models of a reproduce.py run: after unlearning and at the end of each attack.

    python -m harness.research.rejudge --tag f8 --forget-class 8 --bf16      # the run of reproduce.py --tag f8 ...

The table counts forget_acc after unlearning with both judges (the CNN, and the kNN vote of
metrics/knn.py), but the recovery curves with the CNN judge only. Where the CNN judge cannot be
trusted (it labels the scribbles of a model that never saw the class as that class), the curves
and the verdicts against Retrain cannot be trusted either. This script loads each cached model of
one seed, draws the very samples the table counted (same sampler, number and seed) and counts them
with both judges:

    after unlearning   runs/<preset>[-tag]/forget<f>/seed<s>/<row>.pt   (Retrain: its own model)
    after each attack  runs/<preset>[-tag]/forget<f>/seed<s>/<row>-dimra-<aux>.pt  (the table's attacks)

The CNN column must equal the table's numbers (the forget_acc column and each curve's last point);
the script says so, or stops. Use the run's --tag, --forget-class, --bf16 and --from-scratch.
Writes results/<preset>[-tag]/rejudged-seed<s>.md
"""
import argparse
import json
import os
import sys
import time

import torch
from tqdm.auto import tqdm


from ddpm.errors import UserError
from lab.checkpoint import load_checkpoint
from lab.cli import run_cli
from lab.hardware import precision_region
from lab.pretrain import load_ddpm
from metrics.evaluate import generate, judge_accuracy
from unlearn import METHODS

from ..rows import label
from ..run import add_run_arguments, run_pipeline

ROWS = ("retrain", *METHODS)          # Retrain and every registered method
STAGES = (("unlearned", ""), ("retain", "-dimra-retain"), ("mixed", "-dimra-mixed"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", default=",".join(ROWS))
    a = p.parse_args(argv)

    def body():
        t0 = time.time()
        pipe = run_pipeline(a, (a.seed,), progress=False)
        tables = [os.path.join(pipe.results, name) for name in ("results.json", "ablation.json")]
        table = next((t for t in tables if os.path.exists(t)), None)
        if table is None:
            raise UserError(f"no {tables[0]}: run reproduce.py with this --tag and --forget-class first")
        with open(table) as fh:
            rows = json.load(fh)["rows"]
        with precision_region(pipe.s.precision):
            pipe.prepare()
            model, schedule = load_ddpm(pipe.ddpm_path, pipe.device)[:2]
            labels = torch.full((pipe.s.n_forget,), pipe.f)
            out = {}
            names = [r.strip() for r in a.rows.split(",") if r.strip()]
            for name in tqdm(names, desc="rows"):
                out[name] = {}
                for stage, suffix in STAGES:
                    path = os.path.join(pipe.folder(a.seed), name + suffix + ".pt")
                    if name == "retrain" and stage == "unlearned":
                        path = pipe.retrain_paths[a.seed]
                    if not os.path.exists(path):
                        continue
                    if path == pipe.retrain_paths[a.seed]:       # a pre-training checkpoint or shipped weights (EMA)
                        model.load_state_dict(load_ddpm(path)[0].state_dict())
                    else:
                        model.load_state_dict(load_checkpoint(path)["model"])
                    x = generate(model, schedule, labels, pipe.sample, a.seed)
                    out[name][stage] = (judge_accuracy(pipe.judge, x, labels), pipe.knn.accuracy(x, labels))
                    row = rows.get(name, {}).get(str(a.seed), {})
                    table_value = row.get("forget_acc") if stage == "unlearned" else \
                        row.get(f"dimra_{stage}", {}).get("curve", {}).get("forget_acc", [None])[-1]
                    if table_value is not None and abs(table_value - out[name][stage][0]) > 1e-9:
                        raise UserError(f"{path}: the CNN judge gives {out[name][stage][0]:.2f} here and "
                                        f"{table_value:.2f} in {table}; the samples differ (the run's --bf16 "
                                        f"and --from-scratch?)")
        seconds = time.time() - t0
        argv_text = " ".join(sys.argv[1:] if argv is None else argv)
        lines = [f"# Both judges after unlearning and after each attack: forget class {pipe.f}, seed {a.seed}", "",
                 f"Command: `python -m harness.research.rejudge {argv_text}` ({seconds:.0f} s). The same {pipe.s.n_forget} "
                 f"samples the table counted; CNN judge / kNN judge (metrics/knn.py). The CNN numbers equal "
                 f"the table's (checked by the script).", "",
                 "| model | after unlearning | after DiMRA-retain | after DiMRA-mixed |", "| --- | --- | --- | --- |"]
        for name, stages in out.items():
            cells = [f"{stages[s][0]:.2f} / {stages[s][1]:.2f}" if s in stages else "—" for s, _ in STAGES]
            lines.append(f"| {label(name)} | " + " | ".join(cells) + " |")
        path = os.path.join(pipe.results, f"rejudged-seed{a.seed}.md")
        with open(path, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        print("\n".join(lines))
        print(f"done in {seconds:.0f} s: {path}")

    return run_cli(body, "nothing was written")


if __name__ == "__main__":
    sys.exit(main())
