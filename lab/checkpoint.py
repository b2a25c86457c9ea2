"""Checkpoints: one dict of tensors and plain Python values, written atomically; and shipped weights.

A checkpoint holds everything to resume or to check a run: {'kind', 'config', 'model', 'ema',
'optimizer', 'step', 'rng', 'history', ...}. It loads with torch.load(weights_only=True), so
opening one never runs code. It is written to a temporary file of its own (unique per process, so
two runs never collide) and then renamed over <path>: a run killed while saving leaves the
previous checkpoint intact, never a half-written one.

Shipped weights (weights/<preset>/*.safetensors, committed to the repository) hold the weights
only, in the safetensors format (no pickle, the field's format for sharing weights), with a JSON
file beside each: its kind, config, the command and commit that trained it, the file's sha256 and
its measured quality. `load_checkpoint` reads them like a checkpoint, after checking the hash.
"""
import hashlib
import json
import os
import tempfile

import torch

from ddpm.errors import UserError


def check_writable(path: str) -> None:
    """Refuse, before any work, an output path that cannot be written (its folder cannot be made,
    is read-only, or the path is a folder)."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"cannot write {path}: it is a folder; pass a file name")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror or type(e).__name__}: {e.filename or folder}); "
                        f"choose another output path or fix the folder's permissions") from None


def atomic_write(path: str, write) -> None:
    """write(file_object) into a unique temporary file beside `path`, then rename it over `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)      # mkstemp makes the file private; a checkpoint is an ordinary file
        os.replace(tmp, path)     # atomic on POSIX: readers see the old file or the new one
    except OSError as e:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        raise UserError(f"could not write {path} ({e.strerror or type(e).__name__}): free disk space or "
                        f"fix the folder's permissions, then rerun; an earlier {os.path.basename(path)} "
                        f"is intact") from None


def save_checkpoint(obj: dict, path: str) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))


def write_json(obj, path: str) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=1).encode()))


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_shipped(state: dict, meta: dict, path: str) -> dict:
    """Write `state` to path (.safetensors) and meta + its sha256 to the .json beside it."""
    from safetensors.torch import save_file
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".partial"
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    meta = {**meta, "file": os.path.basename(path), "sha256": file_sha256(path)}
    write_json(meta, sidecar(path))
    return meta


def sidecar(path: str) -> str:
    return os.path.splitext(path)[0] + ".json"


def shipped_config(path: str) -> dict | None:
    """The config a shipped weights file was trained with (None if its description is unreadable)."""
    try:
        with open(sidecar(path)) as f:
            return json.load(f)["config"]
    except (OSError, ValueError, KeyError):
        return None


def load_shipped(path: str) -> dict:
    """A shipped .safetensors file as a checkpoint dict {'kind', 'config', 'model', 'ema': None, 'meta'}."""
    from safetensors.torch import load_file
    try:
        with open(sidecar(path)) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        raise UserError(f"{sidecar(path)}, the description of {path}, is missing or damaged: "
                        f"restore it with git checkout, or retrain with --from-scratch") from None
    if file_sha256(path) != meta.get("sha256"):
        raise UserError(f"{path} does not match the sha256 in {sidecar(path)}: it is damaged or was "
                        f"replaced; restore it with git checkout, or retrain with --from-scratch")
    return {"kind": meta["kind"], "config": meta["config"], "model": load_file(path), "ema": None, "meta": meta,
            **meta.get("extra", {})}


def load_checkpoint(path: str, kind: str | None = None, hint: str = "") -> dict:
    """Load a checkpoint (.pt) or shipped weights (.safetensors); any problem is a one-line UserError
    saying what to do."""
    if not os.path.exists(path):
        raise UserError(f"checkpoint {path} not found{': ' + hint if hint else ''}")
    if path.endswith(".safetensors"):
        ckpt = load_shipped(path)
        if kind is not None and ckpt["kind"] != kind:
            raise UserError(f"{path} holds a {ckpt['kind']!r} model, this command needs a {kind!r} one")
        return ckpt
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


def weights_hash(state: dict) -> str:
    """sha256 of a state dict's names, dtypes, shapes and values: the identity of a set of weights,
    whatever file format holds them (a .pt checkpoint or a shipped .safetensors file)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
