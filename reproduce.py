"""The main job: pre-train -> unlearn one class with every method -> attack -> table + figures.

    python reproduce.py                              # mnist5k-quick, seeds 0 1 2, forget class 0
    python reproduce.py --seeds 0 --methods ga,dimum # one seed, two methods
    python reproduce.py --ablation                   # the ablation table (one seed)
    python reproduce.py --controls --positive-control --attacks dimra_retain,inversion   # the controls, every seed
    python reproduce.py --preset mnist --seeds 0     # on a GPU (downloads MNIST once)
    python reproduce.py --smoke                      # tiny sizes: checks the pipeline runs
    python reproduce.py --seeds 0 --precision bf16 --workers 2   # bf16 autocast, two processes

Every stage (unlearning, evaluation, each attack) is cached under runs/<preset>[-<tag>]/ with a key
of everything it was computed from (harness/stages.py): a rerun reuses what still matches and
continues after a crash or Ctrl-C; --fresh redoes everything. Results go to results/<preset>[-<tag>]/:
table.md, results.json, figures. Device and precision are chosen by measuring unless given
(lab/hardware.py); --workers N runs independent stages in N processes (harness/workers.py).
This file only reads the flags: the run itself is harness/run.py.
"""
import argparse
import sys
import time

import torch

from ddpm.errors import UserError
from harness.run import choose_rows, run
from harness.settings import Settings
from harness.stages import WEIGHTS
from lab.cli import add_flags, given, run_cli
from lab.hardware import PRECISIONS, pick_device
from lab.presets import PRESETS
from unlearn import METHODS

HELP = {
    "preset": f"one of {', '.join(PRESETS)} (default mnist5k-quick)",
    "seeds": "default 0 1 2",
    "attack_steps": "DiMRA steps (default attack.dimra.DiMRAConfig's)",
    "eval_every": "attack steps between forget_acc measurements (default DiMRAConfig's)",
    "n_forget": "samples of the forgotten class a measurement (default metrics.evaluate.N_FORGET)",
    "n_retain": "samples per retained class for retain_acc and cFID (default metrics.evaluate's)",
    "smoke": "tiny sizes: check that every stage runs (float32 unless --precision says otherwise)",
    "fresh": "redo every stage instead of reusing it, pre-training included (implies --from-scratch)",
    "from_scratch": f"train the pre-trained DDPM, Retrain and the judge instead of using {WEIGHTS}/",
    "tag": "write to runs/<preset>-<tag>/ and results/<preset>-<tag>/ (make demo: --tag demo)",
    "attacks": "comma-separated attacks of attack/ ATTACKS (default: the headline ones, DiMRA-retain and "
               "DiMRA-mixed); e.g. --attacks inversion,datafree",
    "n_after": "samples per retained class for retain_acc and cFID after every attack (default "
               "metrics.evaluate.N_AFTER_ATTACK; 0: not measured)",
    "results": "write the table to results/<NAME>/ (default <preset>-<tag>); the stages stay in runs/<preset>-<tag>/",
    "uncond": "also measure the unconditional branch: the share of N null-label, unguided samples read as f",
    "precision": "float32, bf16 autocast (the judges stay float32), or auto (default): timed once per "
                 "machine on the CPU, bf16 kept only if clearly faster; bf16 on a CUDA GPU that has it; "
                 "float32 on MPS",
}


def names(text: str) -> tuple:
    """argparse type for comma-separated names (--attacks inversion,datafree)."""
    return tuple(n.strip() for n in text.split(",") if n.strip())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(p, Settings, skip=("progress",), help=HELP, seeds={"nargs": "+", "type": int},
              precision={"choices": PRECISIONS}, attacks={"type": names})
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help="= --precision bf16")
    p.add_argument("--methods", help=f"comma-separated methods for the main table (default: all of {', '.join(METHODS)})")
    p.add_argument("--ablation", action="store_true", help="run the ablation rows (first seed only)")
    p.add_argument("--variants", help="comma-separated ablation rows to run (default: all)")
    p.add_argument("--controls", action="store_true", help="add the control rows (harness/settings.py CONTROLS: "
                                                           "ESD, SalUn, DiMUM at the other alpha), every seed")
    p.add_argument("--positive-control", action="store_true", help="attack the pre-trained model too (an attack "
                                                                   "that cannot bring the class back out of it measures nothing)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice). The same "
                                               "seed gives the same numbers only with the same thread count")
    p.add_argument("--workers", type=int, help="processes for independent stages, each with threads / workers "
                                               "torch threads (default: one per core as far as the memory "
                                               "allows; 1 on a GPU and with --smoke)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: CUDA, else MPS, else the CPU)")
    a = p.parse_args(argv)

    def body():
        for name in ("workers", "threads"):
            if getattr(a, name) is not None and getattr(a, name) < 1:
                raise UserError(f"--{name} {getattr(a, name)} must be at least 1")
        if a.threads:
            torch.set_num_threads(a.threads)
        s = Settings(**{**given(a, Settings), "seeds": tuple(a.seeds or Settings.seeds)})
        variants, ablation = choose_rows(a.methods, a.ablation, a.variants, a.positive_control, a.controls)
        t0 = time.time()
        argv_text = " ".join(sys.argv[1:] if argv is None else argv)
        table = run(s, pick_device(a.device, announce=True), variants, ablation, a.workers, argv_text)
        with open(table) as f:
            print("\n" + f.read())
        print(f"done in {time.time() - t0:.0f} s: {table} and the figures beside it")
    return run_cli(body, "finished stages are saved under runs/; rerun the same command to continue")


if __name__ == "__main__":
    sys.exit(main())
