"""Every input of a stage key, changed alone, changes that stage's key (so a rerun recomputes it): the
wiring family where a setting never reaches the cache. One real smoke run makes the shared models;
then each variation only computes keys (harness.stages.cached is replaced by a recorder)."""
import os
from dataclasses import replace

import pytest
import torch

import reproduce
from harness import pipeline as pipeline_module
from harness.pipeline import Pipeline
from harness.settings import Settings, Variant

CPU = torch.device("cpu")
BASE = Settings(smoke=True, seeds=(0,), precision="float32", progress=False)


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        assert reproduce.main(["--smoke", "--seeds", "0", "--methods", "ga", "--precision", "float32"]) == 0
    finally:
        os.chdir(cwd)
    return folder


def stage_keys(settings: Settings, variant: Variant, tweak=None) -> dict:
    """{stage file: key} of one row's stages, computing nothing but the keys."""
    keys = {}

    def record(path, inputs, fn, fresh=False, env=None):
        keys[os.path.basename(path)] = pipeline_module.stages.fingerprint(inputs)
        return {"forget_acc": 0.0, "forget_acc_knn": 0.0}
    pipe = Pipeline(settings, CPU)
    pipe.prepare()
    if tweak:
        tweak(pipe)
    with pytest.MonkeyPatch.context() as patch:         # only for this call (the test's chdir stays)
        patch.setattr(pipeline_module.stages, "cached", record)
        pipe.run_variant(variant, settings.seeds[0])
    return keys


GA = Variant("ga", "ga")
CHANGES = {   # what changes -> (settings, row, seed, a change to the prepared pipeline)
    "attack_steps": (replace(BASE, attack_steps=6), GA, None),
    "eval_every": (replace(BASE, eval_every=1), GA, None),
    "n_forget": (replace(BASE, n_forget=12), GA, None),
    "n_retain": (replace(BASE, n_retain=5), GA, None),
    "uncond": (replace(BASE, uncond=4), GA, None),
    "seed": (replace(BASE, seeds=(1,)), GA, None),
    "a method setting": (BASE, Variant("ga", "ga", dict(lr=2e-5)), None),
    "an attack setting": (BASE, Variant("ga", "ga", attack=dict(lr=1e-3)), None),
    "the attack's data": (BASE, GA, lambda p: p.data_ids.update(aux="another split")),
    "the test data": (BASE, GA, lambda p: p.data_ids.update(test="another split")),
    "the training data": (BASE, GA, lambda p: p.data_ids.update(train="another split")),
    "the judge": (BASE, GA, lambda p: setattr(p, "judge_id", "another judge")),
    "the pre-trained weights": (BASE, GA, lambda p: p.model_ids.update({None: "other weights"})),
    "the precision": (BASE, GA, lambda p: setattr(p, "precision", {"precision": "bf16"})),
}


@pytest.mark.parametrize("what", list(CHANGES))
def test_each_input_changed_alone_changes_its_stages_keys(what, smoke_dir, monkeypatch):
    monkeypatch.chdir(smoke_dir)
    before = stage_keys(BASE, GA)
    settings, variant, tweak = CHANGES[what]
    after = stage_keys(settings, variant, tweak)
    shared = set(before) & set(after)
    changed = [name for name in after if name not in before or before[name] != after[name]]
    assert changed, f"changing {what} alone left every stage key as it was: the stage would not rerun"
    if what == "an attack setting":             # the evaluation does not depend on the attack
        assert before["ga.json"] == after["ga.json"] and shared


def test_the_same_inputs_give_the_same_keys(smoke_dir, monkeypatch):
    monkeypatch.chdir(smoke_dir)
    assert stage_keys(BASE, GA) == stage_keys(BASE, GA)
