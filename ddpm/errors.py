"""One exception for everything a user can fix: the CLIs print its message on one line and exit 2."""


class UserError(Exception):
    """A wrong dataset name, class index, missing or mismatched checkpoint, missing data, ...

    The message says what to do; the command-line tools print it without a traceback.
    """
