"""Pre-training a class-conditional DDPM: the config, its named presets, and the resumable run.

`train.py ddpm --preset NAME [--flag value ...]` is the command-line face of `pretrain`.
A preset is a dict of overrides of `DDPMConfig`; flags override the preset; nothing is changed
in code afterwards: the config a run starts with is the config stored in its checkpoint.
"""
import os
from dataclasses import asdict, dataclass, fields

import torch

from .checkpoint import check_same_config, check_writable, load_checkpoint, save_checkpoint
from .data import Batches, check_class, load_splits, save_grid
from .diffusion import ddim_sample, simple_loss
from .distributed import barrier_and_leave, from_torchrun, wrap
from .ema import EMA
from .errors import UserError, require
from .hardware import pick_device
from .schedule import NoiseSchedule
from .train_loop import fit
from .unet import UNet, UNetConfig


@dataclass
class DDPMConfig:
    dataset: str = "mnist5k"
    data_root: str = "data"
    image_size: int = 16
    # UNet
    ch: int = 32
    ch_mult: tuple = (1, 2, 2)
    num_res_blocks: int = 1
    attn_resolutions: tuple = ()
    mid_attn: bool = True
    dropout: float = 0.0
    groups: int = 8
    # diffusion
    T: int = 1000
    schedule: str = "linear"
    p_uncond: float = 0.1           # label dropout to the null class (classifier-free guidance)
    # optimisation
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    exclude_class: int | None = None   # train on the other classes only (the Retrain reference)
    seed: int = 0
    # evaluation / logging
    guidance: float = 2.0           # classifier-free guidance scale w (0 = conditional only)
    ddim_steps: int = 20
    sample_every: int = 500
    ckpt_every: int = 250
    # hardware (GPU paths are off on CPU whatever the flags say)
    amp: bool = True                # bf16 autocast on CUDA
    compile: bool = False           # torch.compile on CUDA
    channels_last: bool = True      # channels_last memory format on CUDA

    def __post_init__(self):
        """Refuse impossible settings here, before any data is read or any step is trained."""
        self.ch_mult, self.attn_resolutions = tuple(self.ch_mult), tuple(self.attn_resolutions)   # JSON gives lists
        require((self.steps >= 1, f"--steps {self.steps} must be at least 1"),
                (self.batch_size >= 1, f"--batch-size {self.batch_size} must be at least 1"),
                (self.lr > 0, f"--lr {self.lr} must be positive"),
                (self.warmup >= 0, f"--warmup {self.warmup} must be >= 0"),
                (self.grad_clip > 0, f"--grad-clip {self.grad_clip} must be positive"),
                (0 <= self.ema_decay < 1, f"--ema-decay {self.ema_decay} must be in [0, 1)"),
                (0 <= self.p_uncond < 1, f"--p-uncond {self.p_uncond} must be in [0, 1)"),
                (self.T > 20, f"--T {self.T} must be above 20 (the linear schedule's beta_T = 20 / T must stay below 1)"),
                (1 <= self.ddim_steps <= self.T, f"--ddim-steps {self.ddim_steps} must be in 1..T={self.T}"),
                (self.guidance >= 0, f"--guidance {self.guidance} must be >= 0"),
                (self.sample_every >= 1, f"--sample-every {self.sample_every} must be at least 1"),
                (self.ckpt_every >= 1, f"--ckpt-every {self.ckpt_every} must be at least 1"),
                (self.image_size >= 4, f"--image-size {self.image_size} must be at least 4"),
                (self.seed >= 0, f"--seed {self.seed} must be >= 0"),
                (self.schedule in ("linear", "cosine"), f"--schedule {self.schedule!r}: use linear or cosine"))
        if self.exclude_class is not None:
            check_class(self.exclude_class)
        try:
            self.unet()
        except ValueError as e:          # the UNet's own shape rules (image size, GroupNorm groups)
            raise UserError(f"{e}: change --image-size, --ch-mult, --ch or --groups") from None

    def unet(self) -> UNetConfig:
        return UNetConfig(image_size=self.image_size, in_channels=3 if self.dataset == "cifar10" else 1,
                          num_classes=10, ch=self.ch, ch_mult=tuple(self.ch_mult),
                          num_res_blocks=self.num_res_blocks, attn_resolutions=tuple(self.attn_resolutions),
                          mid_attn=self.mid_attn, dropout=self.dropout, groups=self.groups)

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    # 2 CPU cores, minutes: MNIST digits resized to 16 px, a 1.1M-parameter UNet.
    "mnist5k-quick": dict(),
    # 2 CPU cores, under an hour with reproduce.py --bf16: the full MNIST (60,000 digits) at its own
    # 28 px, with the mnist5k-quick UNet and step budget (2,000 steps of 64 = about 2 epochs).
    "mnist-cpu": dict(dataset="mnist", image_size=28),
    # One GPU: full MNIST at 28 px.
    "mnist": dict(dataset="mnist", image_size=28, ch=64, ch_mult=(1, 2, 2), num_res_blocks=2,
                  attn_resolutions=(7,), dropout=0.1, groups=16, steps=15000, batch_size=128, lr=2e-4,
                  warmup=500, ema_decay=0.9995, sample_every=2500, ckpt_every=1000, ddim_steps=50),
    # One GPU: the DDPM paper's CIFAR-10 UNet (35.7M parameters) plus the class embedding.
    "cifar10": dict(dataset="cifar10", image_size=32, ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2,
                    attn_resolutions=(16,), dropout=0.1, groups=32, steps=80000, batch_size=128, lr=2e-4,
                    warmup=5000, ema_decay=0.9999, sample_every=5000, ckpt_every=2000, ddim_steps=50,
                    guidance=1.0),
    # The same shape at half width (9M parameters) for short GPU budgets.
    "cifar10-small": dict(dataset="cifar10", image_size=32, ch=64, ch_mult=(1, 2, 2, 2), num_res_blocks=2,
                          attn_resolutions=(16,), dropout=0.1, groups=32, steps=40000, batch_size=128,
                          lr=2e-4, warmup=2000, ema_decay=0.9999, sample_every=5000, ckpt_every=2000,
                          ddim_steps=50, guidance=1.0),
}


def make_config(preset: str, **overrides) -> DDPMConfig:
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    names = {f.name for f in fields(DDPMConfig)}
    bad = set(overrides) - names
    if bad:
        raise UserError(f"unknown setting(s) {', '.join(sorted(bad))}")
    return DDPMConfig(**{**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}})


def build_model(cfg: DDPMConfig, device: torch.device | str = "cpu") -> tuple[UNet, NoiseSchedule]:
    model = UNet(cfg.unet()).to(device)
    schedule = NoiseSchedule(cfg.T, cfg.schedule).to(device)
    return model, schedule


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
    region (reproduce.py --precision bf16, ddpm.hardware.precision_region), else 'float32'. Recorded in the checkpoint."""
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
    Started by torchrun, each process trains its slice of every batch (ddpm/distributed.py)."""
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
