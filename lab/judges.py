"""The judge's files: where each command finds it, training it to a checkpoint, loading it back, and
refusing a judge of another data set or image size. The judge itself is metrics/judge.py.
"""
import os
from dataclasses import asdict

import torch

from ddpm.errors import UserError
from metrics.judge import Judge, JudgeConfig, fit_judge

from .checkpoint import check_writable, load_checkpoint, save_checkpoint


def default_judge_path(cfg: JudgeConfig, root: str = "runs") -> str:
    """Where every entry point (train.py judge, reproduce.py, python -m attack) keeps the judge of a
    data set and image size."""
    return os.path.join(root, f"judge-{cfg.dataset}-{cfg.image_size}px.pt")


def find_judge(cfg: JudgeConfig) -> str:
    """The judge a command uses by default: the one trained here (runs/), else the shipped one
    (weights/judge-<dataset>-<size>px.safetensors), else the runs/ path (whose absence is then reported)."""
    trained = default_judge_path(cfg)
    shipped = os.path.join("weights", os.path.basename(trained).replace(".pt", ".safetensors"))
    return shipped if not os.path.exists(trained) and os.path.exists(shipped) else trained


def train_judge(cfg: JudgeConfig, out: str, device: torch.device | str = "cpu", progress: bool = True) -> float:
    """Train the judge of `cfg` (metrics.judge.fit_judge), save it to `out`; its accuracy on the test split."""
    check_writable(out)
    judge, acc = fit_judge(cfg, device, progress)
    save_checkpoint({"kind": "judge", "config": asdict(cfg), "in_channels": judge.in_channels,
                     "model": judge.state_dict(), "test_acc": acc}, out)
    return acc


def load_judge(path: str, device: torch.device | str = "cpu") -> tuple[Judge, dict]:
    ckpt = load_checkpoint(path, kind="judge", hint="train it with `python train.py judge --dataset ...`")
    cfg = JudgeConfig(**ckpt["config"])
    judge = Judge(ckpt["in_channels"], 10, cfg.width, cfg.feature_dim)
    try:
        judge.load_state_dict(ckpt["model"])
    except RuntimeError:
        raise UserError(f"judge checkpoint {path} is damaged: delete it and rerun `train.py judge`") from None
    return judge.to(device).eval(), ckpt


def check_judge_matches(judge_ckpt: dict, dataset: str, image_size: int, path: str) -> None:
    c = judge_ckpt["config"]
    if c["dataset"] != dataset or c["image_size"] != image_size:
        raise UserError(f"judge {path} was trained on {c['dataset']} at {c['image_size']} px, the DDPM uses "
                        f"{dataset} at {image_size} px: train a matching judge with `train.py judge "
                        f"--dataset {dataset} --image-size {image_size}`")
