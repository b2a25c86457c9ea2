"""Pre-training a class-conditional DDPM: the resumable, checkpointed run of `train.py ddpm`, and
loading a DDPM back from any checkpoint.

The mathematics is elsewhere: the loss in ddpm/diffusion.py, the loop in ddpm/train_loop.py, the
config in ddpm/config.py. This file adds what a real run needs around them: the device, resuming,
checkpoints, the precision a checkpoint was trained in, sample grids and several GPUs (torchrun).
"""
import os

import torch

from ddpm.config import DDPMConfig, build_model
from ddpm.data import Batches, check_class, load_splits, save_grid
from ddpm.diffusion import ddim_sample, simple_loss
from ddpm.ema import EMA
from ddpm.errors import UserError
from ddpm.train_loop import fit

from .checkpoint import check_same_config, check_writable, load_checkpoint, save_checkpoint
from .distributed import barrier_and_leave, from_torchrun, wrap
from .hardware import pick_device


def speedups(model: torch.nn.Module, cfg: DDPMConfig, device: torch.device) -> torch.nn.Module:
    """channels_last and torch.compile: only on CUDA (on CPU they measured no gain; see docs/benchmarks.md)."""
    if device.type != "cuda":
        return model
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def load_ddpm(path: str, device: torch.device | str = "cpu", use_ema: bool = True, hint: str = ""):
    """(model, schedule, cfg, ckpt) from a DDPM checkpoint (pre-trained, unlearned or attacked)."""
    ckpt = load_checkpoint(path, hint=hint or "train one with `python train.py ddpm --preset mnist5k-quick`")
    if ckpt["kind"] not in ("ddpm", "unlearned", "attacked"):
        raise UserError(f"{path} is a {ckpt['kind']!r} checkpoint, not a DDPM: pass a file written by "
                        f"`train.py ddpm`, unlearn or attack")
    cfg = DDPMConfig(**ckpt["config"])
    model, schedule = build_model(cfg, device)
    state = ckpt["ema"] if use_ema and ckpt.get("ema") is not None else ckpt["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise UserError(f"checkpoint {path} does not fit the UNet its config describes: it is damaged, "
                        f"delete it and rerun the step that writes it") from None
    return model, schedule, cfg, ckpt


# Settings a resumed run may change (train longer, log differently); every other one must match.
RESUME_MAY_CHANGE = ("steps", "sample_every", "ckpt_every", "guidance", "ddim_steps")


def precision(cfg: DDPMConfig, device: torch.device) -> str:
    """What pre-training computes in here: 'bf16' with CUDA autocast (cfg.amp) or inside the CPU's bf16
    region (reproduce.py --precision bf16, lab.hardware.precision_region), else 'float32'. Recorded in the checkpoint."""
    on_cpu = device.type == "cpu" and torch.is_autocast_enabled("cpu")
    return "bf16" if on_cpu or (cfg.amp and device.type == "cuda") else "float32"


def check_precision(out: str, ckpt: dict, cfg: DDPMConfig, device: torch.device) -> None:
    """Refuse to continue (or reuse) a run in another precision than the one it was trained in.
    Checkpoints written before the precision was recorded carry none and are accepted."""
    saved, now = ckpt.get("precision"), precision(cfg, device)
    if saved is not None and saved != now:
        raise UserError(f"{out} was trained in {saved} and this run computes in {now}: continue it in {saved}, "
                        f"or write elsewhere (train.py: another --out; reproduce.py: another --tag, or --fresh)")


def finished(out: str, cfg: DDPMConfig, device: torch.device | None = None) -> bool:
    """Whether `out` holds a pre-training run of `cfg` that has done all its steps (pretrain() on it
    would return at once). False for a missing, unfinished or mismatched one: pretrain() then
    continues it, or says what does not match. A finished run in another precision is refused."""
    if not os.path.exists(out):
        return False
    ckpt = load_checkpoint(out, kind="ddpm")
    try:
        check_same_config(out, ckpt["config"], cfg.to_dict(), ignore=RESUME_MAY_CHANGE)
    except UserError:
        return False
    check_precision(out, ckpt, cfg, device or pick_device())
    return ckpt["step"] >= cfg.steps


def resume_from(out: str, resume: bool, cfg: DDPMConfig, device, model, ema, optimizer, batches) -> tuple[int, list]:
    """(first step, loss history): (0, []) for a new run; for --resume, the state of the checkpoint at
    `out` loaded into the model, EMA, optimizer, data order and RNG, after checking its config."""
    if not os.path.exists(out):
        return 0, []
    if not resume:
        raise UserError(f"{out} exists: pass --resume to continue it, or choose another --out")
    ckpt = load_checkpoint(out, kind="ddpm")
    check_same_config(out, ckpt["config"], cfg.to_dict(), ignore=RESUME_MAY_CHANGE)
    check_precision(out, ckpt, cfg, device)
    model.load_state_dict(ckpt["model"])
    ema.model.load_state_dict(ckpt["ema"])
    ema.num_updates.fill_(ckpt["ema_updates"])
    optimizer.load_state_dict(ckpt["optimizer"])
    batches.load_state_dict(ckpt["rng"]["batches"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    return ckpt["step"], list(ckpt["history"]["loss"])


def pretrain(cfg: DDPMConfig, out: str, resume: bool = False, device: torch.device | None = None,
             progress: bool = True) -> str:
    """Train a DDPM with `cfg`, checkpointing to `out` (and sample grids beside it). Returns `out`.
    Started by torchrun, each process trains its slice of every batch (lab/distributed.py)."""
    ranks, device = from_torchrun(device or pick_device())
    ranks.check_batch(cfg.batch_size)
    progress = progress and ranks.main
    check_writable(out)
    torch.manual_seed(cfg.seed)
    splits = load_splits(cfg.dataset, cfg.data_root, cfg.image_size)
    train = splits["train"]
    if cfg.exclude_class is not None:
        train = train.subset(train.labels != check_class(cfg.exclude_class))
    model, schedule = build_model(cfg, device)
    model = speedups(model, cfg, device)
    ema = EMA(model, cfg.ema_decay)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    batches = Batches(train, cfg.batch_size, seed=cfg.seed, device=device)
    start, losses = resume_from(out, resume, cfg, device, model, ema, optimizer, batches)
    if start >= cfg.steps:
        barrier_and_leave(ranks)
        return out
    net = wrap(model, ranks, device)          # DDP after the weights are loaded (it syncs rank 0's)
    net = torch.compile(net) if cfg.compile and device.type == "cuda" else net

    def checkpoint(step: int) -> None:
        if not ranks.main:
            return
        save_checkpoint({"kind": "ddpm", "config": cfg.to_dict(), "precision": precision(cfg, device), "step": step,
                         "model": model.state_dict(), "ema": ema.model.state_dict(),
                         "ema_updates": int(ema.num_updates), "optimizer": optimizer.state_dict(),
                         "rng": {"torch": torch.get_rng_state(), "batches": batches.state_dict()},
                         "history": {"loss": losses}}, out)

    def on_step(step: int, loss: float) -> None:
        losses.append(ranks.mean(loss))        # the global batch's loss (the mean of the slices')
        if ranks.main and (step % cfg.sample_every == 0 or step == cfg.steps):
            name = os.path.splitext(os.path.basename(out))[0]     # ddpm, ddpm-retrain0: one folder each
            grid_path = os.path.join(os.path.dirname(out) or ".", "samples", name, f"step{step:06d}.png")
            save_grid(sample_grid(ema.model, schedule, cfg), grid_path)   # own generator: no RNG drawn
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            checkpoint(step)

    def loss_fn() -> torch.Tensor:
        loss = simple_loss(net, schedule, *next(batches), p_uncond=cfg.p_uncond, part=ranks.part(cfg.batch_size))
        if ranks.world > 1 and ranks.any_nonfinite(loss):     # all processes stop at the same step
            return torch.full_like(loss, float("nan"))
        return loss

    hist = fit(net, loss_fn, cfg.steps, cfg.lr, optimizer=optimizer, start_step=start, ema=ema, grad_clip=cfg.grad_clip,
               warmup=cfg.warmup, on_step=on_step, amp=cfg.amp, desc=f"ddpm {cfg.dataset}",
               progress=progress)
    if hist["stopped"] == "nonfinite":
        where = (f"the last checkpoint (step {hist['steps_done'] // cfg.ckpt_every * cfg.ckpt_every}) is in {out}"
                 if os.path.exists(out) else "no checkpoint was written")
        raise UserError(f"pre-training diverged (loss NaN/inf) at step {hist['steps_done'] + 1}: lower --lr; {where}")
    barrier_and_leave(ranks)
    return out


@torch.no_grad()
def sample_grid(model, schedule, cfg: DDPMConfig, per_class: int = 10, seed: int = 0) -> torch.Tensor:
    """per_class DDIM samples of every class, class k in row k of a 10-wide grid."""
    labels = torch.arange(10).repeat_interleave(per_class)
    g = torch.Generator().manual_seed(seed)
    return ddim_sample(model, schedule, labels, steps=cfg.ddim_steps, guidance=cfg.guidance, generator=g)
