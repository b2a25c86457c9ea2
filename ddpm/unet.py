"""A class-conditional UNet eps_theta(x_t, t, c) that predicts the noise added to an image.

The shape follows Ho et al. 2020 (itself PixelCNN++-like): a stack of residual blocks at
decreasing resolutions, skip connections to the matching up-sampling stack, self-attention at
chosen resolutions and in the middle. Conditioning enters every residual block as one vector

    emb = MLP(sinusoidal(t)) + E[c],      c in {0, ..., K-1} or the null class K

where E is a learned class embedding with K + 1 rows; row K is the "no label" used for
classifier-free guidance (Ho & Salimans 2022).
"""
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


@dataclass
class UNetConfig:
    image_size: int = 16            # 16, 28 or 32 (must halve cleanly len(ch_mult) - 1 times)
    in_channels: int = 1            # 1 (MNIST) or 3 (CIFAR-10)
    num_classes: int = 10           # K; the model has K + 1 class embeddings (K = null)
    ch: int = 32                    # base width
    ch_mult: tuple = (1, 2, 2)      # width multiplier of each resolution level
    num_res_blocks: int = 1         # residual blocks per level (down path; up path has one more)
    attn_resolutions: tuple = ()    # resolutions (in px) that get self-attention
    mid_attn: bool = True           # self-attention in the middle block
    dropout: float = 0.0
    groups: int = 8                 # GroupNorm groups

    def __post_init__(self):
        self.ch_mult, self.attn_resolutions = tuple(self.ch_mult), tuple(self.attn_resolutions)
        if self.image_size % 2 ** (len(self.ch_mult) - 1):
            raise ValueError(f"image_size {self.image_size} cannot be halved {len(self.ch_mult) - 1} "
                             f"times: use fewer ch_mult levels")
        if any(self.ch * m % self.groups for m in self.ch_mult):
            raise ValueError(f"every level width (ch * mult) must be divisible by groups={self.groups}")

    def to_dict(self) -> dict:
        return asdict(self)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer sinusoids: emb[2i] = sin(t / max_period^(2i/dim)), emb[2i+1] = cos(...)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """h = conv(drop(act(norm(conv(act(norm(x))) + W emb)))) ;  out = skip(x) + h"""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over the H*W positions: out = x + W_o softmax(QK^T / sqrt(d)) V."""

    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        q, k, v = rearrange(self.qkv(self.norm(x)), "b (three c) h w -> three b (h w) c", three=3)
        a = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(rearrange(a, "b (h w) c -> b c h w", h=h, w=w))


class UNet(nn.Module):
    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.config = cfg
        ch, emb_dim, g = cfg.ch, 4 * cfg.ch, cfg.groups
        self.null_class = cfg.num_classes
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(cfg.num_classes + 1, emb_dim)
        self.conv_in = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)

        # Down path: remember every output's width, the up path concatenates them back.
        self.down, skips, c, res = nn.ModuleList(), [ch], ch, cfg.image_size
        for level, mult in enumerate(cfg.ch_mult):
            for _ in range(cfg.num_res_blocks):
                self.down.append(self._block(c, ch * mult, res))
                c = ch * mult
                skips.append(c)
            if level < len(cfg.ch_mult) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))   # downsample by 2
                skips.append(c)
                res //= 2

        self.mid1 = ResBlock(c, c, emb_dim, cfg.dropout, g)
        self.mid_attn = Attention(c, g) if cfg.mid_attn else nn.Identity()
        self.mid2 = ResBlock(c, c, emb_dim, cfg.dropout, g)

        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.ch_mult))):
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(self._block(c + skips.pop(), ch * mult, res))
                c = ch * mult
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(c, c, 3, padding=1)))
                res *= 2

        self.norm_out = nn.GroupNorm(g, c)
        self.conv_out = nn.Conv2d(c, cfg.in_channels, 3, padding=1)

    def _block(self, c_in: int, c_out: int, res: int) -> nn.Module:
        """A residual block, followed by attention if this resolution asks for it."""
        cfg = self.config
        block = ResBlock(c_in, c_out, 4 * cfg.ch, cfg.dropout, cfg.groups)
        if res in cfg.attn_resolutions:
            block.attn = Attention(c_out, cfg.groups)
        return block

    @staticmethod
    def _run(layer: nn.Module, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if isinstance(layer, ResBlock):
            h = layer(h, emb)
            return layer.attn(h) if hasattr(layer, "attn") else h
        return layer(h)          # a down- or up-sampling layer

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x: [B, C, H, W] noisy images, t: [B] timesteps in 0..T-1, c: [B] labels (K = null)."""
        emb = self.time_mlp(timestep_embedding(t, self.config.ch)) + self.class_emb(c)
        h = self.conv_in(x)
        hs = [h]
        for layer in self.down:
            h = self._run(layer, h, emb)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = torch.cat([h, hs.pop()], dim=1)
            h = self._run(layer, h, emb)
        return self.conv_out(F.silu(self.norm_out(h)))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
