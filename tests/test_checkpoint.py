import os

import pytest
import torch

from ddpm.errors import UserError
from lab.checkpoint import load_checkpoint, save_checkpoint
from lab.hardware import precision_region
from lab.presets import make_config
from lab.pretrain import finished, load_ddpm, precision, pretrain

TINY = dict(steps=6, batch_size=8, ch=8, ch_mult=(1, 2), groups=4, ckpt_every=3, sample_every=10 ** 6,
            warmup=2)


def test_round_trip_weights_only(tmp_path):
    path = str(tmp_path / "c.pt")
    obj = {"kind": "ddpm", "config": {"a": 1, "t": (1, 2)}, "w": torch.arange(3.0), "rng": torch.get_rng_state()}
    save_checkpoint(obj, path)
    back = torch.load(path, weights_only=True)
    assert torch.equal(back["w"], obj["w"]) and back["config"] == obj["config"]
    assert os.listdir(tmp_path) == ["c.pt"]          # no temporary file left behind


def test_resume_gives_the_same_next_steps(tmp_path):
    cfg = make_config("mnist5k-quick", **TINY)
    full = str(tmp_path / "full.pt")
    pretrain(cfg, full, progress=False)
    part = str(tmp_path / "part.pt")
    pretrain(make_config("mnist5k-quick", **{**TINY, "steps": 3}), part, progress=False)   # "killed" at step 3
    pretrain(cfg, part, resume=True, progress=False)
    a, b = torch.load(full, weights_only=True), torch.load(part, weights_only=True)
    assert b["step"] == 6 and a["history"]["loss"] == b["history"]["loss"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    model, schedule, cfg2, _ = load_ddpm(part)
    assert cfg2.ch == 8


def test_resume_with_another_config_is_refused(tmp_path):
    path = str(tmp_path / "c.pt")
    pretrain(make_config("mnist5k-quick", **{**TINY, "steps": 3}), path, progress=False)
    with pytest.raises(UserError, match="exists: pass --resume"):
        pretrain(make_config("mnist5k-quick", **TINY), path, progress=False)
    with pytest.raises(UserError, match="written with lr="):
        pretrain(make_config("mnist5k-quick", **{**TINY, "lr": 0.5}), path, resume=True, progress=False)


def test_a_run_is_not_continued_or_reused_in_another_precision(tmp_path):
    """A float32 pre-training is neither resumed nor taken as finished inside the CPU's bf16 region
    (reproduce.py --precision bf16), and the other way round; a checkpoint without a recorded precision (written
    before it was recorded) is accepted."""
    cfg, path = make_config("mnist5k-quick", **{**TINY, "steps": 3}), str(tmp_path / "c.pt")
    pretrain(cfg, path, progress=False)
    assert torch.load(path, weights_only=True)["precision"] == "float32"
    assert finished(path, cfg, torch.device("cpu"))
    with precision_region("bf16"):
        with pytest.raises(UserError, match="trained in float32 and this run computes in bf16"):
            finished(path, cfg, torch.device("cpu"))
        with pytest.raises(UserError, match="trained in float32"):
            pretrain(make_config("mnist5k-quick", **TINY), path, resume=True, progress=False)
    with precision_region("bf16"):                  # what pretrain() records inside the bf16 region
        assert precision(cfg, torch.device("cpu")) == "bf16"
    assert precision(cfg, torch.device("cpu")) == "float32"
    # a bf16 run's checkpoint: the float32 one relabelled (training in bf16 here would take a minute on a
    # CPU without native bf16; which precision is recorded is what the checks read)
    bf16 = str(tmp_path / "b.pt")
    save_checkpoint({**torch.load(path, weights_only=True), "precision": "bf16"}, bf16)
    with pytest.raises(UserError, match="trained in bf16 and this run computes in float32"):
        finished(bf16, cfg, torch.device("cpu"))
    old = torch.load(path, weights_only=True)
    del old["precision"]
    save_checkpoint(old, path)
    with precision_region("bf16"):
        assert finished(path, cfg, torch.device("cpu"))


def test_damaged_and_missing_checkpoints(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="damaged"):
        load_checkpoint(str(bad))
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(str(tmp_path / "missing.pt"))
    judge_like = str(tmp_path / "j.pt")
    save_checkpoint({"kind": "judge", "config": {}}, judge_like)
    with pytest.raises(UserError, match="not a DDPM"):
        load_ddpm(judge_like)


def test_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / "c.pt")
    save_checkpoint({"kind": "ddpm", "config": {}, "v": 1}, path)

    def full(obj, f):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(UserError, match="No space left on device.*intact"):
        save_checkpoint({"kind": "ddpm", "config": {}, "v": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["v"] == 1 and os.listdir(tmp_path) == ["c.pt"]


def test_two_writers_of_one_file_never_collide(tmp_path):
    """Each save writes its own temporary file: two runs saving the same path at once both succeed."""
    import threading
    path, errors = str(tmp_path / "c.pt"), []

    def writer(k):
        try:
            for i in range(20):
                save_checkpoint({"kind": "ddpm", "config": {}, "w": torch.full((1000,), float(k))}, path)
        except Exception as e:          # noqa: BLE001 - any failure is the bug this test looks for
            errors.append(e)
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and os.listdir(tmp_path) == ["c.pt"]
    assert torch.load(path, weights_only=True)["w"][0] in (0.0, 1.0)


def test_weights_hash_sees_any_change():
    from lab.checkpoint import weights_hash
    a = {"w": torch.zeros(3), "b": torch.ones(2)}
    assert weights_hash(a) == weights_hash({"b": torch.ones(2), "w": torch.zeros(3)})
    assert weights_hash(a) != weights_hash({"w": torch.tensor([0.0, 0.0, 1e-7]), "b": torch.ones(2)})


def test_shipped_weights_load_like_a_checkpoint_and_refuse_a_changed_file(tmp_path):
    from ddpm.config import build_model
    from lab.checkpoint import save_shipped
    cfg = make_config("mnist5k-quick", **TINY)
    model, _ = build_model(cfg)
    path = str(tmp_path / "m.safetensors")
    meta = save_shipped(model.state_dict(), {"kind": "ddpm", "config": cfg.to_dict(), "command": "test"}, path)
    loaded, _, cfg2, ckpt = load_ddpm(path)
    assert cfg2 == cfg and ckpt["meta"]["sha256"] == meta["sha256"]
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with open(path, "r+b") as f:           # flip one byte of the weights
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(UserError, match="does not match the sha256"):
        load_ddpm(path)


def test_the_pipeline_uses_shipped_weights_whose_config_matches(tmp_path, monkeypatch):
    import harness.pipeline as reproduce
    from ddpm.config import build_model
    from lab.checkpoint import save_shipped
    monkeypatch.chdir(tmp_path)
    pipe = reproduce.Pipeline(reproduce.Settings(seeds=(0,), precision="float32"), torch.device("cpu"))
    model, _ = build_model(pipe.cfg)
    shipped = os.path.join("weights", "mnist5k-quick-ddpm.safetensors")
    save_shipped(model.state_dict(), {"kind": "ddpm", "config": pipe.cfg.to_dict()}, shipped)
    ddpm_path, _, jobs = pipe.base_models()          # (pre-trained, Retrain, the trainings still needed)
    assert ddpm_path == shipped and [name for name, _, _ in jobs] == ["retrain"]     # no Retrain shipped here
    pipe.s.from_scratch = True                       # --from-scratch trains instead
    assert [name for name, _, _ in pipe.base_models()[2]] == ["pretrain", "retrain"]
