"""The assignment's documents, generated from the parts, the tests and the reference:

    python -m course.assignment documents OUT [--parts ...]      (make assignment writes them too)

    handout.md     for students (also the copy's course/HANDOUT.md): what to write and submit, what each
                   part is worth, how long it should take, the grader's limits, the public tests' titles
    rubric.md      for the instructor: every test of every part, public and hidden, with its points
    solutions.md   for the instructor: the reference body of every function of the chosen parts
"""
import os

from course.parts import KINDS, PARTS, ROOT, points, test_file
from course.runner import collect
from course.sandbox import Limits
from course.stub import function_source

EFFORT = {"ga": "30 min", "esd": "1 h", "salun": "2 h", "dimum": "30 min", "ddim": "1 h", "dimra": "2 h"}


def part_table(parts: list, limits: Limits) -> list[str]:
    lines = ["| part | what you write | points (public + hidden) | suggested time |", "| --- | --- | --- | --- |"]
    for part in parts:
        names = ", ".join(f"`{name}`" for _, name in PARTS[part])
        files = ", ".join(sorted({f"`{path}`" for path, _ in PARTS[part]}))
        lines.append(f"| `{part}` | {files}: {names} | {points('public'):g} + {points('hidden'):g} | {EFFORT.get(part, '?')} |")
    return lines


def handout(parts: list, limits: Limits = Limits()) -> str:
    total = sum(points(k) for k in KINDS) * len(parts)
    lines = ["# The assignment: handout", "",
             f"Implement the functions below in your copy of the project ({total:g} points in all). Each keeps its "
             "`def` line and docstring; the docstrings, the module docstrings and `docs/design.md` give the equations.", ""]
    lines += part_table(parts, limits)
    lines += ["", "## What to submit", "",
              "Your copy's folder (zipped, or from GitHub), or just the files you edited. Only the functions above are "
              "graded, each put into a clean copy of the project: write everything inside them (imports included).", "",
              "## How it is graded", "",
              f"Each part: {points('public'):g} points for its public tests (`course/public/`, run them with "
              f"`make check PART=<part>`) and {points('hidden'):g} for hidden tests of the same math on other inputs, "
              "each group sharing its points equally. Your code may draw its random numbers (batches, t, eps) in any "
              "order: the tests compare with the formula on the draws your code made.", "",
              f"Your code runs in a process of its own for each part, with at most {limits.part_s:g} s for all of that "
              f"part's tests and {limits.memory_mb} MB of memory. A part that runs over, asks for more, or ends the "
              "process (sys.exit, os._exit) scores 0, with a one-line reason; the other parts are graded as usual.", "",
              "## The public tests", ""]
    for part in parts:
        lines += [f"- `{part}`: " + "; ".join(t.title for t in collect(part, "public"))]
    return "\n".join(lines) + "\n"


def rubric(parts: list) -> str:
    lines = ["# Rubric (instructor only: it names the hidden tests)", ""]
    for part in parts:
        lines += [f"## {part}", "", "| kind | test | points |", "| --- | --- | --- |"]
        for kind in KINDS:
            tests = collect(part, kind)
            lines += [f"| {kind} | {t.title} | {points(kind) / len(tests):.3g} |" for t in tests]
        lines += ["", f"Source: `{test_file(part, 'public')}`, `{test_file(part, 'hidden')}`.", ""]
    return "\n".join(lines)


def solutions(parts: list, root: str = ROOT) -> str:
    lines = ["# Solutions (instructor only): the reference of each part", ""]
    for part in parts:
        lines += [f"## {part}", ""]
        for path, name in PARTS[part]:
            with open(os.path.join(root, path), encoding="utf-8") as f:
                lines += [f"`{path}`:", "", "```python", function_source(f.read(), name).rstrip(), "```", ""]
    return "\n".join(lines)


def write_documents(out: str, parts: list, limits: Limits = Limits(), root: str = ROOT) -> list[str]:
    """Write handout.md, rubric.md and solutions.md to the folder `out`; returns their paths."""
    os.makedirs(out, exist_ok=True)
    written = []
    for name, text in (("handout.md", handout(parts, limits)), ("rubric.md", rubric(parts)),
                       ("solutions.md", solutions(parts, root))):
        written.append(os.path.join(out, name))
        with open(written[-1], "w", encoding="utf-8") as f:
            f.write(text)
    return written
