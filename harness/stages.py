"""The stage cache: every stage of a run (an unlearning, an evaluation, an attack) is stored with a key,
the sha256 of everything it was computed from (its settings, the hashes of the models and data it
reads, the judge, the precision). A rerun reuses a stage only when its key still matches, so changing
a setting or replacing a model reruns exactly the stages that depend on it, and after a crash or
Ctrl-C a rerun continues where it stopped.
"""
import hashlib
import json
import os

import torch

from ddpm.errors import UserError
from lab.checkpoint import load_checkpoint, shipped_config, write_json

WEIGHTS = "weights"       # shipped weights: <preset>-ddpm, <preset>-ddpm-retrain<f>, judge-<data>-<px>

# ----------------------------------------------------------------------------- keys of older stages
# What keeps the stages cached before a change valid after it, all in one place.
# Unlearning settings added after stages were cached with them at these values: such a setting enters
# a model's key only when it differs from this value, so the stages computed before it existed (which
# computed exactly that) stay valid.
LATER_SETTINGS = {"p_uncond": 0.0, "mask_guidance": 0.0, "retain_reduction": "mean"}
# DiMRA's stages were cached before the registry named attacks: their key records the settings alone.
NAMELESS_ATTACKS = ("dimra_retain", "dimra_mixed")


def attack_record(name: str, settings: dict) -> dict:
    """What an attack stage's key records of the attack: {'name': name, **its settings (cfg.to_dict())};
    DiMRA's two entries record their settings alone (NAMELESS_ATTACKS), as they always did."""
    return dict(settings) if name in NAMELESS_ATTACKS else {"name": name, **settings}


def fingerprint(inputs: dict) -> str:
    """The key of a stage: sha256 of its inputs (settings and the hashes of what it reads)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def environment(device, precision: str = "float32") -> dict:
    """What 'same seed, same numbers' also depends on: recorded with every stage."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device),
            "precision": "bf16 autocast" if precision == "bf16" else "float32"}


def cached(path: str, inputs: dict, fn, fresh: bool = False, env: dict | None = None):
    """fn()'s result, reused from `path` when that file was computed from the same inputs (and not
    `fresh`); else computed and written to `path` (atomically) with its key, inputs and `env`."""
    key = fingerprint(inputs)
    if os.path.exists(path) and not fresh:
        try:
            with open(path) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            raise UserError(f"cached stage {path} is damaged: delete it, or rerun with --fresh") from None
        if saved.get("key") == key:
            return saved["result"]
    result = fn()
    write_json({"key": key, "inputs": inputs, "environment": env or {}, "result": result}, path)
    return result


def shipped(name: str, config: dict) -> str | None:
    """weights/<name>.safetensors when it exists and was trained with exactly `config`, else None."""
    path = os.path.join(WEIGHTS, name + ".safetensors")
    if not os.path.exists(path):
        return None
    return path if shipped_config(path) == json.loads(json.dumps(config)) else None


def load_into(model, path: str) -> dict:
    """Load a shipped unlearned model (tools/ship_weights.py --unlearned) into `model`; its loss history."""
    saved = load_checkpoint(path, kind="unlearned")
    model.load_state_dict(saved["model"])
    return saved["meta"]["history"]
