"""Device and precision chosen the way users expect, and bf16 only where it was measured to be faster."""
import json
import os
import platform
import subprocess
import sys

import pytest
import torch

from lab import hardware
from ddpm.errors import UserError
from ddpm.unet import UNetConfig
from harness.workers import WORKER_PEAK_GB, default_workers

CFG = UNetConfig(image_size=8, ch=8, ch_mult=(1, 2), groups=4)
CPU = torch.device("cpu")


def fake(speeds: dict):
    """A measure() that returns given seconds and records how often it was called."""
    calls = []

    def measure(precision, model_cfg, against=None):
        calls.append(precision)
        return speeds[precision]
    measure.calls = calls
    return measure


FAST_BF16 = {"float32": {"train": 0.40, "sample": 0.10}, "bf16": {"train": 0.24, "sample": 0.05}}
SLOW_BF16 = {"float32": {"train": 0.50, "sample": 0.12}, "bf16": {"train": 5.5, "sample": 3.4}}
MIXED = {"float32": {"train": 0.40, "sample": 0.10}, "bf16": {"train": 0.20, "sample": 0.09}}


@pytest.mark.parametrize("speeds,expected", [(FAST_BF16, "bf16"), (SLOW_BF16, "float32"), (MIXED, "float32")])
def test_auto_keeps_bf16_only_when_clearly_faster_at_both(speeds, expected, tmp_path):
    measure = fake(speeds)
    got = hardware.choose_precision("auto", CPU, CFG, announce=False, path=str(tmp_path / "p.json"), measure=measure)
    assert got == expected and sorted(measure.calls) == ["bf16", "float32"]


def test_a_cached_choice_is_reused_only_on_the_same_cpu_and_torch(tmp_path, monkeypatch):
    path = str(tmp_path / "p.json")
    first = fake(FAST_BF16)
    assert hardware.choose_precision("auto", CPU, CFG, False, path, first) == "bf16"
    again = fake(SLOW_BF16)                  # would say float32 if it were asked
    assert hardware.choose_precision("auto", CPU, CFG, False, path, again) == "bf16" and again.calls == []
    host = hardware.machine_key()
    for field in ("cpu", "torch", "kernels", "onednn_max_isa"):
        other = {**host, field: f"not {host[field]!r}"}     # differs from this host, whatever the host is
        monkeypatch.setattr(hardware, "machine_key", lambda other=other: other)
        measure = fake(SLOW_BF16)
        assert hardware.choose_precision("auto", CPU, CFG, False, path, measure) == "float32", field
        assert measure.calls, f"a choice measured on another {field} was reused"
    assert len(json.load(open(path))) == 5   # one entry per machine, none lost


def test_a_choice_measured_for_one_unet_is_never_reused_for_another(tmp_path):
    path = str(tmp_path / "p.json")
    assert hardware.choose_precision("auto", CPU, CFG, False, path, fake(FAST_BF16)) == "bf16"
    wider = UNetConfig(image_size=8, ch=16, ch_mult=(1, 2), groups=4)
    other = fake(SLOW_BF16)
    assert hardware.choose_precision("auto", CPU, wider, False, path, other) == "float32" and other.calls
    again = fake(SLOW_BF16)
    assert hardware.choose_precision("auto", CPU, CFG, False, path, again) == "bf16" and again.calls == []


def test_explicit_precisions_are_kept_and_bad_ones_refused(tmp_path):
    never = fake({})
    for p in ("float32", "bf16"):
        assert hardware.choose_precision(p, CPU, CFG, False, str(tmp_path / "p.json"), never) == p
    assert never.calls == []
    with pytest.raises(UserError, match="--precision"):
        hardware.choose_precision("fp16", CPU, CFG, False, str(tmp_path / "p.json"), never)


def test_a_damaged_cache_is_measured_again(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{not json")
    measure = fake(FAST_BF16)
    assert hardware.choose_precision("auto", CPU, CFG, False, str(path), measure) == "bf16" and measure.calls


def test_the_device_is_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert hardware.pick_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert hardware.pick_device().type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "fake GPU")
    assert hardware.pick_device().type == "cuda"
    assert hardware.pick_device("cpu").type == "cpu"          # --device overrides


def test_mps_and_cuda_choices(monkeypatch):
    assert hardware.choose_precision("auto", torch.device("mps"), CFG, False) == "float32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert hardware.choose_precision("auto", torch.device("cuda"), CFG, False) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert hardware.choose_precision("auto", torch.device("cuda"), CFG, False) == "float32"


def test_workers_fit_the_cores_and_the_memory():
    assert default_workers(CPU, False, cores=1, memory_gb=64) == 1               # one core: one process
    assert default_workers(CPU, False, cores=8, memory_gb=8 * WORKER_PEAK_GB) == 8
    assert default_workers(CPU, False, cores=8, memory_gb=2.5 * WORKER_PEAK_GB) == 2   # memory holds two
    assert default_workers(CPU, False, cores=8, memory_gb=0.1) == 1              # never zero
    assert default_workers(CPU, False, cores=4, memory_gb=None) == 4             # unknown memory
    assert default_workers(torch.device("cuda"), False, cores=8, memory_gb=64) == 1
    assert default_workers(CPU, True, cores=8, memory_gb=64) == 1                # --smoke


@pytest.mark.hardware
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="AVX2 kernels exist on x86 only")
def test_without_native_bf16_kernels_auto_measures_float32(tmp_path):
    """The real measurement, restricted to AVX2 kernels (a laptop CPU without AVX-512): bf16 is
    emulated there and many times slower, so auto must pick float32. Small probe sizes keep it short."""
    code = ("import functools, torch; from lab import hardware; from ddpm.unet import UNetConfig; "
            "m = functools.partial(hardware.time_precision, batch=8, images=4, sample_steps=1, rounds=1); "
            "print(hardware.choose_precision('auto', torch.device('cpu'), "
            "UNetConfig(image_size=16), announce=False, path=%r, measure=m))" % str(tmp_path / "p.json"))
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "float32"
    entry = json.load(open(tmp_path / "p.json"))[0]
    assert entry["key"]["kernels"] == "AVX2"
    assert entry["timings"]["bf16"]["train"] > entry["timings"]["float32"]["train"]


def test_a_probe_stopped_after_a_slow_bf16_training_step_picks_float32():
    """time_precision(..., against=float32's timings) stops before sampling when bf16 training is already
    too slow: decide() then keeps float32 and says the sampling was not timed."""
    word, why = hardware.decide({"float32": {"train": 0.4, "sample": 0.1}, "bf16": {"train": 5.5, "sample": None}})
    assert word == "float32" and "not timed" in why
    fast = hardware.decide({"float32": {"train": 0.4, "sample": 0.1}, "bf16": {"train": 0.2, "sample": 0.05}})
    assert fast[0] == "bf16"


def test_the_time_left_waits_for_every_parallel_worker(monkeypatch, capsys):
    """With 2 workers on 4 equal pieces of 60 s each (2 at a time), the first piece to finish says nothing
    (its speed is half the pool's); after the second the estimate is the truth: 2 pieces in 60 s, 2 left."""
    from harness import workers
    clock = iter([0.0, 60.0, 60.0])
    monkeypatch.setattr(workers.time, "time", lambda: next(clock))
    eta = workers.Eta(4.0, "rows", parallel=2)
    eta.update(1.0)
    assert capsys.readouterr().err == ""
    eta.update(1.0)
    assert "about 60 s left" in capsys.readouterr().err or "about 1 min left" in capsys.readouterr().err
