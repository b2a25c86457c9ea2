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
of its JSON strings: sources and saved outputs; for an archive, .zip, .whl, .tar, .tar.gz or .tgz, in
any of its members, archives within it included), or if it names a hidden test (test_<name> of
course/hidden/), or if it is an archive holding a file of course/hidden/. Other files that are not
UTF-8 text (weights, images) are skipped. This file quotes no reference line itself; it reads them
from the repository.
"""
import io
import json
import os
import re
import tarfile
import tokenize
import zipfile

from course.parts import PARTS, ROOT, test_file, twins
from course.stub import body_start, function_span, top_level_functions

ARCHIVES = (".zip", ".whl", ".tar", ".tar.gz", ".tgz")
MAX_MEMBER = 16 << 20

MIN_CHARS = 25
LIBRARY_PACKAGES = ("ddpm", "unlearn", "attack", "metrics", "lab")
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
    removed = {path: [name for p in parts for f, name in PARTS[p] if f == path] + twins(parts).get(path, [])
               for path in package_files(root)}
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


def notebook_strings(text: str) -> str:
    """All the JSON strings of a notebook: its cells' sources and saved outputs."""
    strings = []

    def walk(node):
        if isinstance(node, str):
            strings.append(node)
        elif isinstance(node, list):
            if all(isinstance(x, str) for x in node):
                strings.append("".join(node))        # a cell's source or an output's text, line by line
            else:
                for x in node:
                    walk(x)
        elif isinstance(node, dict):
            for x in node.values():
                walk(x)
    walk(json.loads(text))
    return "\n".join(strings)


def archive_members(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """(member name, bytes) of a .zip / .whl / .tar(.gz) archive; [] if it cannot be read."""
    try:
        if name.endswith((".zip", ".whl")):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                return [(i.filename, z.read(i)) for i in z.infolist() if not i.is_dir() and i.file_size <= MAX_MEMBER]
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            return [(m.name, t.extractfile(m).read()) for m in t.getmembers() if m.isfile() and m.size <= MAX_MEMBER]
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError):
        return []


def texts_of(name: str, data: bytes, depth: int = 0) -> list[tuple[str, str]]:
    """(where, searchable text) of a file given its bytes: its text, a notebook's strings, or, for an
    archive, the member names and each member's texts (archives within archives too)."""
    if name.endswith(ARCHIVES) and depth < 3:
        members = archive_members(name, data)
        out = [(name, "\n".join(m for m, _ in members))]
        for member, content in members:
            out += [(f"{name}!{where}", text) for where, text in texts_of(member, content, depth + 1)]
        return out
    try:
        text = data.decode("utf-8")
        return [(name, collapse(notebook_strings(text) if name.endswith(".ipynb") else text))]
    except (UnicodeDecodeError, ValueError):
        return []


def hidden_names(root: str = ROOT) -> list[str]:
    """The names of the hidden tests of every part."""
    names = set()
    for part in PARTS:
        try:
            with open(os.path.join(root, test_file(part, "hidden")), encoding="utf-8") as f:
                names |= set(re.findall(r"^def (test_\w+)", f.read(), re.M))
        except OSError:
            continue
    return sorted(names)


def find_leaks(copy_dir: str, parts: list, root: str = ROOT) -> list[tuple[str, str, str]]:
    """(file of the copy, what was found, where it comes from) for every telling line of a removed
    body, every hidden test's name, and every file of course/hidden/ inside an archive."""
    lines, hits = telling_lines(parts, root), []
    names = re.compile(r"\b(" + "|".join(hidden_names(root)) + r")\b") if hidden_names(root) else None
    for folder, dirs, files in os.walk(copy_dir):
        dirs[:] = sorted(d for d in dirs if d not in (".git", ".venv", "__pycache__"))
        for name in sorted(files):
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found = texts_of(os.path.relpath(path, copy_dir), f.read())
            for where, text in found:
                hits += [(where, line, source) for line, source in lines.items() if line in text]
                hits += [(where, n, "a hidden test's name") for n in sorted(set(names.findall(text)))] if names else []
                if "!" not in where and where.endswith(ARCHIVES) and "course/hidden/" in text:
                    hits.append((where, "course/hidden/", "an archive holding the hidden tests"))
    return hits
