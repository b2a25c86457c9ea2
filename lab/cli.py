"""What every command line of the project shares: flags built from a settings dataclass, and errors
printed as one line instead of a traceback.

    p = argparse.ArgumentParser()
    add_flags(p, DiMRAConfig)                 # --steps, --lr, --p-uncond, ... (default None = not given)
    a = p.parse_args()
    cfg = DiMRAConfig(**given(a, DiMRAConfig))   # only the flags typed override the dataclass defaults

A flag left out is None, so the dataclass (or a preset applied before it) keeps the one home of
each default.
"""
import argparse
import dataclasses
import sys
import types

from ddpm.errors import UserError


def parse_bool(s: str) -> bool:
    """argparse type for true/false flags (--plateau false, --amp 0)."""
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def parse_ints(s: str) -> tuple:
    """argparse type for tuples of ints (--ch-mult 1,2,2)."""
    try:
        return tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None


def _base_type(kind):
    """int for `int | None`, and so on."""
    if isinstance(kind, types.UnionType):
        return next(k for k in kind.__args__ if k is not type(None))
    return kind


def add_flags(p: argparse.ArgumentParser, cls, skip=(), help: dict | None = None, **special) -> list[str]:
    """One flag per field of the dataclass `cls` (not in `skip`): --field-name, default None. A bool
    flag alone means true (--smoke), or takes a value (--amp false); a tuple takes 1,2,2. `special`
    maps a field to its own argparse keywords; `help` to its help text. Returns the field names."""
    names = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind = _base_type(f.type)
        kw = ({"nargs": "?", "const": True, "type": parse_bool} if kind is bool else
              {"type": parse_ints} if kind is tuple else {"type": kind if kind in (int, float) else str})
        default = f.default if f.default is not dataclasses.MISSING else None
        text = (help or {}).get(f.name, f"default {default}")
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, help=text,
                       **{**kw, **special.get(f.name, {})})
        names.append(f.name)
    return names


def given(a: argparse.Namespace, cls=None, names=None) -> dict:
    """The flags of `cls`'s fields (or of `names`) that were typed: {field: value}."""
    names = names or [f.name for f in dataclasses.fields(cls)]
    return {n: getattr(a, n) for n in names if getattr(a, n, None) is not None}


def run_cli(body, interrupted: str) -> int:
    """Run a command-line tool's body. A UserError or Ctrl-C becomes one line on stderr and an exit
    code (2, 130) instead of a traceback; `interrupted` says what is left on disk and what to do."""
    try:
        body()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return 130
    return 0
