"""Unlearning methods: one module a method, and METHODS, the one mapping from name to module.

Everything else (the `python -m unlearn` flags, reproduce.py's rows, the tables' labels and colours,
the notebook and the tests) iterates over METHODS.

A method is a module of this package that defines
    LABEL     its name in tables and figures ("GA"); optionally COLOR, a matplotlib colour
    Settings  a dataclass deriving from unlearn.base.UnlearnSettings: the method's defaults, the ONLY
              place those numbers live (`steps` and `lr` have none in the base), and any setting of
              its own; every field is a flag of `python -m unlearn --method <name>`
    setup(model, schedule, data, settings) -> unlearn.base.Plan
              what the shared loop (`ddpm.train_loop.fit`) needs: a loss closure that draws its own
              batches (data.forget: D_f, data.retain: D_r) and, optionally, a gradient mask
and optionally
    IGNORES   the shared settings (fields of UnlearnSettings) it has no use for, e.g. ("alpha",
              "p_uncond"): they are no flags of its command line, make_settings refuses them, and the
              wiring tests do not ask them to change its run.
By convention its loss is a function `<name>_loss` whose docstring holds the equation. To add a
method: its file here, then one import and one entry below (README.md, "Add your own method").
"""
from . import dimum, esd, ga, salun

METHODS = {
    "ga": ga,
    "esd": esd,
    "salun": salun,
    "dimum": dimum,
}
