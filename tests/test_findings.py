"""The findings are generated from the committed results, never written by hand: docs/findings.md and
the README's findings table must be exactly what `python -m harness.findings` writes from them. The
deciding rules behind them (validity, bottom lines) are tested on hand-made counts in test_validity.py."""
from harness import findings
from harness.decisions import decision


def test_the_committed_findings_regenerate_byte_for_byte():
    doc, block = findings.findings_text()
    with open(findings.OUT) as f:
        assert f.read() == doc, "docs/findings.md is stale: run python -m harness.findings"
    with open(findings.README) as f:
        readme = f.read()
    assert findings.readme_with(block, readme) == readme, "the README's findings table is stale: run python -m harness.findings"


def test_every_claim_cell_states_its_evidence_and_why_it_counts_or_not():
    items = findings.collect()
    assert items and {it["claim"] for it in items} <= set(findings.CLAIMS)
    for it in items:
        assert it["path"] and it["seeds"] >= 1 and it["judge"] in ("CNN", "kNN")
        v = it["cell"].verdict
        assert v is None or v.lo <= v.effect <= v.hi
        assert not it["counted"] or it["counted"].startswith(("another setting", "one seed", "invalid: ", "the same units"))
        if not it["counted"]:
            assert it["registered"] and it["seeds"] >= 2 and it["cell"].valid


def test_a_broken_model_is_listed_but_never_counted():
    """SalUn without its retain term loses every class (retain_acc 0.11): its samples of f are not f, but
    not because f was forgotten, so its cells neither support nor contradict a claim."""
    broken = [it for it in findings.collect() if "model broken" in it["counted"]]
    assert broken and {it["row"] for it in broken} == {"salun-alpha0"}


def test_retrain_trained_with_theta0s_seed_is_left_out_of_the_older_runs():
    items = [it for it in findings.collect() if it["path"].startswith("results/mnist5k-quick-bf16")]
    assert items and all(it["dropped"] == [0] and it["seeds"] <= 2 for it in items)


def test_the_unconditional_branch_is_decided_like_a_one_point_curve():
    """Row and Retrain shares of n null-label samples, paired by seed: 0.30 against 0.01 is reversed,
    0.01 against 0.01 resists."""
    n = 500
    share = lambda x: {"uncond_n": n, "uncond_share": x, "uncond_share_knn": x}     # noqa: E731
    rows = findings.with_uncond({"retrain": {s: share(0.01) for s in range(3)},
                                 "far": {s: share(0.30) for s in range(3)}, "same": {s: share(0.01) for s in range(3)}})
    far, same = (decision(rows, name, findings.UNCOND, "CNN", n, 1) for name in ("far", "same"))
    assert far.verdict == "reversed" and abs(far.effect - 0.29) < 1e-9 and same.verdict == "resists"


def test_the_notebooks_conclusion_cites_the_generated_findings():
    import nbformat
    nb = nbformat.read("experiments.ipynb", as_version=4)
    conclusion = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## 6.")]
    assert conclusion and "docs/findings.md" in conclusion[0] and "python -m harness.findings" in conclusion[0]
