"""Editing top-level functions in Python source text: remove a body (the student copy's TODO), or put
a student's version of a function into a clean file (grading).

Both work on the text, line by line, from the positions Python's own parser (ast) reports, so
everything outside the function stays byte for byte as it was.
"""
import ast

TODO = ("{indent}# TODO(student): implement this function; its docstring and docs/design.md give the equation.\n"
        "{indent}raise NotImplementedError(\"TODO: {name}\")\n")
TWIN = ("{indent}# Left out of the student copy: a few edits of this body would give an assignment's answer away.\n"
        "{indent}raise NotImplementedError(\"left out of the student copy: {name} (not graded)\")\n")


class StubError(Exception):
    """A function cannot be found or edited (printed as one line)."""


def top_level_functions(text: str) -> dict:
    """{name: ast.FunctionDef} of the top-level functions of a Python source text."""
    return {node.name: node for node in ast.parse(text).body if isinstance(node, ast.FunctionDef)}


def body_start(func: ast.FunctionDef, lines: list) -> int:
    """0-based index of the first line the TODO replaces: the line after the docstring, or the first
    statement (with the comment lines just above it) when there is no docstring."""
    first = func.body[0]
    if ast.get_docstring(func) is not None:
        return first.end_lineno
    start = first.lineno - 1
    while start > func.lineno and lines[start - 1].strip().startswith("#"):
        start -= 1
    return start


def stub_source(text: str, names: list, template: str = TODO) -> str:
    """`text` with the body of each top-level function in `names` replaced by a TODO that raises
    NotImplementedError (`template`: TODO, or TWIN for a function left out as a twin of a part);
    the def line(s), the docstring and every other line stay."""
    funcs = top_level_functions(text)
    missing = [name for name in names if name not in funcs]
    if missing:
        raise StubError(f"no top-level function {missing[0]!r} to replace")
    lines = text.splitlines(keepends=True)
    for func in sorted((funcs[name] for name in names), key=lambda f: -f.lineno):   # bottom-up: line numbers stay valid
        start = body_start(func, lines)
        if start < func.lineno:
            raise StubError(f"{func.name}: its body starts on the def line; cannot replace it")
        lines[start:func.end_lineno] = [template.format(indent=" " * func.body[0].col_offset, name=func.name)]
    out = "".join(lines)
    ast.parse(out)                                       # the result must still be valid Python
    return out


def function_span(func: ast.FunctionDef) -> tuple[int, int]:
    """(first, end) 0-based line indices of a function, its decorators included."""
    first = min([func.lineno] + [d.lineno for d in func.decorator_list]) - 1
    return first, func.end_lineno


def stub_file(text: str, path: str, parts: list) -> str:
    """A project file's text with the TODOs of `parts` and the bodies of their twins left out."""
    from course.parts import removed, twins
    text = stub_source(text, removed(parts)[path]) if path in removed(parts) else text
    return stub_source(text, twins(parts)[path], TWIN) if path in twins(parts) else text


def function_source(text: str, name: str) -> str | None:
    """The source of the top-level function `name` in `text` (decorators included), or None."""
    func = top_level_functions(text).get(name)
    if func is None:
        return None
    first, end = function_span(func)
    return "".join(text.splitlines(keepends=True)[first:end])


def replace_function(text: str, name: str, new_source: str) -> str:
    """`text` with the top-level function `name` replaced by `new_source` (a whole top-level def)."""
    func = top_level_functions(text).get(name)
    if func is None:
        raise StubError(f"no top-level function {name!r} to replace")
    first, end = function_span(func)
    lines = text.splitlines(keepends=True)
    lines[first:end] = [new_source if new_source.endswith("\n") else new_source + "\n"]
    out = "".join(lines)
    ast.parse(out)
    return out
