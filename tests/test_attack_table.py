"""Adding an attack is one file and one line: the README's example attack, registered here, gets its
own column (with a verdict against Retrain) in the smoke table, and each row's curve is read by both
judges."""
import json
import re
import types

import attack
import reproduce
from tests.conftest import ROOT


def readme_attack() -> types.ModuleType:
    """The module written out in the README's "Add your own attack", as attack/noise.py would be."""
    with open(f"{ROOT}/README.md") as f:
        code = f.read().split("# attack/noise.py\n", 1)[1].split("```", 1)[0]
    module = types.ModuleType("attack.noise")
    module.__package__ = "attack"
    exec(compile(code, "attack/noise.py", "exec"), module.__dict__)
    return module


def test_a_registered_attack_gets_its_column_in_the_smoke_table(tmp_path, monkeypatch):
    noise = readme_attack()
    monkeypatch.setitem(attack.ATTACKS, "noise", noise)          # the one line in attack/__init__.py
    monkeypatch.chdir(tmp_path)
    argv = ["--smoke", "--seeds", "0", "--methods", "ga", "--attacks", "dimra_retain,noise", "--positive-control"]
    assert reproduce.main(argv) == 0
    table = (tmp_path / "results" / "mnist5k-quick-smoke" / "table.md").read_text()
    assert "| Noise @" in table and "| DiMRA-retain @" in table and "DiMRA-mixed" not in table.split("\n\n")[1]
    rows = json.loads((tmp_path / "results" / "mnist5k-quick-smoke" / "results.json").read_text())["rows"]
    for name in ("pretrained", "retrain", "ga"):                  # the pre-trained model: the positive control
        curve = rows[name]["0"]["noise"]["curve"]
        assert curve["step"][0] == 0 and len(curve["forget_acc_knn"]) == len(curve["forget_acc"])
    ga_line = next(line for line in table.splitlines() if line.startswith("| GA |"))
    effects = re.findall(r"(CNN|kNN) [+-]\d\.\d\d \[", ga_line)        # 'CNN +0.00 [-0.13, +0.13]'
    assert sorted(effects) == ["CNN", "CNN", "kNN", "kNN"]            # a verdict under each judge, each attack
