"""The grader's wire: length-prefixed JSON frames between the grader and the process that runs a
student's code (course/sandbox.py, course/child.py).

Only plain data crosses it: None, bools, numbers, strings, lists, tuples, dicts with string keys,
and tensors (their raw bytes in base64, a dtype from DTYPES, a shape). Nothing is unpickled, so what
a student's code sends back can never run code in the grader; anything else it returns arrives as
Opaque("its type name"). `special` hooks (course/objects.py) add the test inputs the grader sends.
"""
import base64
import json
import os
import select
import struct
import time

import torch

MAX_FRAME = 32 << 20                   # bytes: a frame announcing more is refused (a protocol error)
MAX_DEPTH = 40                         # nesting a decoded value may have
DTYPES = {str(d).removeprefix("torch."): d for d in (torch.float32, torch.float64, torch.float16, torch.bfloat16,
                                                      torch.int64, torch.int32, torch.int16, torch.int8,
                                                      torch.uint8, torch.bool)}


class WireError(Exception):
    """A frame that is not what the protocol says (garbage, too large, or the other side went away)."""


class Opaque:
    """A value of a type the wire does not carry, by its type's name (e.g. a generator a student returned)."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self):
        return f"<a {self.type_name}>"


def encode(obj, special=None, depth: int = 0):
    """A JSON-ready form of `obj`. `special(obj)` may return the form of an object it knows."""
    if depth > MAX_DEPTH:
        raise WireError("a value nested too deeply to send")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        return {"__t__": "tensor", "dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                "grad": bool(obj.requires_grad), "data": base64.b64encode(raw).decode("ascii")}
    form = special(obj) if special is not None else None
    if form is not None:
        return form
    if isinstance(obj, (list, tuple)):
        items = [encode(x, special, depth + 1) for x in obj]
        return items if isinstance(obj, list) else {"__t__": "tuple", "items": items}
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        return {"__t__": "dict", "items": {k: encode(v, special, depth + 1) for k, v in obj.items()}}
    return {"__t__": "opaque", "type": type(obj).__name__[:60]}


def tensor_of(form: dict) -> torch.Tensor:
    """The tensor a wire form describes, checked: a known dtype and as many bytes as its shape needs."""
    dtype, shape = DTYPES.get(form.get("dtype")), form.get("shape")
    if dtype is None or not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise WireError("a tensor of unknown dtype or shape")
    raw = base64.b64decode(form.get("data", ""), validate=True)
    numel = 1
    for n in shape:
        numel *= n
    if len(raw) != numel * torch.empty((), dtype=dtype).element_size():
        raise WireError("a tensor whose bytes do not match its shape")
    t = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape) if numel else torch.empty(shape, dtype=dtype)
    return t.requires_grad_(True) if form.get("grad") and t.is_floating_point() else t


def decode(form, special=None, depth: int = 0):
    """The value a JSON form stands for (the inverse of encode). `special(kind, form)` builds the
    objects of kinds it knows; an unknown kind is a WireError."""
    if depth > MAX_DEPTH:
        raise WireError("a value nested too deeply")
    if form is None or isinstance(form, (bool, int, float, str)):
        return form
    if isinstance(form, list):
        return [decode(x, special, depth + 1) for x in form]
    if not isinstance(form, dict):
        raise WireError(f"a {type(form).__name__} where a value belongs")
    kind = form.get("__t__")
    if kind == "tensor":
        return tensor_of(form)
    if kind == "tuple":
        return tuple(decode(x, special, depth + 1) for x in form.get("items", []))
    if kind == "dict":
        return {str(k): decode(v, special, depth + 1) for k, v in dict(form.get("items", {})).items()}
    if kind == "opaque":
        return Opaque(str(form.get("type", "object"))[:60])
    if special is not None:
        return special(kind, form, lambda x: decode(x, special, depth + 1))
    raise WireError(f"an unknown kind of value {str(kind)[:30]!r}")


def send(fd: int, message: dict) -> None:
    """Write one frame (message: plain JSON data, e.g. from encode) to the file descriptor `fd`."""
    body = json.dumps(message).encode("utf-8")
    data = struct.pack(">Q", len(body)) + body
    while data:
        data = data[os.write(fd, data):]


def _read_exactly(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not select.select([fd], [], [], wait)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise WireError("the other side closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def receive(fd: int, deadline: float | None = None) -> dict:
    """Read one frame from `fd`; TimeoutError past `deadline` (time.monotonic()), WireError on garbage."""
    (size,) = struct.unpack(">Q", _read_exactly(fd, 8, deadline))
    if size > MAX_FRAME:
        raise WireError(f"a frame of {size} bytes announced: more than the {MAX_FRAME >> 20} MiB allowed")
    try:
        message = json.loads(_read_exactly(fd, size, deadline).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WireError("a frame that is not JSON") from None
    if not isinstance(message, dict):
        raise WireError("a frame that is not a JSON object")
    return message
