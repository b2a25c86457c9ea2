"""reproduce.py end to end in its smoke setting, on mnist5k and on tiny MNIST / CIFAR-10 in their real formats."""
import json
import os
import time

import pytest

import reproduce
from tests.test_data import write_tiny_cifar10, write_tiny_mnist


def test_smoke_pipeline_and_stage_reuse(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t0 = time.time()
    assert reproduce.main(["--smoke", "--seeds", "0", "1"]) == 0
    first = time.time() - t0
    out = tmp_path / "results" / "mnist5k-quick-smoke"
    table = (out / "table.md").read_text()
    for name in ("Pre-trained", "Retrain", "GA", "ESD", "SalUn", "DiMUM"):
        assert f"| {name} |" in table
    data = json.loads((out / "results.json").read_text())
    assert set(data["rows"]["ga"]) == {"0", "1"}
    assert data["rows"]["ga"]["0"]["dimra_retain"]["n_aux_forget"] == 0
    assert data["rows"]["ga"]["0"]["dimra_mixed"]["n_aux_forget"] > 0
    assert (out / "recovery.png").stat().st_size > 0 and (out / "unlearn_loss.png").stat().st_size > 0
    assert (out / "grids" / "seed0" / "dimum-dimra-retain.png").exists()
    # The issue asks for under 2 minutes: 44 s measured on 2 idle cores. The bound is twice that target
    # so that a CI machine busy with other jobs does not fail a correct pipeline (122 s seen under load).
    assert first < 240, f"the smoke run took {first:.0f} s (44 s on 2 idle cores)"
    # a rerun reuses every finished stage
    t0 = time.time()
    assert reproduce.main(["--smoke", "--seeds", "0", "1"]) == 0
    assert time.time() - t0 < first / 2


@pytest.mark.parametrize("preset,writer", [("mnist", write_tiny_mnist), ("cifar10", write_tiny_cifar10)])
def test_gpu_presets_run_the_same_pipeline(preset, writer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    writer(os.path.join(str(tmp_path), "data"), per_class=105 if preset == "mnist" else 21, test_per_class=5)
    assert reproduce.main(["--smoke", "--preset", preset, "--seeds", "0"]) == 0
    assert (tmp_path / "results" / f"{preset}-smoke" / "table.md").exists()


def test_bad_class_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert reproduce.main(["--smoke", "--forget-class", "10"]) == 2
    assert "out of range" in capsys.readouterr().err
