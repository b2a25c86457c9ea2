"""Every input of a stage key, changed alone, changes the keys of the stages that depend on it, and only
those (so a rerun recomputes exactly what it must): the wiring family where a setting never reaches
the cache. One pipeline is prepared on the shared smoke run's models; each variation copies it, changes
one input, and computes nothing but the keys (harness.stages.cached is replaced by a recorder)."""
import copy
import os
import types
from dataclasses import replace

import pytest
import torch

from harness import pipeline as pipeline_module
from harness.pipeline import Pipeline
from harness.settings import Settings, Variant

CPU = torch.device("cpu")
BASE = Settings(smoke=True, seeds=(0,), precision="float32", progress=False)
GA = Variant("ga", "ga")
EVAL, ATTACK, AFTER = "ga.json", "ga-dimra-retain.json", "ga-dimra-retain-after.json"


@pytest.fixture(scope="module")
def prepared(shared_smoke, tmp_path_factory):
    """A Pipeline prepared once on a copy of the shared smoke run (its models, judge and data)."""
    folder = tmp_path_factory.mktemp("keys")
    os.symlink(shared_smoke / "runs", folder / "runs")
    os.makedirs(folder / "results")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        pipe = Pipeline(BASE, CPU)
        pipe.prepare()
    finally:
        os.chdir(cwd)
    pipe.root = folder
    return pipe


def stage_keys(pipe: Pipeline, settings: Settings = BASE, variant: Variant = GA, tweak=None) -> dict:
    """{stage file: key} of one row's stages under `settings`, computing nothing but the keys."""
    pipe = copy.copy(pipe)
    pipe.s = settings
    pipe.data_ids, pipe.model_ids = dict(pipe.data_ids), dict(pipe.model_ids)
    if tweak:
        tweak(pipe)
    keys = {}

    def record(path, inputs, fn, fresh=False, env=None):
        keys[os.path.basename(path)] = pipeline_module.stages.fingerprint(inputs)
        return {"forget_acc": 0.0, "forget_acc_knn": 0.0}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline_module.stages, "cached", record)
        pipe.run_variant(variant, settings.seeds[0])
    return keys


ALL = {EVAL, ATTACK, AFTER}
CHANGES = {   # what changes -> (settings, row, a change to the prepared pipeline, stages it must change, must not)
    "attack_steps": (replace(BASE, attack_steps=6), GA, None, {ATTACK, AFTER}, {EVAL}),
    "eval_every": (replace(BASE, eval_every=1), GA, None, {ATTACK}, {EVAL}),
    "eval_at": (replace(BASE, eval_at=(1,)), GA, None, {ATTACK}, {EVAL}),
    "n_forget": (replace(BASE, n_forget=12), GA, None, {EVAL, ATTACK}, set()),
    "n_retain": (replace(BASE, n_retain=5), GA, None, {EVAL}, {ATTACK, AFTER}),
    "n_after": (replace(BASE, n_after=3), GA, None, {AFTER}, {EVAL, ATTACK}),
    "uncond": (replace(BASE, uncond=4), GA, None, {EVAL}, {ATTACK}),
    "seed": (replace(BASE, seeds=(1,)), GA, None, ALL, set()),
    "a method setting": (BASE, Variant("ga", "ga", dict(lr=2e-5)), None, ALL, set()),
    "an attack setting": (BASE, Variant("ga", "ga", attack=dict(lr=1e-3)), None, {"ga-dimra-retain-lr0.001.json"}, {EVAL}),
    "the attack's data": (BASE, GA, lambda p: p.data_ids.update(aux="another split"), {ATTACK, AFTER}, {EVAL}),
    "the test data": (BASE, GA, lambda p: p.data_ids.update(test="another split"), {EVAL, AFTER}, {ATTACK}),
    "the training data": (BASE, GA, lambda p: p.data_ids.update(train="another split"), ALL, set()),
    "the judge's weights": (BASE, GA, lambda p: setattr(p, "judge_id", "another judge"), ALL, set()),
    "the second judge": (BASE, GA, lambda p: setattr(p, "knn", types.SimpleNamespace(id="another kNN")),
                         {EVAL, ATTACK}, set()),
    "the pre-trained weights": (BASE, GA, lambda p: p.model_ids.update({None: "other weights"}), ALL, set()),
    "the precision": (BASE, GA, lambda p: setattr(p, "precision", {"precision": "bf16"}), ALL, set()),
}


@pytest.mark.parametrize("what", list(CHANGES))
def test_each_input_changed_alone_changes_exactly_its_stages_keys(what, prepared):
    before = stage_keys(prepared)
    settings, variant, tweak, must, must_not = CHANGES[what]
    after = stage_keys(prepared, settings, variant, tweak)
    changed = {name for name in after if name not in before or before[name] != after[name]}
    assert must <= changed, f"changing {what} alone left {sorted(must - changed)} as it was: it would not rerun"
    assert not (must_not & changed), f"changing {what} alone changed {sorted(must_not & changed)}: needless work"


def test_the_same_inputs_give_the_same_keys(prepared):
    assert stage_keys(prepared) == stage_keys(prepared) and set(stage_keys(prepared)) >= ALL


def test_a_shipped_unlearned_model_is_used_only_under_its_stage_key(prepared, tmp_path, monkeypatch):
    """make demo's shipped unlearned models (tools/ship_weights.py --unlearned) replace the unlearning
    only when their stage key is the row's: another setting, base model or precision trains instead."""
    from lab.checkpoint import save_shipped
    from lab.pretrain import load_ddpm
    pipe = copy.copy(prepared)
    os.symlink(pipe.root / "runs", tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipe, "folder", lambda seed: str(tmp_path / "nothing-cached"))
    monkeypatch.setattr(pipe, "shipped", pipeline_module.stages.shipped)
    state = {k: v + 1.0 for k, v in load_ddpm(pipe.ddpm_path)[0].state_dict().items()}
    key = pipeline_module.stages.fingerprint(pipe.model_inputs(GA, 0))
    save_shipped(state, {"kind": "unlearned", "config": {"stage_key": key}, "history": {"loss": [1.0]}},
                 f"weights/{pipe.s.preset}-ga-forget{pipe.f}-seed0.safetensors")

    def never(*args, **kwargs):
        raise AssertionError("unlearned again although a shipped model has the row's key")
    monkeypatch.setattr(pipeline_module, "unlearn", never)
    model, _, hist = pipe.unlearned_model(GA, 0)
    assert hist == {"loss": [1.0]} and all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    with pytest.raises(AssertionError, match="unlearned again"):
        pipe.unlearned_model(Variant("ga", "ga", dict(lr=2e-5)), 0)
