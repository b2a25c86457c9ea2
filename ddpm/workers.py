"""Independent stages in worker processes, without oversubscribing the CPU cores.

On a CPU, one process per core, each with one torch thread, gets more done than one process using
every core (small convolutions scale imperfectly across threads; docs/benchmarks.md measures it),
while N processes that each start torch's default thread count fight over the cores and run 20-40x
slower. So every worker gets an equal share of the caller's threads. Workers are started with
'spawn' (a fresh interpreter: no OpenMP state is inherited from the parent), and a stage gives the
same numbers whichever worker runs it, as long as the thread count per process is the same
(tests/test_reproduce.py checks this bit for bit).
"""
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import torch
from tqdm.auto import tqdm

from .train_loop import cpu_bf16


def default_workers(device: torch.device, smoke: bool) -> int:
    """One process per CPU core (measured fastest on 2 cores, docs/benchmarks.md); one on a GPU, and
    one for --smoke, where starting processes would cost more than the work."""
    if device.type != "cpu" or smoke:
        return 1
    return max(1, torch.get_num_threads())


def in_process(threads: int, bf16: bool, fn, *args):
    """What a worker runs: fn(*args) with its share of the threads (and bf16 when asked)."""
    torch.set_num_threads(threads)
    with cpu_bf16(bf16):
        return fn(*args)


def run_parallel(calls: list, workers: int, progress: bool, desc: str) -> list:
    """Run [(fn, args), ...] in `workers` fresh processes ('spawn': no OpenMP state is inherited)
    with an equal share of this process's threads each; results in the order of `calls`."""
    threads = max(1, torch.get_num_threads() // workers)
    bf16 = torch.is_autocast_enabled("cpu")
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(in_process, threads, bf16, fn, *args): i for i, (fn, args) in enumerate(calls)}
        out = [None] * len(calls)
        for done in tqdm(as_completed(futures), total=len(calls), desc=desc, disable=not progress):
            out[futures[done]] = done.result()
    return out
