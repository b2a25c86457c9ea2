"""Data-parallel pre-training with PyTorch DDP, started by torchrun.

    torchrun --nproc_per_node=8 train.py ddpm --preset cifar10          # 8 GPUs (NCCL)
    OMP_NUM_THREADS=1 torchrun --nproc_per_node=2 train.py ddpm ...     # 2 CPU processes (gloo)

What N processes compute is the single-process run, split N ways:
- `--batch-size` is the *global* batch; each process computes batch / N images of it. The learning
  rate, warm-up and EMA are not rescaled: N processes take exactly the steps one process takes.
- Every process draws the whole global batch (the same seeded data order) and the whole batch's
  t, eps and dropped labels (the same seeded RNG), then keeps its own slice (`Ranks.part`). DDP
  averages the slices' gradients, which is the gradient of the whole batch's mean loss. So the loss
  curve and the weights match one process with the same global batch up to float summation order
  (tests/test_distributed.py measures it), and a run can be resumed with another process count.
- Only rank 0 writes checkpoints and sample grids. Every rank keeps the same EMA (its gradients are
  the same after the all-reduce), so any rank could; rank 0 does.
"""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ddpm.errors import UserError


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes torchrun started (rank 0 of 1 without torchrun)."""
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes checkpoints, grids and progress bars."""
        return self.rank == 0

    def part(self, batch_size: int) -> slice:
        """The images of a global batch this process computes: the rank-th of `world` equal slices."""
        share = batch_size // self.world
        return slice(self.rank * share, (self.rank + 1) * share)

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world:
            raise UserError(f"--batch-size {batch_size} (the global batch) must be divisible by the "
                            f"{self.world} processes torchrun started")

    def mean(self, value: float) -> float:
        """The mean of a number over all processes (the global batch's loss from the slices' losses)."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)            # gloo reduces CPU tensors; NCCL would need it on the GPU
        return t.item() / self.world

    def any_nonfinite(self, loss: torch.Tensor) -> bool:
        """True on every process when the loss is NaN/inf on any of them, so that all stop together
        (one process stopping alone would leave the others waiting in the gradient all-reduce)."""
        bad = torch.tensor([0.0 if torch.isfinite(loss).item() else 1.0])
        if self.world > 1:
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        return bad.item() > 0


def from_torchrun(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the process group torchrun describes in the environment (WORLD_SIZE, RANK, LOCAL_RANK,
    MASTER_ADDR/PORT); without torchrun, one process on `device`. GPUs: NCCL, one GPU per process;
    CPU: gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Ranks(), device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size()), device


def wrap(model: torch.nn.Module, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """The model DDP trains (all-reducing gradients in backward), or the model itself for one process."""
    if ranks.world == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def barrier_and_leave(ranks: Ranks) -> None:
    """Wait for every process (rank 0 may still be writing the last checkpoint), then leave the group."""
    if ranks.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
