"""Which device and which precision a run computes in, chosen the way a user expects and by measuring.

Device: CUDA if a GPU is visible, else Apple's MPS, else the CPU; `--device` overrides. One line says
which.

Precision: float32, or bf16 autocast (matrix products and convolutions in bfloat16; weights, losses
and norms stay float32). Which one is faster depends on the machine, not on the code:

    CPU with AVX512-BF16 or AMX (recent Xeon / EPYC, Zen 4)   bf16 about 1.6x faster training, 2x sampling
    CPU without them (most laptops, AMD before Zen 4, M1)     bf16 about 11x SLOWER (emulated)

(docs/benchmarks.md, "Precision on CPUs with and without AVX512-BF16"). So `auto` does not guess from a
flag: on the CPU it times a few training steps and a short sampling of the run's own UNet in both
precisions, keeps bf16 only if it is clearly faster at both (BF16_SPEEDUP), and float32 otherwise.
The choice is cached per machine (CPU model, the kernels torch uses on it, torch version) in
`cache_path()`, so it is measured once. On CUDA, `auto` is bf16 where the GPU supports it; on MPS it
is float32 (bf16 autocast there is partial in torch 2.14).

The precision changes every number a run computes, so it is part of every stage key and table
header (reproduce.py): bf16 and float32 results never mix.
"""
import contextlib
import json
import os
import platform
import sys
import time

import torch

from ddpm.errors import UserError

PRECISIONS = ("auto", "float32", "bf16")
BF16_SPEEDUP = 1.25     # bf16 is kept only when at least this much faster at training AND at sampling


# ----------------------------------------------------------------------------- device
def pick_device(name: str | None = None, announce: bool = False) -> torch.device:
    """`name` (cpu, cuda, cuda:1, mps), or else CUDA if visible, else MPS if available, else the CPU.
    With `announce`, one line on stderr says which device and why."""
    if not name:
        if torch.cuda.is_available():
            device, why = torch.device("cuda"), f"a CUDA GPU is visible ({torch.cuda.get_device_name(0)})"
        elif torch.backends.mps.is_available():
            device, why = torch.device("mps"), "Apple's GPU (MPS) is available"
        else:
            device, why = torch.device("cpu"), "no CUDA GPU or MPS found"
        if announce:
            print(f"device: {device} ({why}; --device overrides)", file=sys.stderr)
        return device
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device: use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise UserError(f"--device {name} asked for, but no such CUDA GPU is visible: use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {name} asked for, but MPS is not available: use --device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device {name!r} is not supported: use cpu, cuda, cuda:N or mps")
    if announce:
        print(f"device: {device} (as asked by --device)", file=sys.stderr)
    return device


# ----------------------------------------------------------------------------- the precision region
def precision_region(precision: str, device_type: str = "cpu"):
    """Autocast to bf16 for every forward pass inside it when `precision` is 'bf16' (a no-op for
    float32): training, unlearning, attacks and sampling. The judges opt out (metrics/judge.py,
    metrics/knn.py), so they measure every model the same way.

    cache_enabled=False matters: one region spans many models and optimizer steps, and autocast's
    cache of bf16 weight copies lives until the region ends, so with it every forward pass after the
    first would reuse stale bf16 copies of the weights (training would not see its own updates)."""
    if precision not in ("float32", "bf16"):
        raise ValueError(f"precision {precision!r}: resolve 'auto' with choose_precision first")
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=False)


# ----------------------------------------------------------------------------- measuring
@contextlib.contextmanager
def threads(n: int):
    """torch's CPU thread count set to n inside, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def machine_key() -> dict:
    """What a measured choice depends on: the CPU, the kernels torch picks on it (ATEN_CPU_CAPABILITY
    and ONEDNN_MAX_CPU_ISA restrict them), and the torch version. A cached choice is reused only
    when all of these are the same."""
    return {"cpu": cpu_model(), "kernels": torch.backends.cpu.get_cpu_capability(),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""), "torch": torch.__version__}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_precision(precision: str, model_cfg, batch: int = 64, images: int = 32, sample_steps: int = 2,
                   rounds: int = 2, against: dict | None = None) -> dict:
    """Seconds per training step (batch `batch`) and per sampling step (`images` images, guided) of
    the run's own UNet (`model_cfg`, a UNetConfig) on the CPU in `precision`, on one thread (what each
    worker process runs on, harness/workers.py). One untimed warm-up step of each, then the fastest of
    `rounds` timings (the least disturbed by other work on the machine). With `against` (float32's
    timings), a training step already too slow for bf16 to be chosen ends the probe at once: the
    sampling is not timed ('sample': None), which spares a minute where bf16 is emulated."""
    from ddpm.diffusion import ddim_sample, simple_loss          # the probe is their only user in this module
    from ddpm.schedule import NoiseSchedule
    from ddpm.unet import UNet

    gen = torch.Generator().manual_seed(0)
    model, schedule = UNet(model_cfg), NoiseSchedule(1000, "linear")
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    size = (batch, model_cfg.in_channels, model_cfg.image_size, model_cfg.image_size)
    x, c = torch.rand(size, generator=gen) * 2 - 1, torch.randint(0, model_cfg.num_classes, (batch,), generator=gen)

    def train(n):
        for _ in range(n):
            loss = simple_loss(model, schedule, x, c)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def sample(n):
        with torch.no_grad():
            ddim_sample(model, schedule, c[:images], guidance=2.0, steps=n, generator=gen)

    out = {"train": float("inf"), "sample": float("inf")}
    with precision_region(precision), threads(1):
        train(1)                                                # warm-up: kernels chosen, memory allocated
        if against is not None:
            t0 = time.perf_counter()
            train(1)
            if against["train"] / (time.perf_counter() - t0) < BF16_SPEEDUP:
                return {"train": time.perf_counter() - t0, "sample": None}
        sample(1)
        for _ in range(rounds):
            t0 = time.perf_counter()
            train(1)
            t1 = time.perf_counter()
            sample(sample_steps)
            t2 = time.perf_counter()
            out = {"train": min(out["train"], t1 - t0), "sample": min(out["sample"], (t2 - t1) / sample_steps)}
    return out


def decide(timings: dict) -> tuple[str, str]:
    """(precision, why) from {'float32': {'train': s, 'sample': s}, 'bf16': {...}}: bf16 only when it is
    at least BF16_SPEEDUP times faster at both training and sampling; float32 otherwise (the safe
    default: it is what every kernel supports, and a small gain is not worth another set of numbers)."""
    f, b = timings["float32"], timings["bf16"]
    if b["sample"] is None:                  # the probe stopped after training (time_precision's `against`)
        return "float32", (f"bf16 is {f['train'] / b['train']:.2f}x float32's speed at training (sampling not "
                           f"timed; bf16 needs {BF16_SPEEDUP}x at both)")
    speed = {k: f[k] / b[k] for k in ("train", "sample")}
    said = f"bf16 is {speed['train']:.2f}x float32's speed at training, {speed['sample']:.2f}x at sampling"
    if min(speed.values()) >= BF16_SPEEDUP:
        return "bf16", said
    return "float32", said + f" (bf16 needs {BF16_SPEEDUP}x at both)"


def cache_path() -> str:
    """Where measured choices are kept: $UNLEARN_CACHE_DIR, else $XDG_CACHE_HOME/unlearning-ddpm,
    else ~/.cache/unlearning-ddpm."""
    root = os.environ.get("UNLEARN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "unlearning-ddpm")
    return os.path.join(root, "precision.json")


def _read_cache(path: str) -> list:
    try:
        with open(path) as f:
            entries = json.load(f)
        return entries if isinstance(entries, list) else []
    except (OSError, ValueError):
        return []                                               # no cache yet, or a damaged one: measure


def _write_cache(path: str, entries: list) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(entries, f, indent=1)
        os.replace(tmp, path)
    except OSError as e:                                        # a read-only home: measure again next time
        print(f"note: could not cache the precision choice in {path}: {e}", file=sys.stderr)


def measured_cpu_choice(model_cfg, path: str | None = None, measure=time_precision) -> tuple[str, str]:
    """The CPU's precision for `model_cfg`'s UNet: cached for this machine_key() and model, else
    measured now (a few seconds; about 15 s on a CPU that emulates bf16) and cached."""
    path = path or cache_path()
    key = {**machine_key(), "model": repr(model_cfg)}
    entries = _read_cache(path)
    for e in entries:
        if e.get("key") == key:
            return e["precision"], e["why"] + f" (measured on {e['measured_on']}, cached in {path})"
    timings = {"float32": measure("float32", model_cfg)}
    timings["bf16"] = measure("bf16", model_cfg, against=timings["float32"])
    precision, why = decide(timings)
    entries = [e for e in entries if e.get("key") != key] + [
        {"key": key, "precision": precision, "why": why, "timings": timings,
         "measured_on": time.strftime("%Y-%m-%d")}]
    _write_cache(path, entries)
    return precision, why + " (measured just now)"


def choose_precision(requested: str, device: torch.device, model_cfg, announce: bool = True,
                     path: str | None = None, measure=time_precision) -> str:
    """'float32' or 'bf16' for `requested` in PRECISIONS: an explicit choice is kept; 'auto' is
    measured on the CPU, bf16 on a CUDA GPU that supports it, float32 on MPS. One line says why."""
    if requested not in PRECISIONS:
        raise UserError(f"--precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        precision, why = requested, "as asked"
    elif device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        precision, why = ("bf16", "the GPU supports bf16") if ok else ("float32", "the GPU has no bf16")
    elif device.type == "mps":
        precision, why = "float32", "bf16 autocast on MPS is partial in this torch"
    else:
        precision, why = measured_cpu_choice(model_cfg, path, measure)
    if announce:
        print(f"precision: {precision} ({why}; --precision float32|bf16 overrides)", file=sys.stderr)
    return precision


def main(argv=None) -> int:
    """python -m lab.hardware: time both precisions on this CPU (one thread) with the default UNet (the
    mnist5k-quick preset's) and say what auto picks. A run with --precision auto times its own UNet."""
    from ddpm.unet import UNetConfig
    if argv if argv is not None else sys.argv[1:]:
        print("error: python -m lab.hardware takes no argument; it times the mnist5k-quick UNet "
              "(reproduce.py --preset NAME --precision auto times NAME's own)", file=sys.stderr)
        return 2
    timings = {p: time_precision(p, UNetConfig()) for p in ("float32", "bf16")}
    print(f"{cpu_model()}; kernels {torch.backends.cpu.get_cpu_capability()}"
          f"{', ONEDNN_MAX_CPU_ISA=' + os.environ['ONEDNN_MAX_CPU_ISA'] if os.environ.get('ONEDNN_MAX_CPU_ISA') else ''}; "
          f"torch {torch.__version__}; the mnist5k-quick UNet, 1 thread")
    print("| precision | training step, batch 64 | sampling step, 32 images, guided |\n| --- | --- | --- |")
    for p, t in timings.items():
        print(f"| {p} | {t['train'] * 1e3:,.0f} ms | {t['sample'] * 1e3:,.0f} ms |")
    print("auto picks: %s (%s)" % decide(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
