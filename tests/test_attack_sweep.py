"""harness/research/attack_sweep.py's summary: where a curve 'breaks', the verdict against Retrain under the
same attack, and the order in which the rows break (the run itself: tests/test_reproduce.py)."""
import json

import harness.research.attack_sweep as sweep


def curve(*accs):
    return {"step": [100 * i for i in range(len(accs))], "forget_acc": list(accs)}


def rows_of(**curves):
    """Pipeline.run_rows' shape: rows[name@lr][seed] = {forget_acc, dimra_retain: {curve}}."""
    return {f"{name}@0.001": {seed: {"forget_acc": c["forget_acc"][0], "dimra_retain": {"curve": c}}
                              for seed, c in enumerate(cs)} for name, cs in curves.items()}


def test_a_curve_breaks_at_its_first_point_at_or_above_one_half():
    assert sweep.breaks_at(curve(0.1, 0.49, 0.5, 0.9)) == 200
    assert sweep.breaks_at(curve(0.0, 0.2, 0.49)) is None
    assert sweep.breaks_text([200, 200]) == "200" and sweep.breaks_text([None, 300]) == "—, 300"
    assert sweep.breaks_text([None, None]) == "—"


def test_rows_are_judged_against_retrain_under_the_same_attack_and_ranked():
    rows = rows_of(retrain=[curve(0, 0, 0.01, 0.02), curve(0, 0.01, 0, 0.01)],
                   ga=[curve(0, 0.6, 0.9, 0.95), curve(0, 0.5, 0.8, 0.9)],
                   dimum=[curve(0, 0, 0.02, 0.05), curve(0, 0.01, 0.03, 0.04)],
                   salun=[curve(0, 0.05, 0.2, 0.4), curve(0, 0.1, 0.3, 0.5)])
    s = sweep.summarise(rows, ["retrain", "ga", "dimum", "salun"], [1e-3], "retain")[1e-3]
    verdicts = {name: sweep.judged(s[name], s["retrain"], 100)[1] for name in ("retrain", "ga", "dimum", "salun")}
    assert verdicts["retrain"] is None and verdicts["dimum"].verdict == "resists"
    assert verdicts["ga"].verdict == "reversed" and s["ga"]["breaks"] == [100, 100]
    assert verdicts["salun"].verdict == "reversed" and s["salun"]["breaks"] == [None, 300]
    recoveries = sweep.judged(s["ga"], s["retrain"], 100)[0]      # step 0 left out: (0.6 + 0.9 + 0.95) / 3
    assert abs(recoveries[0] - (0.6 + 0.9 + 0.95) / 3) < 1e-12
    order = [line for line in sweep.table({1e-3: s}, ["retrain", "ga", "dimum", "salun"], "retain", 300, 100)
             if line.startswith("- lr")]
    assert len(order) == 1 and order[0].startswith("- lr 0.001: GA (0.78) > SalUn (0.26) > DiMUM (")


def test_a_diverged_attack_is_not_scored():
    rows = rows_of(retrain=[curve(0, 0)], ga=[curve(0, 0.9)])
    rows["ga@0.001"][0]["dimra_retain"]["diverged"] = "the attack's loss became NaN/inf"
    s = sweep.summarise(rows, ["retrain", "ga"], [1e-3], "retain")[1e-3]
    assert s["ga"]["curves"] == [] and sweep.judged(s["ga"], s["retrain"], 100) == ([], None)
    assert "| GA | 0.00 | diverged |" in "\n".join(sweep.table({1e-3: s}, ["retrain", "ga"], "retain", 100, 100))


def fake_run(f, ga_knn, steps=300):
    """A results.json of reproduce.py (one seed) with Retrain, GA and the pre-trained model attacked (the
    positive control every verdict is checked against: harness/validity.py)."""
    c = lambda *a: {"step": [0, 100, 200, 300][:len(a)], "forget_acc": list(a)}   # noqa: E731
    row = lambda fa, knn, cr, cm: {"forget_acc": fa, "forget_acc_knn": knn, "retain_acc": 0.9,   # noqa: E731
                                   "dimra_retain": {"curve": cr}, "dimra_mixed": {"curve": cm}}
    return {"settings": {"forget_class": f, "seeds": [0], "n_forget": 100, "attack": {"steps": steps, "lr": 1e-4}},
            "rows": {"pretrained": {"0": row(1.0, 1.0, c(1, 1, 1, 1), c(1, 1, 1, 1))},
                     "retrain": {"0": row(0.0, 0.0, c(0, 0, 0, 0), c(0, 0.5, 0.9, 1))},
                     "ga": {"0": row(0.05, ga_knn, c(0.05, 1, 1, 1), c(0.05, 1, 1, 1))}}}


def test_the_classes_table_flags_judges_that_disagree_and_refuses_mixed_attacks(tmp_path, capsys):
    from harness.research.across_classes import main
    paths = []
    for f, knn in ((7, 0.9), (3, 0.1)):
        paths.append(tmp_path / f"f{f}.json")
        paths[-1].write_text(json.dumps(fake_run(f, knn)))
    assert main([str(p) for p in paths]) == 0
    out = capsys.readouterr().out
    assert "| 7 | GA | 0.05 (0.90 ⚑) | 1.00 / 1.00 (reversed: CNN +1.00 [" in out
    assert out.count("reversed: CNN") == 4 and "| 0.90 |" in out
    assert "| 3 | GA | 0.05 (0.10) |" in out and "| 7 | Retrain | 0.00 (0.00) | 0.00 / 0.00 | 0.50 / 1.00 | 0.90 |" in out
    paths[1].write_text(json.dumps(fake_run(3, 0.1, steps=100)))
    assert main([str(p) for p in paths]) == 2 and "different DiMRA settings" in capsys.readouterr().err
    run = fake_run(3, 0.1)                          # watched every 150 steps: step 100 never measured
    run["settings"]["attack"]["eval_every"] = 150
    for r in run["rows"].values():
        for aux in ("dimra_retain", "dimra_mixed"):
            c = r["0"][aux]["curve"]
            c["step"], c["forget_acc"] = [0, 150, 300], [c["forget_acc"][0]] + c["forget_acc"][2:]
    paths[1].write_text(json.dumps(run))
    assert main([str(p) for p in paths]) == 2 and "did not measure forget_acc at steps 100 and 300" in \
        capsys.readouterr().err


def test_the_classes_table_takes_runs_watched_at_different_intervals(tmp_path, capsys):
    """eval_every 50 against 100: the same attack, watched more often; the table shows both at 100 / 300."""
    from harness.research.across_classes import main
    often = fake_run(7, 0.9)
    often["settings"]["attack"]["eval_every"] = 50
    for r in often["rows"].values():
        for aux in ("dimra_retain", "dimra_mixed"):
            c = r["0"][aux]["curve"]
            c["step"] = [0, 50, 100, 150, 200, 250, 300]
            c["forget_acc"] = [c["forget_acc"][i // 2] for i in range(7)]
    rare = fake_run(3, 0.1)
    rare["settings"]["attack"]["eval_every"] = 100
    paths = [tmp_path / "f7.json", tmp_path / "f3.json"]
    for path, run in zip(paths, (often, rare)):
        path.write_text(json.dumps(run))
    assert main([str(p) for p in paths]) == 0
    out = capsys.readouterr().out
    # watched every 50 steps, step 50 (0.05) joins the recovery: (0.05 + 5 x 1.00) / 6 = 0.84
    assert "| 7 | GA | 0.05 (0.90 ⚑) | 1.00 / 1.00 (reversed: CNN +0.84 [" in out and "| 3 | Retrain | 0.00 (0.00) |" in out
    assert "class 7 every 50 steps; class 3 every 100 steps" in out
