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
        assert it["outcome"] in ("holds", "fails", "undecided") and it["path"] and it["seeds"] >= 1
        v = it["verdict"]
        assert v.lo <= v.effect <= v.hi


def test_the_notebooks_conclusion_cites_the_generated_findings():
    import nbformat
    nb = nbformat.read("experiments.ipynb", as_version=4)
    conclusion = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## 6.")]
    assert conclusion and "docs/findings.md" in conclusion[0] and "python -m harness.findings" in conclusion[0]
