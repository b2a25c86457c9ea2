"""Time our UNet against Hugging Face diffusers' UNet2DModel of the same shape, in one process.

Two workloads, on identical inputs for both networks:
  train   one training step: forward + backward + Adam step of the DDPM loss (ddpm.diffusion.simple_loss,
          10% label dropout), batch --batch;
  sample  DDIM sampling with classifier-free guidance (ddpm.diffusion.ddim_sample, --ddim-steps steps,
          guidance w of the mnist5k-quick preset): --n labels, so every network call sees a batch of 2n.
diffusers' model is wrapped to look like ours (forward(x, t, c), .config, .null_class), so both run the
very same loss and sampling loop. Repetitions of the contestants are interleaved (and their order
alternated) so that background load hits them equally. Reported: median and [min, max] time, the
speed ratio theirs / ours (>= 1.0: ours is at least as fast), and how close each row comes to the
machine's limit: the workload's FLOPs (torch.utils.flop_counter, counted once on our model), the
achieved GFLOP/s and its share of the CPU's float32 peak (`cpu_peak`, from lscpu).

    .venv/bin/pip install -r requirements-bench.txt           # diffusers, once
    .venv/bin/python -m tools.bench --preset mnist5k-quick           # CPU, defaults per preset
    .venv/bin/python -m tools.bench --preset mnist --reps 5 --sample-reps 2 --threads 2
    .venv/bin/python -m tools.bench --preset mnist5k-quick --try-speedups   # + "ours" with CPU tricks
    .venv/bin/python -m tools.bench --preset mnist5k-quick --profile        # top ops of our training step
    .venv/bin/python -m tools.bench --preset mnist5k-quick --amp            # bf16 autocast on the CPU
    python -m tools.bench --preset cifar10 --device cuda --amp --compile --channels-last --tf32
"""
import argparse
import re
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ddpm.config import DDPMConfig, build_model
from ddpm.diffusion import ddim_sample, simple_loss
from ddpm.unet import UNetConfig, count_params
from lab.presets import make_config

# Defaults per preset and device: (train batch, sampled labels n, train reps, sample reps, warm-up).
DEFAULTS = {
    ("mnist5k-quick", "cpu"): (64, 32, 15, 3, 2), ("mnist5k-quick", "cuda"): (64, 100, 30, 3, 5),
    ("mnist", "cpu"): (32, 8, 5, 2, 1),           ("mnist", "cuda"): (128, 100, 30, 3, 5),
    ("cifar10", "cpu"): (8, 4, 3, 1, 1),          ("cifar10", "cuda"): (128, 100, 20, 3, 5),
}


class DiffusersEps(nn.Module):
    """diffusers.UNet2DModel with our interface: forward(x, t, c) -> eps, .config, .null_class."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        from diffusers import UNet2DModel    # only bench.py needs diffusers (requirements-bench.txt)
        res = [cfg.image_size // 2 ** i for i in range(len(cfg.ch_mult))]
        attn = [r in cfg.attn_resolutions for r in res]
        self.net = UNet2DModel(
            sample_size=cfg.image_size, in_channels=cfg.in_channels, out_channels=cfg.in_channels,
            block_out_channels=tuple(cfg.ch * m for m in cfg.ch_mult), layers_per_block=cfg.num_res_blocks,
            down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attn),
            up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)),
            add_attention=cfg.mid_attn, attention_head_dim=None,     # None: one head over all channels, as ours
            norm_num_groups=cfg.groups, dropout=cfg.dropout,
            class_embed_type=None, num_class_embeds=cfg.num_classes + 1)
        self.config, self.null_class = cfg, cfg.num_classes

    def forward(self, x, t, c):
        return self.net(x, t, class_labels=c).sample


class Contestant:
    def __init__(self, name, model, lr=2e-4, channels_last=False, inference_mode=False):
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.name, self.model, self.channels_last, self.inference_mode = name, model, channels_last, inference_mode
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        self.net = model               # what is called: torch.compile'd with --compile
        self.times = {"train": [], "sample": []}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_step(k: Contestant, schedule, x0, c, amp, seed):
    torch.manual_seed(seed)            # same t, eps and dropped labels for every contestant
    if k.channels_last:
        x0 = x0.contiguous(memory_format=torch.channels_last)
    with amp():
        loss = simple_loss(k.net, schedule, x0, c, p_uncond=0.1)
    k.opt.zero_grad(set_to_none=True)
    loss.backward()
    k.opt.step()


GUIDANCE = DDPMConfig.guidance     # the project's default guidance scale


def sample(k: Contestant, schedule, labels, steps, amp, seed):
    ctx = torch.inference_mode() if k.inference_mode else nullcontext()
    with ctx, amp():
        return ddim_sample(k.net, schedule, labels, steps=steps, guidance=GUIDANCE,
                           generator=torch.Generator().manual_seed(seed))


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def run(contestants, workload, reps, warmup, fn, device):
    """Warm up every contestant, then `reps` interleaved rounds (order alternating each round)."""
    for k in contestants:
        k.model.train(workload == "train")
        for i in range(warmup):
            fn(k, 10_000 + i)
    for r in range(reps):
        for k in (contestants if r % 2 == 0 else contestants[::-1]):
            k.times[workload].append(timed(lambda: fn(k, r), device))


def cpu_peak(threads: int) -> tuple[float, str]:
    """The float32 peak of `threads` cores in GFLOP/s and how it was computed:
    cores x FLOP per cycle x clock. FLOP per cycle = 2 (a fused multiply-add) x float32 lanes x
    FMA pipes: AVX-512 on Intel server cores 2 x 16 x 2 = 64; AMD Zen 4 (family 25) runs AVX-512
    as two 256-bit halves, so 2 x 8 x 2 = 32, as AVX2 cores do. The clock is lscpu's 'CPU max MHz',
    or else BogoMIPS / 2 (the base clock a virtual machine reports): boost clocks above it make the
    true peak higher and the percentages below optimistic."""
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return float("nan"), "lscpu not available"
    field = lambda name: (re.search(rf"^{name}:\s*(.+)$", info, re.M) or [None, ""])[1].strip()  # noqa: E731
    flags, family = field("Flags").split(), field("CPU family")
    mhz = float(field("CPU max MHz") or 0) or float(field("BogoMIPS") or "nan") / 2
    if "avx512f" in flags and not (field("Vendor ID") == "AuthenticAMD" and family in ("25", "26")):
        per_cycle, why = 64, "AVX-512, 2 FMA pipes"
    elif "avx512f" in flags or "fma" in flags:
        per_cycle, why = 32, "256-bit FMA x 2 pipes" + (" (Zen 4 AVX-512 is double-pumped)" if "avx512f" in flags else "")
    else:
        per_cycle, why = 8, "SSE (no FMA)"
    peak = threads * per_cycle * mhz / 1e3
    return peak, (f"{threads} core(s) x {per_cycle} FLOP/cycle ({why}) x {mhz:.0f} MHz "
                  f"({'CPU max MHz' if field('CPU max MHz') else 'BogoMIPS / 2'}) = {peak:.0f} GFLOP/s float32")


def count_flops(fn) -> float:
    """FLOPs of one call of fn (matrix products and convolutions, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def report(contestants, workload, unit_ms, flops=None, peak=float("nan")):
    base = contestants[0].times[workload]
    print(f"\n{workload}: {len(base)} interleaved reps per model. time/ours: median time of the row / median "
          f"time of ours; paired: the same ratio per round, median [min, max]. For diffusers, time/ours is "
          f"our speed ratio: >= 1.0 means ours is at least as fast")
    if flops:
        print(f"{flops / 1e9:.1f} GFLOP per {workload} call (counted on ours); GFLOP/s and % of peak from the median")
    print("| model | median ms | min ms | max ms | time/ours | paired | GFLOP/s | % fp32 peak |")
    print("|---|---|---|---|---|---|---|---|")
    for k in contestants:
        t = k.times[workload]
        paired = [a / b for a, b in zip(t, base)]
        rate = flops / statistics.median(t) / 1e9 if flops else float("nan")
        print(f"| {k.name} | {unit_ms * statistics.median(t):.1f} | {unit_ms * min(t):.1f} | "
              f"{unit_ms * max(t):.1f} | {statistics.median(t) / statistics.median(base):.3f} | "
              f"{statistics.median(paired):.3f} [{min(paired):.3f}, {max(paired):.3f}] | {rate:.0f} | "
              f"{100 * rate / peak:.0f} |")


def profile_train(k: Contestant, schedule, x0, c, amp, device, steps=5):
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    k.model.train()
    for i in range(2):
        train_step(k, schedule, x0, c, amp, seed=i)
    with profile(activities=acts) as prof:
        for i in range(steps):
            train_step(k, schedule, x0, c, amp, seed=i)
        sync(device)
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(f"\nprofile of {steps} training steps of {k.name} (top ops by {key}):")
    print(prof.key_averages().table(sort_by=key, row_limit=20))


def make_contestants(cfg, a, device) -> tuple[list, object]:
    """Our UNet and diffusers' of the same size (and ours with channels_last with --try-speedups),
    compiled with --compile; and the noise schedule."""
    torch.manual_seed(0)
    ours, schedule = build_model(cfg, device)
    theirs = DiffusersEps(cfg.unet()).to(device)
    contestants = [Contestant("ours", ours, cfg.lr, a.channels_last),
                   Contestant("diffusers UNet2DModel", theirs, cfg.lr, a.channels_last)]
    if a.try_speedups:
        clone, _ = build_model(cfg, device)
        clone.load_state_dict(ours.state_dict())
        contestants.append(Contestant("ours channels_last", clone, cfg.lr, channels_last=True))
    if a.compile:
        for k in contestants:
            k.net = torch.compile(k.model)
    return contestants, schedule


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="mnist5k-quick", choices=["mnist5k-quick", "mnist", "cifar10"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (CPU); default: torch's choice")
    p.add_argument("--batch", type=int, help="training batch")
    p.add_argument("--n", type=int, help="labels sampled (each network call sees 2n with guidance)")
    p.add_argument("--reps", type=int, help="timed training steps per model")
    p.add_argument("--sample-reps", type=int, help="timed DDIM runs per model")
    p.add_argument("--warmup", type=int, help="untimed iterations per model and workload")
    p.add_argument("--ddim-steps", type=int, default=50)
    p.add_argument("--skip", choices=["train", "sample"], help="leave one workload out")
    p.add_argument("--profile", action="store_true", help="print torch.profiler's top ops of our training step, then stop")
    p.add_argument("--try-speedups", action="store_true",
                   help="also time our UNet with channels_last (train, sample) and inference_mode (sample)")
    g = p.add_argument_group("switches (applied to both models alike)")
    g.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA, or CPU: fast with AVX512-BF16 / AMX)")
    g.add_argument("--compile", action="store_true", help="torch.compile both models (on the CPU it needs a C++ compiler)")
    g.add_argument("--channels-last", action="store_true", help="channels_last memory format (also on CPU)")
    g.add_argument("--tf32", action="store_true", help="TF32 matmuls and convolutions (CUDA only)")
    return p


def main(argv=None):
    p = parser()
    a = p.parse_args(argv)

    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda asked for, but no CUDA GPU is visible")
    if device.type != "cuda":
        bad = [f for f in ("tf32",) if getattr(a, f)]
        if bad:
            p.error(f"--{', --'.join(bad)}: GPU-only switch(es); this benchmark runs them on CUDA only")
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.tf32:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    batch, n, reps, sample_reps, warmup = DEFAULTS[(a.preset, "cuda" if device.type == "cuda" else "cpu")]
    batch, n, reps = a.batch or batch, a.n or n, a.reps or reps
    sample_reps = a.sample_reps or sample_reps
    warmup = a.warmup if a.warmup is not None else warmup
    amp = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if a.amp else nullcontext

    cfg = make_config(a.preset)
    contestants, schedule = make_contestants(cfg, a, device)
    ours, theirs = contestants[0].model, contestants[1].model
    ucfg = cfg.unet()
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, preset {a.preset}: "
          f"{ucfg.image_size}px x{ucfg.in_channels}, ch {ucfg.ch} x {ucfg.ch_mult}, "
          f"{ucfg.num_res_blocks} res blocks, attn at {ucfg.attn_resolutions}, groups {ucfg.groups}")
    print(f"switches: amp={a.amp} compile={a.compile} channels_last={a.channels_last} tf32={a.tf32}; "
          f"train batch {batch} x {reps} reps, sample n={n} (batch {2 * n}) x {a.ddim_steps} DDIM steps "
          f"x {sample_reps} reps, warm-up {warmup}")
    print(f"parameters: ours {count_params(ours):,}, diffusers {count_params(theirs):,} "
          f"(theirs / ours {count_params(theirs) / count_params(ours):.4f})")

    gen = torch.Generator().manual_seed(0)
    x0 = (torch.rand(batch, ucfg.in_channels, ucfg.image_size, ucfg.image_size, generator=gen) * 2 - 1).to(device)
    c = torch.randint(0, ucfg.num_classes, (batch,), generator=gen).to(device)
    labels = torch.arange(n) % ucfg.num_classes

    if a.profile:
        profile_train(contestants[0], schedule, x0, c, amp, device)
        return 0
    peak, how = cpu_peak(torch.get_num_threads()) if device.type == "cpu" else (float("nan"), "GPU: not computed")
    print(f"peak: {how}" + (" (bf16 dot products: twice that)" if a.amp and device.type == "cpu" else ""))
    if a.skip != "train":
        flops = count_flops(lambda: train_step(contestants[0], schedule, x0, c, amp, seed=0))
        run(contestants, "train", reps, warmup,
            lambda k, r: train_step(k, schedule, x0, c, amp, seed=r), device)
        report(contestants, "train", 1e3, flops, peak)
    if a.skip != "sample":
        if a.try_speedups:   # inference_mode only changes sampling: a fourth contestant there
            im = Contestant("ours inference_mode", contestants[0].model, cfg.lr, inference_mode=True)
            im.net = contestants[0].net
            contestants.append(im)
        flops = count_flops(lambda: sample(contestants[0], schedule, labels, a.ddim_steps, amp, seed=0))
        run(contestants, "sample", sample_reps, min(warmup, 1),
            lambda k, r: sample(k, schedule, labels, a.ddim_steps, amp, seed=r), device)
        report(contestants, "sample", 1e3, flops, peak)
    return 0


if __name__ == "__main__":
    sys.exit(main())
