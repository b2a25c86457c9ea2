"""No number a file does not hold: every number README.md, docs/results.md and the results folders'
READMEs state is checked against the committed file it cites (tools/numbers.py: its rules), or is
in the allow-list below with the reason it needs no file."""
import glob
import os

import pytest

from tools import numbers
from tools.numbers import ROOT, Number, Pool, check, pool_of_json, pool_of_text

DOCS = ["README.md", "docs/results.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "results", "*", "README.md")))

# Where the code's defaults live: a setting the prose states must be one of their numbers.
CODE_DEFAULTS = ("ddpm/config.py", "lab/presets.py", "unlearn/base.py", "unlearn/ga.py", "unlearn/esd.py", "unlearn/salun.py",
                 "unlearn/dimum.py", "attack/base.py", "attack/dimra.py", "metrics/evaluate.py",
                 "metrics/verdict.py", "harness/settings.py")

# The allow-list: (pattern, reason, files). {n} stands for a number; the pattern must cover it in its
# sentence. An entry that names files allows only the numbers those files hold.
ALLOW = [
    (r"(?:[Dd]igits?|[Cc]lass(?:es)?|[Ss]eeds?|[Ss]teps?|[Ii]ssue|label)\s+\**{n}\**"
     r"(?:(?:,\s*|,? and |,? or |\s*-\s*|–)\**{n}\**)*",
     "a name, not a quantity: a digit or forget class, a seed, a point of the attack curve, an issue", ()),
    (r"{n}(?:-| )(?:CPU )?cores?|{n}(?:-| )threads?",
     "the machine every run used (2 CPU cores) and its threads: each table's Environment line", ()),
    (r"(?:Python|Zen|arXiv) {n}", "a version or a product's name", ()),
    (r"{n}[- ]px|{n} (?:attack )?steps|steps of {n}|lr {n}|batch {n}|alpha (?:= )?{n}|w = {n}|ch {n}"
     r"|attention at {n}|{n} residual",
     "a setting (image size, step budget, learning rate, batch, retain weight, guidance, width): "
     "checked against the code's defaults instead", CODE_DEFAULTS),
    (r"forget_acc (?:≤|<=) 0\.10|retain_acc (?:≥|>=) 0\.85",
     "the floors each method's budget was tuned to meet (tools/tune.py): a criterion, not a measurement", ()),
    (r"19\.2 min\s+wall clock|14\.4 min of CPU|\*\*32\.3 min\*\*|\*\*34\.7 min of CPU\*\*|17-18 min\s+on two idle",
     "first-hand: `make demo` timed by /usr/bin/time; the demo folders' READMEs are that record", ()),
]


@pytest.mark.parametrize("doc", DOCS)
def test_every_number_is_held_by_the_file_it_cites(doc):
    problems = check(doc, ALLOW)
    assert not problems, "numbers no cited file holds (cite the file, fix the number, or allow it here):\n" \
        + "\n".join(problems)


@pytest.mark.parametrize("entry", ALLOW, ids=lambda entry: entry[1][:30])
def test_every_allow_list_entry_is_needed(entry):
    rest = [e for e in ALLOW if e is not entry]
    assert any(check(doc, rest) for doc in DOCS), f"no number needs {entry[1]!r}: remove it from ALLOW"
    assert all(os.path.exists(os.path.join(ROOT, f)) for f in entry[2]), f"a file of {entry[1]!r} moved"


@pytest.mark.parametrize("doc, old, new", [
    ("docs/results.md", "kNN **0.92 ± 0.08**", "kNN **0.88 ± 0.08**"),   # the table has 0.88 ± 0.05, not this
    ("docs/results.md", "cFID 1.4 ± 0.1 (SalUn)", "cFID 1.3 ± 0.1 (SalUn)"),  # 1.3 ± 0.1 is another row's
    ("docs/results.md", "| GA | 0.16 ± 0.10 (0.92", "| GA | 0.17 ± 0.10 (0.92"),     # a table copied from a file
    ("docs/results.md", "Retrain 0.30-0.64", "Retrain 0.30-0.67"),
    ("README.md", "4.1 GB of the 6.1 GB", "4.4 GB of the 6.1 GB"),     # docs/running.md measured 4.1 GB
    ("results/mnist5k-quick-bf16/README.md", "0.92 ± 0.08", "0.90 ± 0.08"),
])
def test_a_number_that_differs_from_its_file_fails(doc, old, new):
    with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
        text = f.read()
    assert text.count(old) == 1, f"{doc} no longer says {old!r}: pick another number to change"
    changed = next(n for n, m in zip(numbers.numbers(new), numbers.numbers(old)) if n.text != m.text)
    problems = check(doc, ALLOW, text=text.replace(old, new))
    assert any(f"'{changed.text}" in p for p in problems), problems


def test_a_file_value_holds_the_number_it_rounds_to():
    n = numbers.numbers("0.92 and 98.8 % and 1e-4 and 2.13x and -0.04")
    assert [x.value for x in n] == [0.92, 98.8, 1e-4, 2.13, -0.04] and n[1].suffix == "%" and n[3].suffix == "x"
    pool = Pool(singles=[0.9167, 0.988, 0.0001, -0.035])
    assert pool.holds(n[0]) and not pool.holds(numbers.numbers("0.91")[0])
    assert pool.holds(n[1]) and pool.holds(n[2]) and pool.holds(n[4])
    assert not pool.holds(numbers.numbers("+0.04")[0])           # a sign written is a sign checked


def test_pairs_and_intervals_are_held_only_as_a_whole():
    pool = pool_of_text("| GA | 0.92 ± 0.08 | 0.88 ± 0.05 | +0.32 [+0.18, +0.43] |")
    text = "kNN 0.88 ± 0.08, effect +0.32 [+0.18, +0.43]"
    groups = numbers.groups(text, numbers.numbers(text))
    assert [len(g) for g in groups] == [2, 3]
    assert not pool.holds_group(groups[0]) and pool.holds_group(groups[1])


def test_a_json_file_holds_its_leaves_and_the_mean_and_sd_over_seeds():
    pool = pool_of_json({"rows": {"ga": {"0": {"cfid": 7.745}, "1": {"cfid": 5.669}, "2": {"cfid": 4.212}}},
                         "wall_seconds": 2975.99})
    assert pool.holds_group(numbers.numbers("5.9 ± 1.8"))
    assert not pool.holds_group(numbers.numbers("6.5 ± 1.3"))
    assert numbers._held(pool, numbers.numbers("49.6 min"), "49.6 min")      # minutes from seconds
    assert not numbers._held(pool, numbers.numbers("49.8 min"), "49.8 min")


def test_a_ratio_is_held_when_the_prose_gives_both_values():
    for text, ok in [("1.27x slower: 235.3 ms against 185.7 ms", True), ("1.5x: 235.3 ms against 185.7 ms", False),
                     ("235.3 ms against 185.7 ms, 1.27x", True), ("1.27x, then 235.3 ms, 9 and 185.7 ms", False),
                     ("Zen 4 | bf16 (1.5x faster, 2.7x", False)]:
        nums = numbers.numbers(text)
        ratio = next(n for n in nums if n.suffix == "x")
        assert numbers._a_ratio(ratio, nums, [n for n in nums if n is not ratio], text) == ok, text


def test_a_setting_is_allowed_only_if_the_code_holds_it():
    text = "GA runs 130 steps at lr 1e-5; the attack 299 steps"
    found = {n.text: numbers.allowed(text, n, ALLOW) for n in numbers.numbers(text)}
    assert found["130"] and found["1e-5"] and found["299"] is None


def test_a_number_next_to_a_row_name_must_be_in_that_row():
    pool = pool_of_text("| model | cFID |\n| --- | --- |\n| Pre-trained | 1.3 ± 0.1 |\n| SalUn | 1.4 ± 0.1 |")
    assert set(pool.rows) == {"Pre-trained", "SalUn"}
    for text, name in [("cFID 1.3 ± 0.1 (SalUn)", "SalUn"), ("SalUn's 1.3 ± 0.1", "SalUn"),
                       ("1.3 ± 0.1 for SalUn", "SalUn"), ("| SalUn | 1.3 ± 0.1 |", "SalUn"),
                       ("DiMUM − SalUn 1.3 ± 0.1", None), ("cFID 1.3 ± 0.1", None)]:
        group = numbers.groups(text, numbers.numbers(text))[0]
        assert numbers.bound_to(text, group, pool.rows) == name, text
    assert not pool.rows["SalUn"].holds_group(numbers.numbers("1.3 ± 0.1"))


def test_names_dates_and_code_are_not_numbers():
    text = "seed0 bf16 E13 DDIM-20 on 2026-12-01 with torch 2.14.1, `--seeds 0 1 2`, results/mnist5k-quick-f7/"
    assert numbers.numbers(numbers.prose(text)) == []
    assert Number("1", 1.0, 0, "", 0, 1).rounds(1.4)
