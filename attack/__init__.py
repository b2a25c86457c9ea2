"""Attacks on an unlearned model: one module an attack, and the one mapping from name to module.

Each attack tests the weights from another side (attack/base.py says what a module holds and what
`run` returns); attack/run.py gives its settings and runs it by name, and `python -m attack --name`
is its command line. To add an attack, write attack/<name>.py with LABEL, THREAT, Config and run
(attack/datafree.py is a short one), then add one line below.
"""
from . import datafree, dimra_mixed, dimra_retain, inversion

ATTACKS = {
    "dimra_retain": dimra_retain,
    "dimra_mixed": dimra_mixed,
    "inversion": inversion,
    "datafree": datafree,
}
