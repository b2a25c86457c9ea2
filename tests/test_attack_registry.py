"""The attack registry: every entry has the common interface (attack/__init__.py), DiMRA's entries are
DiMRA to the bit, and the README's example attack, registered, runs through the registry and the CLI."""
import dataclasses
from dataclasses import replace

import pytest
import torch

import attack
from attack.__main__ import main as attack_main
from attack.base import AttackData, as_attacked
from attack.dimra import DiMRAConfig, attack_set, dimra
from attack.run import make_config, run_attack, settings_of
from ddpm.config import DDPMConfig
from ddpm.data import load_splits
from ddpm.errors import UserError
from ddpm.schedule import NoiseSchedule
from ddpm.unet import UNet
from harness.stages import attack_record
from lab.checkpoint import save_checkpoint
from metrics.judge import Judge, JudgeConfig
from tests.conftest import tiny_unet
from tests.test_examples import load_example


@pytest.fixture(scope="module")
def aux8():
    return load_splits("mnist5k", image_size=8)["aux"]


def probe(m):
    """A deterministic stand-in for forget_acc: the model's mean prediction on fixed inputs, label 0."""
    with torch.no_grad():
        x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        return float(m(x, torch.full((4,), 7), torch.zeros(4, dtype=torch.long)).mean())


@pytest.mark.parametrize("name", list(attack.ATTACKS))
def test_every_attack_has_the_common_interface(name):
    module = attack.ATTACKS[name]
    assert module.__doc__.strip() and "\n" not in module.THREAT and module.LABEL     # attack/__init__.py
    cfg = module.Config()                                   # every setting has a default
    assert dataclasses.is_dataclass(cfg) and callable(module.run) and cfg.to_dict()["steps"] >= 1
    with pytest.raises(UserError, match="^--steps 0 must be at least 1$"):
        make_config(name, steps=0)
    with pytest.raises(UserError, match=f"{name} has no setting colour"):
        make_config(name, colour="red")
    assert name.startswith("dimra_") or attack_record(name, cfg.to_dict())["name"] == name


@pytest.mark.parametrize("mode", ["retain", "mixed"])
def test_dimra_entries_are_dimra_bit_for_bit(mode, aux8):
    """The registry's DiMRA-<mode> = attack_set + dimra called directly: same losses, curve, weights,
    and the same settings record (so reproduce.py's cache keys do not change)."""
    name, f = f"dimra_{mode}", 4
    direct_cfg = DiMRAConfig(aux=mode, steps=6, eval_every=3, batch_size=8, seed=2)
    cfg = make_config(name, steps=6, eval_every=3, batch_size=8, seed=2)
    assert cfg.to_dict() == direct_cfg.to_dict()
    schedule = NoiseSchedule(50)
    model = tiny_unet()
    direct = dimra(model, schedule, attack_set(aux8, f, mode, 0.1, seed=2), f, direct_cfg, measure=probe,
                   progress=False)
    direct_w = model.state_dict()
    model = tiny_unet()
    res = run_attack(name, model, schedule, AttackData(aux8, f, seed=2), cfg, measure=probe, progress=False)
    assert res["loss"] == direct["loss"] and res["curve"] == direct["curve"] and res["diverged"] is False
    assert all(torch.equal(direct_w[k], v) for k, v in model.state_dict().items())
    assert (res["n_real"], res["n_real_forget"]) == ((900, 0) if mode == "retain" else (1000, 100))


def test_dimra_entries_fix_their_threat_model():
    assert "aux" not in {f.name for f in settings_of("dimra_retain")} | {f.name for f in settings_of("dimra_mixed")}
    assert "share" not in {f.name for f in settings_of("dimra_retain")}
    with pytest.raises(UserError, match="dimra_retain has no setting share"):
        make_config("dimra_retain", share=0.2)
    with pytest.raises(UserError, match="pass AttackData"):
        run_attack("dimra_mixed", tiny_unet(), NoiseSchedule(50), AttackData(None, 0), make_config("dimra_mixed"))


# ------------------------------------------------------------------ the README's example attack, registered
@pytest.fixture
def noise(monkeypatch):
    """examples/noise.py as attack/noise.py, with its entry in ATTACKS (README.md, "Add your own attack")."""
    monkeypatch.setitem(attack.ATTACKS, "noise", load_example("noise.py", "attack"))
    return "noise"


def test_a_registered_attack_runs_through_the_registry(noise):
    cfg = make_config(noise, lr=2e-4, steps=None, eval_every=1)     # None keeps the default
    assert cfg == attack.ATTACKS[noise].Config(lr=2e-4, eval_every=1) and cfg.steps == 300
    model = tiny_unet()
    res = run_attack(noise, model, NoiseSchedule(50), AttackData(None, 0), replace(cfg, steps=3), measure=probe,
                     start=-1.0, progress=False)
    assert res["curve"]["step"] == [0, 1, 2, 3] and res["curve"]["forget_acc"][0] == -1.0
    assert res["curve"]["forget_acc"][1] != res["curve"]["forget_acc"][2]     # measured the moved model
    with as_attacked(attack.ATTACKS[noise], model, None, res) as m:            # weights hold it: model itself
        assert m is model
    with pytest.raises(UserError, match="^--lr 0.0 must be positive$"):
        make_config(noise, lr=0.0)


def test_run_attack_checks_the_settings_type_and_the_result(noise, monkeypatch):
    with pytest.raises(TypeError, match="needs its own Config"):
        run_attack("dimra_retain", tiny_unet(), NoiseSchedule(50), AttackData(None, 0), DiMRAConfig())
    monkeypatch.setattr(attack.ATTACKS[noise], "run", lambda *a, **k: {"curve": {}, "loss": []})
    with pytest.raises(TypeError, match="returned no diverged, n_real, n_real_forget"):
        run_attack(noise, tiny_unet(), NoiseSchedule(50), AttackData(None, 0), make_config(noise))
    with pytest.raises(UserError, match="unknown attack 'nope': choose one of dimra_retain, dimra_mixed"):
        make_config("nope")


def tiny_checkpoints(tmp_path):
    """A tiny 8 px DDPM checkpoint and an (untrained) 8 px judge, written as the project writes them."""
    dcfg = DDPMConfig(image_size=8, ch=8, ch_mult=(1, 2), groups=4, T=50, ddim_steps=2)
    torch.manual_seed(0)
    ckpt, judge = str(tmp_path / "ddpm.pt"), str(tmp_path / "judge.pt")
    save_checkpoint({"kind": "ddpm", "config": dcfg.to_dict(), "model": UNet(dcfg.unet()).state_dict(),
                     "ema": None}, ckpt)
    jcfg = JudgeConfig(image_size=8, width=8, feature_dim=16)
    save_checkpoint({"kind": "judge", "config": dataclasses.asdict(jcfg), "in_channels": 1,
                     "model": Judge(1, 10, jcfg.width, jcfg.feature_dim).state_dict()}, judge)
    return ckpt, judge


def test_the_cli_builds_its_flags_from_the_chosen_attack(noise, tmp_path, capsys):
    ckpt, judge = tiny_checkpoints(tmp_path)
    out = tmp_path / "noise.pt"
    assert attack_main(["--name", noise, "--ckpt", ckpt, "--judge", judge, "--forget-class", "3", "--lr", "2e-4",
                        "--steps", "2", "--eval-every", "1", "--n-eval", "2", "--out", str(out)]) == 0
    saved = torch.load(out, weights_only=True)
    assert saved["attack_name"] == noise and saved["attack"]["lr"] == 2e-4 and saved["curve"]["step"] == [0, 1, 2]
    capsys.readouterr()                                                         # the first run's bars
    assert attack_main(["--name", noise, "--ckpt", ckpt, "--lr", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --lr 0.0 must be positive"


@pytest.mark.parametrize("flags,expect", [(["--name", "nope"], "unknown attack 'nope'"),
                                          (["--name", "inversion", "--aux", "mixed"], "use --name dimra_mixed"),
                                          (["--name", "datafree", "--n-samples", "0"], "--n-samples 0"),
                                          (["--name", "inversion", "--init", "zero"], "--init 'zero'"),
                                          (["--aux", "mixed", "--share", "1.5"], "--share 1.5")])
def test_cli_errors(flags, expect, capsys, tmp_path):
    assert attack_main(["--ckpt", str(tmp_path / "none.pt"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert expect in err and len(err.splitlines()) == 1


def test_legacy_aux_flag_picks_dimra_and_its_file_name(tmp_path):
    ckpt, judge = tiny_checkpoints(tmp_path)
    args = ["--ckpt", ckpt, "--judge", judge, "--forget-class", "1", "--steps", "1", "--batch-size", "4",
            "--n-eval", "2"]
    assert attack_main([*args, "--aux", "mixed", "--share", "0.05"]) == 0
    saved = torch.load(tmp_path / "ddpm-dimra-mixed.pt", weights_only=True)
    assert saved["attack"] == DiMRAConfig(aux="mixed", share=0.05, steps=1, batch_size=4).to_dict()
    assert attack_main(args) == 0
    assert (tmp_path / "ddpm-dimra-retain.pt").exists()


def test_an_attacks_own_defaults_are_used_unless_the_run_sets_them(tmp_path, monkeypatch):
    """reproduce.py gives an attack its own steps and eval_every unless --attack-steps / --eval-every say
    otherwise; the row's seed always; --eval-at only to an attack whose Config takes it."""
    import torch
    import types
    from attack.base import AttackConfig
    from dataclasses import dataclass
    from harness.pipeline import Pipeline
    from harness.settings import Settings

    @dataclass
    class Config(AttackConfig):
        steps: int = 7
        eval_every: int = 7
        seed: int = 0
    monkeypatch.setitem(attack.ATTACKS, "seven", types.SimpleNamespace(Config=Config, run=None))
    monkeypatch.chdir(tmp_path)
    pipe = Pipeline(Settings(seeds=(0,), precision="float32", progress=False, eval_at=(3,)), torch.device("cpu"))
    assert pipe.attack_config("seven", seed=2).to_dict() == {"steps": 7, "eval_every": 7, "seed": 2}
    assert pipe.attack_config("dimra_retain").eval_at == (3,)
    pipe.s = Settings(seeds=(0,), precision="float32", attack_steps=5, eval_every=5)
    assert pipe.attack_config("seven", own={"steps": 9}).to_dict() == {"steps": 9, "eval_every": 5, "seed": 0}
