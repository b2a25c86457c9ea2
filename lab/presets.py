"""Named presets: each a dict of overrides of `DDPMConfig` (ddpm/config.py) for one size of run.

`train.py ddpm --preset NAME [--flag value ...]`: flags override the preset; nothing is changed in
code afterwards: the config a run starts with is the config stored in its checkpoint.
"""
from dataclasses import fields

from ddpm.config import DDPMConfig
from ddpm.errors import UserError


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
