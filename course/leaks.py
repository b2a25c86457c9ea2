"""Does a student copy give a removed body away? Search every file of it for every telling line.

The lines: each line of a removed function's body (what the TODO replaced), without its trailing
comment and with its whitespace collapsed. A line counts as telling unless
  - it is shorter than MIN_CHARS (25) characters: `return loss`, `if alpha > 0:`, lone brackets,
    `masks, start = {}, 0` say nothing a student would not write anyway;
  - it occurs in the library code the copy keeps anyway (the .py files of LIBRARY_PACKAGES, without
    the removed functions): `device = next(model.parameters()).device` is an idiom of the project,
    not a part of the answer (tools and scripts do not count: one of them could quote a body);
  - it is in IDIOMS, written out below with the reason why it gives nothing away.
A file of the copy leaks if a telling line occurs in it (whitespace collapsed; for a notebook, in any
of its JSON strings: sources and saved outputs). Files that are not UTF-8 text (weights, images) are
skipped. This file quotes no reference line itself; it reads them from the repository.
"""
import io
import json
import os
import tokenize

from course.parts import PARTS, ROOT
from course.stub import body_start, function_span, top_level_functions

MIN_CHARS = 25
LIBRARY_PACKAGES = ("ddpm", "unlearn", "attack", "metrics")
IDIOMS = {
    # README.md's "Add your own method" and tests/test_reproduce.py noise a batch of D_f this way; the
    # docstrings of esd_loss and salun_loss say "x_t noised from x_f" and noised() is the helper for it
    "t, _, x_t = noised(schedule, x_f)":
        "the README's example of noising a batch, and what the docstrings say in words",
}


def collapse(text: str) -> str:
    return " ".join(text.split())


def code_lines(text: str, first: int, end: int) -> list[str]:
    """Lines first..end-1 (0-based) of a Python text, each without its trailing comment, collapsed;
    a line that is only a comment keeps the comment."""
    comments = {}                                        # 0-based line -> column where its comment starts
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0] - 1] = tok.start[1]
    out = []
    for i, line in enumerate(text.splitlines()[first:end], start=first):
        code = collapse(line[:comments[i]]) if i in comments else collapse(line)
        out.append(code or collapse(line))
    return out


def package_files(root: str) -> list[str]:
    """The .py files of LIBRARY_PACKAGES."""
    found = []
    for top in LIBRARY_PACKAGES:
        for folder, _, names in os.walk(os.path.join(root, top)):
            found += [os.path.relpath(os.path.join(folder, n), root) for n in names if n.endswith(".py")]
    return sorted(found)


def library_text(root: str, parts: list) -> str:
    """The packages' code without the removed functions, collapsed: what the copy keeps anyway."""
    removed = {path: [name for p in parts for f, name in PARTS[p] if f == path] for path in package_files(root)}
    chunks = []
    for path, names in removed.items():
        with open(os.path.join(root, path), encoding="utf-8") as f:
            lines = f.read().splitlines(keepends=True)
        funcs = top_level_functions("".join(lines))
        for first, end in sorted((function_span(funcs[n]) for n in names if n in funcs), reverse=True):
            del lines[first:end]
        chunks.append("".join(lines))
    return collapse("\n".join(chunks))


def body_lines(part: str, root: str = ROOT) -> list[tuple[str, str]]:
    """(line, 'file:function') for every line of the bodies of `part`'s functions (what the TODO replaces)."""
    out = []
    for path, name in PARTS[part]:
        with open(os.path.join(root, path), encoding="utf-8") as f:
            text = f.read()
        func = top_level_functions(text)[name]
        out += [(line, f"{path}:{name}") for line in code_lines(text, body_start(func, text.splitlines()), func.end_lineno)]
    return out


def telling_lines(parts: list, root: str = ROOT) -> dict:
    """{telling line: 'file:function'} for the bodies the copy of `parts` removes."""
    library = library_text(root, parts)
    return {line: source for part in parts for line, source in body_lines(part, root)
            if len(line) >= MIN_CHARS and line not in IDIOMS and line not in library}


def searchable_text(path: str) -> str | None:
    """A file's text for the search (a notebook: all its JSON strings); None if it is not UTF-8 text."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (UnicodeDecodeError, OSError):
        return None
    if path.endswith(".ipynb"):
        strings = []

        def walk(node):
            if isinstance(node, str):
                strings.append(node)
            elif isinstance(node, list):
                if all(isinstance(x, str) for x in node):
                    strings.append("".join(node))    # a cell's source or an output's text, line by line
                else:
                    for x in node:
                        walk(x)
            elif isinstance(node, dict):
                for x in node.values():
                    walk(x)
        walk(json.loads(text))
        text = "\n".join(strings)
    return collapse(text)


def find_leaks(copy_dir: str, parts: list, root: str = ROOT) -> list[tuple[str, str, str]]:
    """(file of the copy, telling line, 'file:function' it comes from) for every telling line found."""
    lines, hits = telling_lines(parts, root), []
    for folder, dirs, names in os.walk(copy_dir):
        dirs[:] = sorted(d for d in dirs if d not in (".git", ".venv", "__pycache__"))
        for name in sorted(names):
            path = os.path.join(folder, name)
            text = searchable_text(path)
            if text is not None:
                hits += [(os.path.relpath(path, copy_dir), line, source) for line, source in lines.items() if line in text]
    return hits
