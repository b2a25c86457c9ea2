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
# Functions left out of a copy with the part, ungraded, because a student could rebuild the part's
# body from them in a few lines (course/twins.py measures it; tests/test_course_copy.py checks that a
# copy holds no other such twin): the losses are variations of one template, and the other attacks
# share DiMRA's whole skeleton. A twin that is itself a chosen part is removed anyway.
TWINS = {
    "ga": [("unlearn/dimum.py", "dimum_loss"), ("unlearn/esd.py", "esd_loss"), ("unlearn/salun.py", "salun_loss")],
    "esd": [("unlearn/salun.py", "salun_loss")],
    "salun": [("unlearn/esd.py", "esd_loss")],
    "dimum": [("unlearn/ga.py", "ga_loss"), ("unlearn/esd.py", "esd_loss"), ("unlearn/salun.py", "salun_loss")],
    "ddim": [],
    "dimra": [("attack/datafree.py", "run"), ("attack/inversion.py", "run")],
}
PUBLIC_POINTS, HIDDEN_POINTS = 4.0, 6.0
# course/'s files in the student copy (with the public tests of the chosen parts): what the students'
# `make check` runs on. Everything else in course/ is the instructor's.
STUDENT_COURSE_FILES = ["course/__init__.py", "course/parts.py", "course/feedback.py", "course/conftest.py",
                        "course/testkit.py", "course/models.py", "course/objects.py", "course/wire.py",
                        "course/child.py", "course/sandbox.py", "course/runner.py", "course/check.py",
                        "course/exercises.py", "course/public/__init__.py"]
KINDS = ("public", "hidden")


def functions(part: str) -> list[str]:
    """The names of the functions a student writes for `part`."""
    return [name for _, name in PARTS[part]]


def part_of(function: str) -> str:
    """The part a function belongs to, e.g. 'ga' for 'ga_loss'."""
    for part, entries in PARTS.items():
        if function in (name for _, name in entries):
            return part
    raise KeyError(f"{function!r} is not a function of any part: see course/parts.py")


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


def removed(parts: list) -> dict:
    """{file: [functions]} whose bodies become a TODO for `parts` (what the students write)."""
    out = {}
    for part in parts:
        for path, name in PARTS[part]:
            out.setdefault(path, []).append(name)
    return out


def twins(parts: list) -> dict:
    """{file: [functions]} left out as twins of `parts` (TWINS), but not the parts' own functions."""
    own, out = removed(parts), {}
    for part in parts:
        for path, name in TWINS[part]:
            if name not in own.get(path, []) and name not in out.get(path, []):
                out.setdefault(path, []).append(name)
    return out


def points(kind: str) -> float:
    return PUBLIC_POINTS if kind == "public" else HIDDEN_POINTS
