"""Unlearning methods: one module a method, and the one mapping from name to module.

Everything else (the `python -m unlearn` flags, reproduce.py's rows, report.py's labels and
colours, the notebook and the tests) iterates over METHODS. To add a method, write
unlearn/<name>.py with LABEL, Settings, setup and its loss (see unlearn/base.py and unlearn/ga.py,
the shortest one), then add one line below. README.md, "Add your own method", walks through it.
"""
from . import dimum, esd, ga, salun

METHODS = {
    "ga": ga,
    "esd": esd,
    "salun": salun,
    "dimum": dimum,
}
