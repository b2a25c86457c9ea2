"""The DDPM's configuration: one dataclass of every setting of a run (data, UNet, schedule, training,
sampling), checked when it is built, and the model and noise schedule it describes.

A run's config is stored in each of its checkpoints; `lab/presets.py` names the sizes this project
uses (`mnist5k-quick`, `cifar10`, ...) as overrides of these defaults.
"""
from dataclasses import asdict, dataclass

import torch

from .data import check_class
from .errors import UserError, require
from .schedule import NoiseSchedule
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


def build_model(cfg: DDPMConfig, device: torch.device | str = "cpu") -> tuple[UNet, NoiseSchedule]:
    model = UNet(cfg.unet()).to(device)
    schedule = NoiseSchedule(cfg.T, cfg.schedule).to(device)
    return model, schedule
