"""Every error a user can make ends with one line on stderr that says what to do, and exit code 2."""
import subprocess
import sys

import pytest
import torch

import train
from attack.__main__ import main as attack_main
from lab.checkpoint import save_checkpoint
from tests.conftest import ROOT, error_lines
from unlearn.__main__ import main as unlearn_main


def run(main, argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("argv,expect", [
    (["ddpm", "--preset", "huge"], "unknown preset 'huge'"),
    (["ddpm", "--dataset", "imagenet", "--steps", "1"], "unknown dataset 'imagenet'"),
    (["ddpm", "--exclude-class", "11", "--steps", "1"], "class index 11 is out of range"),
    (["ddpm", "--device", "cuda:0", "--steps", "1"], "use --device cpu"),
    (["judge", "--dataset", "svhn"], "unknown dataset 'svhn'"),
    (["ddpm", "--device", "foo"], "--device 'foo' is not a device"),
    (["ddpm", "--ckpt-every", "0"], "--ckpt-every 0 must be at least 1"),
    (["ddpm", "--image-size", "10"], "image_size 10 cannot be halved"),
    (["ddpm", "--steps", "-5"], "--steps -5 must be at least 1"),
    (["ddpm", "--steps", "0"], "--steps 0 must be at least 1"),
    (["ddpm", "--batch-size", "0"], "--batch-size 0 must be at least 1"),
    (["ddpm", "--lr", "-1"], "--lr -1.0 must be positive"),
    (["ddpm", "--resume"], "does not exist; drop --resume"),
    (["judge", "--epochs", "0"], "--epochs 0 must be at least 1"),
])
def test_train_errors(argv, expect, capsys, tmp_path):
    if torch.cuda.is_available() and "cuda:0" in argv:
        pytest.skip("a GPU is present")
    code, err = run(train.main, argv + ["--out", str(tmp_path / "x.pt")], capsys)
    assert code == 2 and expect in err and len(error_lines(err)) == 1
    assert not (tmp_path / "x.pt").exists() and not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("what", ["ddpm", "judge"])
def test_an_impossible_output_path_is_refused_before_training(what, capsys, tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    code, err = run(train.main, [what, "--out", str(tmp_path / "file" / "x.pt"), "--steps" if what == "ddpm"
                                 else "--epochs", "1"], capsys)
    assert code == 2 and "cannot write" in err and len(error_lines(err)) == 1


def test_train_refuses_to_overwrite(capsys, tmp_path):
    out = tmp_path / "x.pt"
    save_checkpoint({"kind": "ddpm", "config": {}}, str(out))
    code, err = run(train.main, ["ddpm", "--out", str(out), "--steps", "1"], capsys)
    assert code == 2 and "pass --resume" in err


def test_resume_of_a_damaged_checkpoint(capsys, tmp_path):
    out = tmp_path / "x.pt"
    out.write_bytes(b"\x00garbage")
    code, err = run(train.main, ["ddpm", "--out", str(out), "--steps", "1", "--resume"], capsys)
    assert code == 2 and "damaged" in err and "delete it" in err


def test_unlearn_errors(capsys, tmp_path):
    missing = str(tmp_path / "none.pt")
    code, err = run(unlearn_main, ["--method", "ga", "--forget-class", "0", "--ckpt", missing], capsys)
    assert code == 2 and "not found" in err and "train.py ddpm" in err
    code, err = run(unlearn_main, ["--method", "forgetful", "--forget-class", "0", "--ckpt", missing], capsys)
    assert code == 2 and "unknown method" in err
    judge = str(tmp_path / "j.pt")
    save_checkpoint({"kind": "judge", "config": {}}, judge)
    code, err = run(unlearn_main, ["--method", "ga", "--forget-class", "0", "--ckpt", judge], capsys)
    assert code == 2 and "not a DDPM" in err


@pytest.mark.parametrize("flags,expect", [(["--steps", "0"], "--steps 0 must be at least 1"),
                                          (["--lr", "-1"], "--lr -1.0 must be positive"),
                                          (["--neg-guidance", "2"], "ga has no setting neg_guidance"),
                                          (["--device", "foo"], "--device 'foo' is not a device")])
def test_unlearn_refuses_bad_settings_before_loading_anything(flags, expect, capsys, tmp_path):
    code, err = run(unlearn_main, ["--method", "ga", "--forget-class", "0", "--ckpt", str(tmp_path / "none.pt"),
                                   *flags], capsys)
    assert code == 2 and expect in err and len(error_lines(err)) == 1


@pytest.mark.parametrize("flags,expect", [([], "not found"), (["--eval-every", "0"], "--eval-every 0"),
                                          (["--n-eval", "0"], "--n-eval 0"), (["--steps", "-1"], "--steps -1"),
                                          (["--aux", "all"], "--aux 'all'")])
def test_attack_errors(flags, expect, capsys, tmp_path):
    code, err = run(attack_main, ["--ckpt", str(tmp_path / "none.pt"), *flags], capsys)
    assert code == 2 and expect in err and len(error_lines(err)) == 1


@pytest.mark.slow
def test_cli_end_to_end_and_mismatched_judge(capsys, tmp_path):
    """train -> unlearn -> attack through the command-line entry points, at toy size."""
    ckpt, judge = str(tmp_path / "ddpm.pt"), str(tmp_path / "judge.pt")
    tiny = ["--steps", "2", "--batch-size", "8", "--ch", "8", "--ch-mult", "1,2", "--groups", "4",
            "--sample-every", "1000", "--ddim-steps", "2"]
    assert train.main(["ddpm", "--out", ckpt, *tiny]) == 0
    assert train.main(["judge", "--out", judge, "--epochs", "1", "--width", "8", "--image-size", "8"]) == 0
    out = str(tmp_path / "u.pt")
    assert unlearn_main(["--method", "salun", "--forget-class", "3", "--ckpt", ckpt, "--steps", "2",
                         "--out", out]) == 0
    assert torch.load(out, weights_only=True)["unlearn"]["method"] == "salun"
    capsys.readouterr()
    code, err = run(attack_main, ["--ckpt", out, "--judge", judge, "--steps", "2"], capsys)
    assert code == 2 and "trained on mnist5k at 8 px" in err          # the DDPM is 16 px
    assert train.main(["judge", "--out", judge, "--epochs", "1", "--width", "8"]) == 0
    assert attack_main(["--ckpt", out, "--judge", judge, "--steps", "2", "--eval-every", "1",
                        "--n-eval", "2"]) == 0
    attacked = torch.load(out.replace(".pt", "-dimra-retain.pt"), weights_only=True)
    assert attacked["forget_class"] == 3 and attacked["curve"]["step"] == [0, 1, 2]


def test_no_traceback_from_the_command_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "unlearn", "--method", "ga", "--forget-class", "0",
                        "--ckpt", str(tmp_path / "none.pt")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(error_lines(r.stderr)) == 1
