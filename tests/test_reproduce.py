"""reproduce.py end to end in its smoke setting: the table, the stage cache keyed by its inputs,
a method added through the registry, diverged models, and the errors it refuses before any work."""
import json
import os
import shutil
import types
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

import attack.dimra
import harness.pipeline
import lab.presets
import lab.pretrain
import reproduce
import unlearn.run
from attack.__main__ import main as attack_main
from ddpm.diffusion import noised
from harness.run import choose_rows
from harness.settings import SMOKE as SMOKE_SIZES
from tests.conftest import TOY, ToySettings, error_lines
from tests.test_data import write_tiny_cifar10, write_tiny_mnist
from unlearn import METHODS
from unlearn.base import Plan, UnlearnSettings


def exploding_setup(model, schedule, data, s):
    return Plan(lambda: F.mse_loss(model(*_xtc(schedule, data)), torch.zeros(())) * float("inf"))


def _xtc(schedule, data):
    x, c = next(data.forget)
    t, _, x_t = noised(schedule, x)
    return x_t, t, c


EXPLODING = types.SimpleNamespace(LABEL="Exploding", Settings=ToySettings, setup=exploding_setup)


class Counter:
    """Wraps a function and counts its calls (to see which stages a rerun recomputes)."""

    def __init__(self, monkeypatch, module, name):
        self.calls, self.fn = 0, getattr(module, name)
        monkeypatch.setattr(module, name, self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def count_work(monkeypatch) -> dict:
    """Count training loops started by pre-training, unlearning and DiMRA, and judge trainings."""
    return {"pretrain": Counter(monkeypatch, lab.pretrain, "fit"), "unlearn": Counter(monkeypatch, unlearn.run, "fit"),
            "attack": Counter(monkeypatch, attack.dimra, "fit"), "judge": Counter(monkeypatch, harness.pipeline, "train_judge")}


SMOKE = ["--smoke", "--seeds", "0", "--methods", "ga,toy"]


@pytest.fixture
def smoke_run(shared_smoke):
    """The session's one smoke run (tests/conftest.py: seed 0, GA and the toy method, Pre-trained and
    Retrain), read only: tests that run again work in a copy (in_copy)."""
    return shared_smoke


@pytest.fixture
def in_copy(smoke_run, tmp_path, monkeypatch):
    """A fresh copy of the smoke run's folder as the working directory, the toy method registered."""
    for name in ("runs", "results"):
        shutil.copytree(smoke_run / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(METHODS, "toy", TOY)
    return tmp_path


def results(folder):
    out = folder / "results" / "mnist5k-quick-smoke"
    return (out / "table.md").read_text(), json.loads((out / "results.json").read_text())


def test_smoke_table_has_every_row_and_the_toy_method(smoke_run):
    table, data = results(smoke_run)
    for name in ("Pre-trained", "Retrain", "GA", "Toy"):
        assert f"| {name} |" in table
    assert "| ESD |" not in table                               # --methods ga,toy
    toy = data["rows"]["toy"]["0"]
    assert toy["unlearn_config"]["method"] == "toy" and toy["unlearn_steps"] == 3
    assert toy["dimra_retain"]["n_aux_forget"] == 0 and toy["dimra_mixed"]["n_aux_forget"] > 0
    assert toy["dimra_retain"]["curve"]["forget_acc"][0] == toy["forget_acc"]   # step 0: the evaluation's samples
    assert toy["inputs"]["model"]["unlearn"]["lr"] == 1e-4      # each row records what it came from
    assert data["settings"]["environment"]["threads"] >= 1
    out = smoke_run / "results" / "mnist5k-quick-smoke"
    assert (out / "recovery.png").stat().st_size > 0 and (out / "grids" / "seed0" / "toy-dimra-retain.png").exists()
    assert sum(toy["forget_read_as"]) == sum(toy["forget_read_as_knn"]) == SMOKE_SIZES["n_forget"]
    assert toy["forget_read_as"][0] / SMOKE_SIZES["n_forget"] == toy["forget_acc"]      # f = 0 read as 0
    assert set(toy["dimra_mixed"]["after"]) == {"retain_acc", "cfid"} and "After each attack" in table


def test_the_quality_after_an_attack_is_the_attacked_models(in_copy):
    """The 'after' numbers are retain_metrics of the checkpoint the attack wrote, with n_after samples a class."""
    from harness.pipeline import Pipeline
    from harness.settings import Settings
    from lab.checkpoint import load_checkpoint
    from metrics.evaluate import retain_metrics
    pipe = Pipeline(Settings(smoke=True, seeds=(0,), progress=False), torch.device("cpu"))
    pipe.prepare()
    row = pipe.run_variant(next(v for v in choose_rows("ga")[0] if v.name == "ga"), 0)
    model, schedule = lab.pretrain.load_ddpm(pipe.ddpm_path)[:2]
    model.load_state_dict(load_checkpoint(f"{pipe.folder(0)}/ga-dimra-retain.pt", kind="attacked")["model"])
    with harness.pipeline.precision_region(pipe.s.precision, "cpu"):
        want = retain_metrics(model, schedule, pipe.judge, 0, pipe.splits["test"], SMOKE_SIZES["n_after"], pipe.sample, 0)
    assert row["dimra_retain"]["after"] == want


def test_a_rerun_reuses_every_stage(in_copy, monkeypatch):
    work = count_work(monkeypatch)
    assert reproduce.main(SMOKE) == 0
    assert {k: c.calls for k, c in work.items()} == {"pretrain": 0, "unlearn": 0, "attack": 0, "judge": 0}


@pytest.mark.slow
def test_fresh_redoes_every_stage_once(in_copy, monkeypatch):
    work = count_work(monkeypatch)
    assert reproduce.main(SMOKE + ["--fresh"]) == 0
    assert {k: c.calls for k, c in work.items()} == {"pretrain": 2, "unlearn": 2, "attack": 6, "judge": 1}


@pytest.mark.slow
def test_a_changed_attack_setting_reruns_the_attacks_only(in_copy, monkeypatch):
    work = count_work(monkeypatch)
    assert reproduce.main(SMOKE + ["--attack-steps", "6", "--eval-every", "3"]) == 0
    assert work["unlearn"].calls == 0 and work["attack"].calls == 6     # 3 attacked rows x 2 threat models
    _, data = results(in_copy)
    assert data["rows"]["ga"]["0"]["dimra_retain"]["curve"]["step"] == [0, 3, 6]     # --smoke no longer ignores it


@pytest.mark.slow
def test_a_replaced_pretrained_model_reruns_what_depends_on_it(in_copy, monkeypatch):
    path = in_copy / "runs" / "mnist5k-quick-smoke" / "ddpm.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["ema"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in ckpt["ema"].items()}
    torch.save(ckpt, path)
    work = count_work(monkeypatch)
    assert reproduce.main(SMOKE) == 0
    assert work["unlearn"].calls == 2                 # GA and the toy method start from the new weights
    assert work["attack"].calls == 4                  # their attacks; Retrain's two are reused


@pytest.mark.parametrize("damaged,removed", [("ga.json", None), ("ga.pt", "ga.json")])
def test_a_damaged_cached_stage_names_its_file(damaged, removed, in_copy, capsys):
    folder = in_copy / "runs" / "mnist5k-quick-smoke" / "forget0" / "seed0"
    (folder / damaged).write_bytes(b"\x80garbage")
    if removed:                      # the evaluation must reread the unlearned model
        (folder / removed).unlink()
    assert reproduce.main(SMOKE) == 2
    err = capsys.readouterr().err
    assert f"{damaged} is damaged" in err and "--fresh" in err and len(error_lines(err)) == 1


def without_timings(o):
    """A results.json part without what may differ between identical computations (times, threads)."""
    if isinstance(o, dict):
        return {k: without_timings(v) for k, v in o.items()
                if "seconds" not in k and k not in ("environment", "sampling_images_per_second")}
    return [without_timings(v) for v in o] if isinstance(o, list) else o


@pytest.mark.slow
def test_workers_give_the_numbers_of_one_process_with_their_thread_count(tmp_path, monkeypatch):
    """--workers 2 --threads 2 (two processes of one thread: pre-training, Retrain and the judge side
    by side, then the rows) gives bit for bit what one process of one thread gives."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    argv = ["--smoke", "--seeds", "0", "--methods", "ga"]
    try:
        assert reproduce.main(argv + ["--workers", "1", "--threads", "1"]) == 0
        one = results(tmp_path)[1]
        work = count_work(monkeypatch)             # spies see only this process: the workers did it all
        assert reproduce.main(argv + ["--workers", "2", "--threads", "2", "--fresh"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert {k: c.calls for k, c in work.items()} == {"pretrain": 0, "unlearn": 0, "attack": 0, "judge": 0}
    two = results(tmp_path)[1]
    assert two["settings"]["environment"]["workers"] == 2
    assert without_timings(one["rows"]) == without_timings(two["rows"])
    assert len(one["rows"]["ga"]["0"]["dimra_retain"]["curve"]["forget_acc"]) == 3


def test_a_model_written_by_reproduce_loads_in_the_attack_cli(in_copy, capsys):
    folder = in_copy / "runs" / "mnist5k-quick-smoke"
    judge = folder / "judge-mnist5k-16px.pt"
    assert attack_main(["--ckpt", str(folder / "forget0" / "seed0" / "toy.pt"), "--judge", str(judge),
                        "--steps", "2", "--eval-every", "1", "--n-eval", "2", "--out", str(in_copy / "a.pt")]) == 0
    assert torch.load(in_copy / "a.pt", weights_only=True)["forget_class"] == 0


@pytest.mark.slow
def test_the_basin_lines_start_at_theta0_and_pass_through_the_unlearned_model(in_copy):
    """harness/research/basin.py: at lam = 0 every method is the pre-trained model; at lam = 1 and mu = 0 it
    is the unlearned model, whose forget_acc (same sampler, seed and n) the table already holds."""
    import harness.research.basin as basin
    assert basin.main(["--smoke", "--methods", "ga,toy", "--points", "6", "--n", str(SMOKE_SIZES["n_forget"])]) == 0
    out = json.loads((in_copy / "results" / "mnist5k-quick-smoke" / "basin" / "basin.json").read_text())
    ga, toy = out["lines"]["ga"], out["lines"]["toy"]
    assert ga["lam"] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25] and len(ga["to_attacked"]) == 6
    assert ga["to_unlearned"][0] == toy["to_unlearned"][0]                   # both start at theta_0
    assert ga["to_unlearned"][1]["loss"] != toy["to_unlearned"][1]["loss"]
    theta_u = ga["to_attacked"][0]                                           # mu = 0: exactly theta_u
    assert ga["to_unlearned"][4]["loss"] == pytest.approx(theta_u["loss"], rel=1e-4)   # lam = 1
    assert theta_u["forget_acc"] == results(in_copy)[1]["rows"]["ga"]["0"]["forget_acc"]


@pytest.mark.slow
def test_the_sweep_at_the_tables_attack_gives_the_tables_curve(in_copy, monkeypatch):
    """harness/research/attack_sweep.py attacks the table's cached models (no unlearning again); at the table's
    own attack (lr 1e-4, the smoke steps) each row's curve is the table's DiMRA-retain curve."""
    import harness.research.attack_sweep as sweep
    work = count_work(monkeypatch)
    assert sweep.main(["--smoke", "--workers", "1", "--rows", "ga,toy", "--lrs", "1e-4", "1e-3"]) == 0
    assert (work["pretrain"].calls, work["unlearn"].calls, work["attack"].calls) == (0, 0, 6)  # 3 rows x 2 lrs
    out = in_copy / "results" / "mnist5k-quick-smoke" / "sweep" / "retain-4steps-seed0"
    summary = json.loads(out.with_suffix(".json").read_text())["summary"]
    rows = results(in_copy)[1]["rows"]
    for name in ("retrain", "ga", "toy"):
        assert summary["0.0001"][name]["curves"] == [rows[name]["0"]["dimra_retain"]["curve"]]
        stage = in_copy / "runs" / "mnist5k-quick-smoke" / "forget0" / "seed0" / \
            f"{name}-dimra-retain-eval_every2-lr0.001-steps4.json"
        assert json.loads(stage.read_text())["inputs"]["attack"]["lr"] == 1e-3
    assert "| GA | " in out.with_suffix(".md").read_text() and out.with_suffix(".png").stat().st_size > 0


def test_rejudging_draws_the_samples_the_table_counted(in_copy, capsys):
    """harness/research/rejudge.py: its CNN counts after unlearning and after each attack equal the table's
    (the script stops otherwise), and it adds the kNN judge's count of the same samples."""
    import harness.research.rejudge as rejudge
    assert rejudge.main(["--smoke", "--rows", "retrain,ga,toy"]) == 0
    text = (in_copy / "results" / "mnist5k-quick-smoke" / "rejudged-seed0.md").read_text()
    ga = results(in_copy)[1]["rows"]["ga"]["0"]
    assert f"| GA | {ga['forget_acc']:.2f} / {ga['forget_acc_knn']:.2f} | " in text
    assert text.count(" / ") >= 9                              # 3 rows x 3 stages, both judges


def test_rejudging_refuses_samples_that_are_not_the_tables(in_copy, capsys):
    path = in_copy / "results" / "mnist5k-quick-smoke" / "results.json"
    data = json.loads(path.read_text())
    data["rows"]["ga"]["0"]["forget_acc"] += 0.5
    path.write_text(json.dumps(data))
    import harness.research.rejudge as rejudge
    assert rejudge.main(["--smoke", "--rows", "ga"]) == 2
    assert "the samples differ" in capsys.readouterr().err


def test_a_diverged_method_is_reported_not_scored(in_copy, monkeypatch):
    monkeypatch.setitem(METHODS, "boom", EXPLODING)
    assert reproduce.main(["--smoke", "--seeds", "0", "--methods", "boom"]) == 0
    table, data = results(in_copy)
    row = data["rows"]["boom"]["0"]
    assert "diverged" in row and "forget_acc" not in row and "dimra_retain" not in row
    assert "| Exploding | diverged: the unlearning loss became NaN/inf after 0 steps |" in table


@pytest.mark.slow
def test_forgetting_the_alternative_digit_picks_another(in_copy):
    assert reproduce.main(["--smoke", "--seeds", "0", "--methods", "dimum", "--forget-class", "1"]) == 0
    _, data = results(in_copy)
    assert data["rows"]["dimum"]["0"]["unlearn_config"]["alt"] == "class:2"


@pytest.mark.parametrize("argv,expect", [
    (["--forget-class", "10"], "out of range"),
    (["--eval-every", "0"], "--eval-every 0 must be at least 1"),
    (["--attack-steps", "-3"], "--attack-steps -3 must be at least 1"),
    (["--device", "foo"], "--device 'foo' is not a device"),
    (["--methods", "ga,nope"], "unknown method(s) nope"),
    (["--threads", "0"], "--threads 0 must be at least 1"),
    (["--ablation", "--variants", "ga-100,nope"], "unknown variant"),
    (["--n-after", "-1"], "--n-after -1 must be >= 0"),
    (["--results", "a/b"], "--results 'a/b'"),
    (["--controls", "--ablation"], "two tables"),
])
def test_bad_arguments_are_one_line_before_any_work(argv, expect, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    work = count_work(monkeypatch)
    assert reproduce.main(["--smoke", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert expect in err and len(error_lines(err)) == 1
    assert all(c.calls == 0 for c in work.values())


def test_an_unwritable_results_folder_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").write_text("a file where the results folder should be")
    work = count_work(monkeypatch)
    assert reproduce.main(["--smoke", "--seeds", "0"]) == 2
    assert "cannot write" in capsys.readouterr().err and work["pretrain"].calls == 0


@pytest.mark.slow
@pytest.mark.parametrize("preset,writer", [("mnist", write_tiny_mnist), ("cifar10", write_tiny_cifar10)])
def test_gpu_presets_run_the_same_pipeline(preset, writer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    writer(os.path.join(str(tmp_path), "data"), per_class=105 if preset == "mnist" else 21, test_per_class=5)
    assert reproduce.main(["--smoke", "--preset", preset, "--seeds", "0", "--methods", "salun"]) == 0
    assert (tmp_path / "results" / f"{preset}-smoke" / "table.md").exists()


@pytest.mark.parametrize("flags,root", [({}, "runs"), ({"from_scratch": True}, "runs/mnist5k-quick-x"),
                                        ({"fresh": True}, "runs/mnist5k-quick-x")])
def test_a_run_from_scratch_keeps_its_own_judge(flags, root, tmp_path, monkeypatch):
    """The judge is part of every stage's key: a run that trains its own must not share the file in
    runs/ that another run may retrain (--fresh implies --from-scratch, also in the workers' copy)."""
    monkeypatch.chdir(tmp_path)
    s = harness.pipeline.Settings(tag="x", precision="float32", **flags)
    pipe = harness.pipeline.Pipeline(s, torch.device("cpu"))
    assert os.path.dirname(pipe.judge_path) == root
    assert pipe.s.from_scratch == bool(flags)


def test_retrain_never_starts_from_theta0s_initial_weights(monkeypatch, tmp_path):
    """Retrain of every seed is trained with its own seed (harness.settings.retrain_config): its initial
    weights, captured where pre-training hands the model to the loop, differ from the pre-trained model's."""
    from harness.settings import retrain_config
    cfg = lab.presets.make_config("mnist5k-quick", steps=1, batch_size=4, ch=8, ch_mult=(1, 2), groups=4,
                                    sample_every=10 ** 6)

    class Started(Exception):
        pass

    def capture(model, *args, **kwargs):
        raise Started({k: v.clone() for k, v in model.state_dict().items()})
    monkeypatch.setattr(lab.pretrain, "fit", capture)

    def initial(c):
        with pytest.raises(Started) as got:
            lab.pretrain.pretrain(c, str(tmp_path / "c.pt"), device=torch.device("cpu"), progress=False)
        return got.value.args[0]
    theta0 = initial(cfg)
    assert all(torch.equal(theta0[k], v) for k, v in initial(cfg).items())        # the capture is deterministic
    for seed in (0, 1, 2):
        rc = retrain_config(cfg, 0, seed)
        assert rc.seed != cfg.seed and rc.exclude_class == 0
        assert any(not torch.equal(theta0[k], v) for k, v in initial(rc).items()), f"seed {seed}"


@pytest.mark.slow
def test_the_hypothesis_command_decides_an_added_method_at_smoke_size(in_copy, capsys):
    """README, "From an added method to a decided hypothesis": python -m harness.hypothesis runs the
    method with its controls on the chosen classes and seeds, and prints one checked bottom line an
    (method, attack) per judge."""
    from harness import hypothesis
    assert hypothesis.main(["--methods", "toy", "--classes", "0", "--seeds", "0", "1", "--smoke"]) == 0
    out = capsys.readouterr().out
    for attack in ("DiMRA-retain", "DiMRA-mixed"):
        line = next(x for x in out.splitlines() if x.startswith(f"| Toy resists {attack} |"))
        assert line.count("**") == 2 and ("units; class 0" in line or "not enough valid evidence" in line)
    assert (in_copy / "results" / "mnist5k-quick-hyp-smoke.md").exists()
