"""Data-parallel pre-training (lab/distributed.py): two gloo processes on the CPU, started by
torchrun, train what one process trains with the same global batch, and a run they stopped resumes."""
import os
import subprocess
import sys

import pytest
import torch

import train
from ddpm.errors import UserError
from lab.distributed import Ranks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["ddpm", "--preset", "mnist5k-quick", "--batch-size", "8", "--ch", "8", "--ch-mult", "1,2", "--groups", "4",
        "--attn-resolutions", "", "--mid-attn", "false", "--warmup", "2", "--sample-every", "1000000",
        "--ckpt-every", "1"]


def torchrun(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(ROOT, "train.py"), *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_batch_is_split_into_equal_disjoint_slices():
    parts = [Ranks(r, 4).part(16) for r in range(4)]
    covered = [i for p in parts for i in range(16)[p]]
    assert covered == list(range(16))
    assert Ranks().part(16) == slice(0, 16)
    with pytest.raises(UserError, match="divisible by the 3 processes"):
        Ranks(0, 3).check_batch(16)


@pytest.mark.slow
def test_two_gloo_processes_train_what_one_process_trains(tmp_path, monkeypatch):
    """Stopped after 3 steps and resumed to 6 by torchrun (2 processes of batch 4), against one
    process of batch 8 for 6 steps: same losses and weights up to float summation order (1e-5)."""
    torchrun(TINY + ["--steps", "3", "--out", "ddp.pt"], tmp_path)
    torchrun(TINY + ["--steps", "6", "--out", "ddp.pt", "--resume"], tmp_path)
    monkeypatch.chdir(tmp_path)
    assert train.main(TINY + ["--steps", "6", "--out", "one.pt"]) == 0
    ddp, one = (torch.load(tmp_path / f, weights_only=True) for f in ("ddp.pt", "one.pt"))
    assert ddp["step"] == one["step"] == 6
    losses = torch.tensor([ddp["history"]["loss"], one["history"]["loss"]])
    assert torch.allclose(losses[0], losses[1], rtol=1e-5), losses
    for part in ("model", "ema"):
        for name, w in one[part].items():
            assert torch.allclose(ddp[part][name], w, atol=1e-5), (part, name)
    assert torch.equal(ddp["rng"]["torch"], one["rng"]["torch"])     # the same random draws, in order
