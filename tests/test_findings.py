"""The findings are generated from the committed results, never written by hand: docs/findings.md and
the README's findings table must be exactly what `python -m harness.findings` writes from them."""
from harness import findings


def test_the_committed_findings_regenerate_byte_for_byte(monkeypatch):
    doc, block = findings.findings_text()
    with open(findings.OUT) as f:
        assert f.read() == doc, "docs/findings.md is stale: run python -m harness.findings"
    with open(findings.README) as f:
        readme = f.read()
    assert findings.readme_with(block, readme) == readme, "the README's findings table is stale: run python -m harness.findings"


def test_every_claim_item_states_its_evidence():
    items = findings.collect()
    assert items, "no evidence found in the committed results"
    for it in items:
        assert it["outcome"] in ("holds", "fails", "undecided", "broken") and it["path"] and it["seeds"] >= 1
        v = it["verdict"]
        assert v.lo <= v.effect <= v.hi


def test_the_notebooks_conclusion_cites_the_generated_findings():
    import nbformat
    nb = nbformat.read("experiments.ipynb", as_version=4)
    conclusion = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## 6.")]
    assert conclusion and "docs/findings.md" in conclusion[0] and "python -m harness.findings" in conclusion[0]


def test_a_broken_model_is_listed_but_never_counted_for_a_claim():
    """SalUn without its retain term loses every class (retain_acc 0.11): its samples of f are not f, but
    not because f was forgotten, so its verdicts neither support nor contradict a claim."""
    items = findings.collect()
    broken = [it for it in items if it["outcome"] == "broken"]
    assert broken and all(it["retain_acc"] < findings.BROKEN for it in broken)
    assert {it["row"] for it in broken if it["claim"] == "C7"} == {"salun-alpha0"}
    assert all(it.get("retain_acc") is None or it["retain_acc"] >= findings.BROKEN
               for it in items if it["outcome"] != "broken")


def test_the_unconditional_branch_is_decided_like_a_one_point_curve():
    """Row and Retrain shares of n null-label samples, paired by seed: 0.30 against 0.01 is reversed,
    0.01 against 0.01 resists."""
    n = 500
    rows = {"retrain": {s: {"uncond_n": n, "uncond_share": 0.01, "uncond_share_knn": 0.01} for s in "012"},
            "far": {s: {"uncond_n": n, "uncond_share": 0.30, "uncond_share_knn": 0.30} for s in "012"},
            "same": {s: {"uncond_n": n, "uncond_share": 0.01, "uncond_share_knn": 0.01} for s in "012"}}
    far, same = findings.uncond_decisions(rows, "far"), findings.uncond_decisions(rows, "same")
    assert far["CNN"].verdict == "reversed" and abs(far["CNN"].effect - 0.29) < 1e-9
    assert same["kNN"].verdict == "resists" and findings.uncond_decisions(rows, "retrain") == {}
