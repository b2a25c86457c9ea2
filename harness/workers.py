"""Independent stages in worker processes, without oversubscribing the CPU cores or the memory.

On a CPU, one process per core, each with one torch thread, gets more done than one process using
every core (small convolutions scale imperfectly across threads; docs/benchmarks.md measures it),
while N processes that each start torch's default thread count fight over the cores and run 20-40x
slower. So every worker gets an equal share of the caller's threads, and there are never more
workers than the memory holds (WORKER_PEAK_GB each). Workers are started with 'spawn' (a fresh
interpreter: no OpenMP state is inherited from the parent), and a stage gives the same numbers
whichever worker runs it, as long as the thread count per process is the same (tests/test_reproduce.py
checks this bit for bit).
"""
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import torch
from tqdm.auto import tqdm

from lab.hardware import precision_region

# Memory to keep free per worker process: one worker of the mnist5k-quick pipeline peaked at 1,514 MB
# (make demo on 2 cores, 2026-12-01: getrusage(RUSAGE_CHILDREN), which every results.json records as
# environment.worker_peak_mb; about 0.9 GB of it is torch itself). Larger presets need more.
WORKER_PEAK_GB = 1.6


def available_memory_gb() -> float | None:
    """Memory available for new processes (Linux: MemAvailable; elsewhere: the physical memory);
    None when the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2 ** 30
    except (ValueError, OSError, AttributeError):
        return None


def default_workers(device: torch.device, smoke: bool, cores: int | None = None,
                    memory_gb: float | None = -1.0) -> int:
    """One process per CPU core (measured fastest on 2 cores, docs/benchmarks.md), but no more than
    the available memory holds at WORKER_PEAK_GB each; one on a GPU, on a one-core machine, and for
    --smoke, where starting processes would cost more than the work. (`cores` and `memory_gb`
    default to this machine's; memory_gb None means unknown, which does not limit.)"""
    if device.type != "cpu" or smoke:
        return 1
    cores = torch.get_num_threads() if cores is None else cores
    memory_gb = available_memory_gb() if memory_gb == -1.0 else memory_gb
    by_memory = cores if memory_gb is None else int(memory_gb // WORKER_PEAK_GB)
    return max(1, min(cores, by_memory))


def children_peak_mb() -> float | None:
    """The largest peak resident memory of any finished child process (None where unknown)."""
    try:
        import resource
    except ImportError:                       # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10     # bytes on macOS, KiB on Linux


def in_process(threads: int, precision: str, fn, *args):
    """What a worker runs: fn(*args) with its share of the threads, in the caller's precision."""
    torch.set_num_threads(threads)
    with precision_region(precision):
        return fn(*args)


class Eta:
    """Time left, from the measured speed: work done so far (in any unit, e.g. training steps) over
    the seconds it took. Says it once in a line after the first `parallel` pieces of work (with W
    workers the first piece to finish says nothing of the W - 1 still running: its speed is 1/W of
    the pool's), then keeps a bar's postfix up to date."""

    def __init__(self, total: float, desc: str, parallel: int = 1):
        self.total, self.done, self.desc, self.t0, self.said = total, 0.0, desc, time.time(), False
        self.parallel, self.pieces = max(1, parallel), 0

    def update(self, work: float, bar=None) -> None:
        self.done += work
        self.pieces += 1
        if self.pieces < self.parallel and self.done < self.total:     # the pool's speed is not known yet
            return
        elapsed = time.time() - self.t0
        left = elapsed * (self.total - self.done) / max(self.done, 1e-9)
        text = f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left"
        if bar is not None:
            bar.set_postfix_str(text)
        if not self.said and self.done < self.total and left >= 60:      # worth saying: a minute or more left
            print(f"\n{self.desc}: first part done after {elapsed:.0f} s; {text} at this speed", file=sys.stderr)
            self.said = True


def run_parallel(calls: list, workers: int, progress: bool, desc: str, work: list | None = None) -> list:
    """Run [(fn, args), ...] in `workers` fresh processes ('spawn': no OpenMP state is inherited)
    with an equal share of this process's threads each; results in the order of `calls`. `work`
    (one number a call, e.g. its training steps) drives the time-left estimate."""
    threads = max(1, torch.get_num_threads() // workers)
    precision = "bf16" if torch.is_autocast_enabled("cpu") else "float32"
    work = work or [1.0] * len(calls)
    eta = Eta(sum(work), desc, parallel=min(workers, len(calls)))
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(in_process, threads, precision, fn, *args): i for i, (fn, args) in enumerate(calls)}
        out = [None] * len(calls)
        bar = tqdm(as_completed(futures), total=len(calls), desc=desc, disable=not progress)
        for done in bar:
            i = futures[done]
            out[i] = done.result()
            eta.update(work[i], bar if progress else None)
    return out
