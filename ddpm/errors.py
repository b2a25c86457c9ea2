"""One exception for everything a user can fix: the command lines print its message on one line and
exit 2 (lab/cli.py). `require` is the one validation helper of the settings dataclasses."""


class UserError(Exception):
    """A wrong dataset name, class index, missing or mismatched checkpoint, missing data, ...

    The message says what to do; the command-line tools print it without a traceback.
    """


def require(*checks: tuple) -> None:
    """Raise a UserError with the message of the first (ok, message) pair whose ok is false: a
    settings dataclass's __post_init__ lists its rules as such pairs, in the order a user reads them."""
    for ok, message in checks:
        if not ok:
            raise UserError(message)
