import os

import pytest
import torch

from ddpm.checkpoint import load_checkpoint, save_checkpoint
from ddpm.errors import UserError
from ddpm.pretrain import load_ddpm, make_config, pretrain

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
