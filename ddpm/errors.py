"""One exception for everything a user can fix: the CLIs print its message on one line and exit 2."""
import argparse
import sys


class UserError(Exception):
    """A wrong dataset name, class index, missing or mismatched checkpoint, missing data, ...

    The message says what to do; the command-line tools print it without a traceback.
    """


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


def parse_bool(s: str) -> bool:
    """argparse type for true/false flags (--plateau false, --amp 0)."""
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")
