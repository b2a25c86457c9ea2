"""Hand mutants against `make test`: each a one-line wrong version of the code, applied to a scratch copy
of the working tree, and the test files that must reject it run there (pytest -x). docs/testing.md
holds the table this prints.

    OMP_NUM_THREADS=1 python -m tools.mutants            # every mutant: killed or SURVIVED, and the time
    OMP_NUM_THREADS=1 python -m tools.mutants --only 3   # one of them

A mutant whose text is no longer in its file is reported as stale (the code moved: update it here).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

# (file, the right line's text, the wrong text, the test files that must fail, what the mutant breaks)
MUTANTS = [
    ("ddpm/train_loop.py", "if grad_clip is not None:", "if False:", ["tests/test_wiring_fit.py"],
     "fit: gradient clipping ignored"),
    ("attack/dimra.py", "cfg.steps, cfg.lr, grad_clip=cfg.grad_clip", "cfg.steps, 1e-4, grad_clip=cfg.grad_clip",
     ["tests/test_wiring.py"], "DiMRA: its lr never reaches the loop"),
    ("metrics/evaluate.py", "labels = torch.full((n,), f", "labels = torch.full((n,), (f + 1) % 10",
     ["tests/test_wiring_metrics.py", "tests/test_mutation_gaps.py"], "forget_acc samples another label than it scores"),
    ("harness/pipeline.py", '"test": self.data_ids["test"], "n_retain": self.s.n_after',
     '"test": self.data_ids["test"], "n_retain": self.s.n_retain', ["tests/test_stage_keys.py"],
     "after-attack key holds n_retain, not n_after"),
    ("harness/pipeline.py", '"aux": self.data_ids["aux"], "second_judge": self.knn.id}', '"aux": self.data_ids["aux"]}',
     ["tests/test_stage_keys.py"], "attack key without the second judge"),
    ("metrics/verdict.py", 'word = "resists" if hi < margin', 'word = "resists" if lo < margin',
     ["tests/test_verdict.py"], "verdict: resists from the lower bound"),
    ("harness/validity.py", "retain_of(rows, name, seeds)", "retain_of(rows, name, seeds[:1])",
     ["tests/test_validity.py"], "broken-model rule on the first seed"),
    ("harness/validity.py", "if r0 is not None and r0 > REFERENCE_BOUND", "if r0 is not None and r0 > 1",
     ["tests/test_validity.py"], "the class-8 reference gate dropped"),
    ("unlearn/salun.py", "pixels = x_r[0].numel()", "pixels = x_r[0, 0].numel()",
     ["tests/test_controls.py::test_salun_retain_sum_is_the_per_image_pixel_sum"],
     "SalUn's summed retain term counts H*W, not C*H*W"),
    ("attack/base.py", "step % self.every == 0 or step == self.steps", "step % self.every == 0",
     ["tests/test_attacks.py"], "Curve misses the last step"),
    ("attack/base.py", "        self.model.train(training)\n", "", ["tests/test_attacks.py"],
     "Curve leaves the model in eval mode"),
    ("attack/inversion.py", "manual_seed(data.seed))[:n]", "manual_seed(0))[:n]", ["tests/test_attacks.py"],
     "inversion always draws the same images of f"),
    ("lab/hardware.py", '"model": repr(model_cfg)}', '"model": ""}', ["tests/test_hardware.py"],
     "precision cache key without the model"),
    ("harness/settings.py", "seed=RETRAIN_SEED + seed)", "seed=seed)",
     ["tests/test_reproduce.py::test_retrain_never_starts_from_theta0s_initial_weights"],
     "Retrain of seed 0 trained with theta_0's seed"),
]
SKIP = {".git", ".venv", "runs", "results", "data", "mutants", "__pycache__", ".pytest_cache"}


def scratch_copy(root: str) -> str:
    dst = tempfile.mkdtemp(prefix="mutant-")
    for name in os.listdir(root):
        src = os.path.join(root, name)
        if name in SKIP:
            if name in ("results", "data") and os.path.exists(src):
                os.symlink(os.path.abspath(src), os.path.join(dst, name))
            continue
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(dst, name))
    return dst


def run_one(root: str, path: str, right: str, wrong: str, tests: list) -> tuple[str, float]:
    with open(os.path.join(root, path)) as f:
        text = f.read()
    if text.count(right) != 1:
        return "stale", 0.0
    with open(os.path.join(root, path), "w") as f:
        f.write(text.replace(right, wrong))
    t0 = time.time()
    try:
        out = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow and not hardware", *tests],
                             cwd=root, capture_output=True, text=True)
    finally:
        with open(os.path.join(root, path), "w") as f:
            f.write(text)
    return ("killed" if out.returncode == 1 else "SURVIVED" if out.returncode == 0 else f"error {out.returncode}",
            time.time() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", type=int, help="the index of one mutant")
    a = p.parse_args(argv)
    root = scratch_copy(os.getcwd())
    chosen = [MUTANTS[a.only]] if a.only is not None else MUTANTS
    print("| # | mutant | file | tests | result | seconds |\n| --- | --- | --- | --- | --- | --- |")
    bad = 0
    for i, (path, right, wrong, tests, what) in enumerate(chosen):
        result, seconds = run_one(root, path, right, wrong, tests)
        bad += result != "killed"
        print(f"| {i} | {what} | `{path}` | {', '.join(t.split('/')[-1] for t in tests)} | {result} | {seconds:.0f} |",
              flush=True)
    shutil.rmtree(root, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
