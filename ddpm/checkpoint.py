"""Checkpoints: one dict of tensors and plain Python values, written atomically.

A checkpoint holds everything to resume or to check a run: {'kind', 'config', 'model', 'ema',
'optimizer', 'step', 'rng', 'history', ...}. It loads with torch.load(weights_only=True), so
opening one never runs code. It is written to '<path>.tmp' and then renamed over <path>: a run
killed while saving leaves the previous checkpoint intact, never a half-written one.
"""
import os

import torch

from .errors import UserError


def save_checkpoint(obj: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)        # atomic on POSIX: readers see the old file or the new one


def load_checkpoint(path: str, kind: str | None = None, hint: str = "") -> dict:
    """Load a checkpoint; any problem is a one-line UserError saying what to do."""
    if not os.path.exists(path):
        raise UserError(f"checkpoint {path} not found{': ' + hint if hint else ''}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"checkpoint {path} is damaged or not a checkpoint of this project "
                        f"({type(e).__name__}): delete it and rerun the step that writes it") from None
    if not isinstance(ckpt, dict) or "kind" not in ckpt or "config" not in ckpt:
        raise UserError(f"{path} is not a checkpoint of this project: pass a file written by train.py, "
                        f"unlearn or attack")
    if kind is not None and ckpt["kind"] != kind:
        raise UserError(f"{path} is a {ckpt['kind']!r} checkpoint, this command needs a {kind!r} one")
    return ckpt


def check_same_config(path: str, saved: dict, current: dict, ignore: tuple = ()) -> None:
    """Resuming is only allowed with the config the checkpoint was written with."""
    for key in sorted(set(saved) | set(current)):
        if key in ignore:
            continue
        a, b = saved.get(key), current.get(key)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            a, b = list(a), list(b)
        if a != b:
            raise UserError(f"checkpoint {path} was written with {key}={a!r}, this run asks for {b!r}: "
                            f"pass the same settings to resume, or choose another --out")
