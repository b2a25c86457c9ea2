"""The assignment's parts: which functions a student writes, where their tests live, what a part is worth.

A part is one or more top-level functions of the project, named as (file, function). Its tests are
course/public/test_<part>.py (handed to the students) and course/hidden/test_<part>.py (kept by the
instructor). A part is worth PUBLIC_POINTS + HIDDEN_POINTS; each group of tests shares its points
equally, so a part's points are 4 * (share of public tests passed) + 6 * (share of hidden tests passed).
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))      # the repository (or the copy)

PARTS = {
    "ga": [("unlearn/ga.py", "ga_loss")],
    "esd": [("unlearn/esd.py", "esd_loss")],
    "salun": [("unlearn/salun.py", "salun_loss"), ("unlearn/salun.py", "saliency_mask")],
    "dimum": [("unlearn/dimum.py", "dimum_loss")],
    "ddim": [("ddpm/diffusion.py", "ddim_step")],
    "dimra": [("attack/dimra.py", "dimra")],
}
PUBLIC_POINTS, HIDDEN_POINTS = 4.0, 6.0
KINDS = ("public", "hidden")


def functions(part: str) -> list[str]:
    """The names of the functions a student writes for `part`."""
    return [name for _, name in PARTS[part]]


def files(part: str) -> list[str]:
    """The files that hold `part`'s functions (each once)."""
    return sorted({path for path, _ in PARTS[part]})


def location(function: str) -> tuple[str, str]:
    """(file, module) of a part's function, e.g. ('unlearn/ga.py', 'unlearn.ga') for 'ga_loss'."""
    for entries in PARTS.values():
        for path, name in entries:
            if name == function:
                return path, path[:-len(".py")].replace("/", ".")
    raise KeyError(f"{function!r} is not a function of any part: see course/parts.py")


def test_file(part: str, kind: str) -> str:
    """The tests of `part` of one kind ('public' or 'hidden'), relative to the repository root."""
    return f"course/{kind}/test_{part}.py"


def points(kind: str) -> float:
    return PUBLIC_POINTS if kind == "public" else HIDDEN_POINTS
