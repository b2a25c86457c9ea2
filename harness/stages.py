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

from ddpm.checkpoint import shipped_config, write_json
from ddpm.errors import UserError

WEIGHTS = "weights"       # shipped weights: <preset>-ddpm, <preset>-ddpm-retrain<f>, judge-<data>-<px>


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
