"""Is a removed body rebuildable from a function the student copy keeps? Compare each removed body with
every function (and method) left in the copy.

The measure: the share of the removed body's tokens (names, operators, numbers; strings count as one
token each, comments and docstrings not at all) that a kept function holds in runs of at least
MIN_RUN tokens in the same order (difflib's matching blocks). A run that long is a whole statement
or more, not an idiom; a share above SHARE means a few edits of the kept function give the body
back. Calibrated on this project: DiMRA's body is 0.37 in attack/datafree.py's run and 0.36 in
attack/inversion.py's, 0.17 in the next (pretrain, unlearn); GA's is 0.70 in DiMUM's loss. Such
twins go in course/parts.py TWINS, and the copy leaves them out too.
"""
import ast
import difflib
import io
import os
import textwrap
import tokenize

from course.parts import PARTS, ROOT, removed, twins

MIN_RUN, SHARE = 10, 0.3
SKIPPED_TOKENS = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)


def body_tokens(text: str, func: ast.FunctionDef) -> list[str]:
    """The tokens of a function's body, its docstring left out."""
    body = func.body[1:] if ast.get_docstring(func) is not None else func.body
    if not body:
        return []
    source = textwrap.dedent("".join(text.splitlines(keepends=True)[body[0].lineno - 1:func.end_lineno]))
    try:
        return ["STR" if t.type == tokenize.STRING else t.string
                for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in SKIPPED_TOKENS]
    except (tokenize.TokenError, IndentationError):
        return []


def functions_of(text: str) -> dict:
    """{qualified name: function node} of every function and method of a module."""
    out = {}

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out[f"{prefix}{child.name}"] = child
                walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")
    walk(ast.parse(text), "")
    return out


def share(body: list, other: list, common: bool = True) -> float:
    """The share of `body` found in `other` in runs of at least MIN_RUN tokens (`common`: whether the
    two share any run at all, when the caller knows it already)."""
    if len(body) < MIN_RUN or len(other) < MIN_RUN or not common:
        return 0.0
    blocks = difflib.SequenceMatcher(None, body, other, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks if b.size >= MIN_RUN) / len(body)


def runs(tokens: list) -> set:
    """The runs of MIN_RUN tokens of a token list (two lists share none: nothing to compare)."""
    return {tuple(tokens[i:i + MIN_RUN]) for i in range(len(tokens) - MIN_RUN + 1)}


def kept_functions(files: list, parts: list, root: str) -> dict:
    """{'file:function': tokens} of every function the copy of `parts` keeps with a body."""
    gone = {path: set(names) for path, names in removed(parts).items()}
    for path, names in twins(parts).items():
        gone.setdefault(path, set()).update(names)
    out = {}
    for path in files:
        out |= {f"{path}:{name}": tokens for name, tokens in file_tokens(os.path.join(root, path)).items()
                if name not in gone.get(path, set())}
    return out


_CACHE = {}


def file_tokens(path: str) -> dict:
    """{function: body tokens} of a file (cached while the file is unchanged)."""
    key = (path, os.stat(path).st_mtime_ns)
    if key not in _CACHE:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            _CACHE[key] = {name: body_tokens(text, node) for name, node in functions_of(text).items()}
        except SyntaxError:
            _CACHE[key] = {}
    return _CACHE[key]


def find_twins(parts: list, files: list, root: str = ROOT) -> list[tuple[str, str, float]]:
    """(removed function, kept function, share) for every kept function above SHARE; files: the .py
    files the copy keeps (relative to root)."""
    kept, hits = kept_functions(files, parts, root), []
    kept_runs = {name: runs(tokens) for name, tokens in kept.items()}
    for part in parts:
        for path, name in PARTS[part]:
            with open(os.path.join(root, path), encoding="utf-8") as f:
                text = f.read()
            body = body_tokens(text, functions_of(text)[name])
            body_runs = runs(body)
            for other, tokens in kept.items():
                value = share(body, tokens, bool(body_runs & kept_runs[other]))
                hits += [(f"{path}:{name}", other, round(value, 2))] if value > SHARE else []
    return hits
