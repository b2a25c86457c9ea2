"""One line of feedback for each failing test, and nothing in it the student should not read.

A failing test is reported as one line:

    the property of the math that failed      (the message of testkit.expect)
    not implemented yet: ga_loss              (the function still raises its TODO)
    RuntimeError: shapes ... (unlearn/ga.py, line 31)     (an error in the student's code)

instead of a traceback. `Redactor` withholds a message that quotes the grader's files (the hidden
tests, the grader's modules, a reference body): a student's code could read one and raise or print
it. Every message is cut to MAX_CHARS.
"""
import pytest

MAX_CHARS, PRINTED_CHARS, WINDOW = 400, 200, 32
WITHHELD = "(message withheld: it quoted the grader's files)"


class TestTimeout(Exception):
    """Raised inside a test that ran over its time limit (course/conftest.py sets the alarm)."""


def first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else ""


def collapse(text: str) -> str:
    return " ".join(str(text).split())


def describe(error: BaseException) -> str:
    """One line naming an exception raised in the grader's own process: its type and first line."""
    message = first_line(error)
    return f"{type(error).__name__}{': ' + message if message else ''}"


def one_line(excinfo) -> str:
    """The one-line report of a failed test under plain pytest, from pytest's ExceptionInfo."""
    error = excinfo.value
    if isinstance(error, pytest.fail.Exception):         # testkit.expect: the property that failed
        return first_line(error.msg)
    return first_line(error) if type(error).__name__ in ("StudentError", "PartStopped", "TestTimeout") \
        else describe(error)


def cut(text: str, limit: int = MAX_CHARS) -> str:
    text = collapse(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Redactor:
    """Withholds messages that quote any of `paths` (files of the grader) beyond the test's own file."""

    def __init__(self, paths: list, extra_texts: tuple = ()):
        texts = list(extra_texts)
        for path in paths:
            try:
                with open(path, encoding="utf-8") as f:
                    texts.append(f.read())
            except (OSError, UnicodeDecodeError):
                continue
        self.corpus = collapse("\n".join(texts))

    def clean(self, message: str, own_text: str = "") -> str:
        """`message` in one line of at most MAX_CHARS, or WITHHELD if it quotes the grader's files."""
        message = cut(message)
        own = collapse(own_text)
        for start in range(0, max(1, len(message) - WINDOW + 1), 8):
            window = message[start:start + WINDOW]
            if len(window) == WINDOW and window in self.corpus and window not in own:
                return WITHHELD
        return message
