"""The test inputs that cross the wire (course/wire.py): models, noise schedules, image sets, attack
settings, streams of batches and `measure` callbacks.

The grader's side, `input_form`, turns each into plain data (a model: its class, its constructor's
arguments and its weights). The student's side, `Inputs`, builds them again and watches them: every
forward call of every model is recorded (its x, t, c and whether autograd was on), every `measure`
call and every batch taken from a stream are counted, and `report` sends back each model's weights
and gradients after the call. Only the classes named here can be built.
"""
import json
from dataclasses import asdict, fields, is_dataclass

import torch
from torch import nn

from course import wire

CONFIGS = {"attack.dimra.DiMRAConfig"}          # the settings classes a test may pass, by module.qualname
_SPARE = {}                                      # {UNet config: UNets of earlier calls}: building one is slow


def input_form(obj, ids: dict):
    """The wire form of a test input the plain codec does not know, or None. `ids` numbers the models."""
    from ddpm.data import ImageData
    from ddpm.schedule import NoiseSchedule
    from course import models
    if isinstance(obj, NoiseSchedule):
        return {"__t__": "schedule", "T": obj.T, "kind": obj.kind}
    if isinstance(obj, nn.Module):
        return model_form(obj, ids.setdefault(id(obj), len(ids)))
    if isinstance(obj, ImageData):
        return {"__t__": "imagedata", "images": encode_plain(obj.images), "labels": encode_plain(obj.labels),
                "num_classes": obj.num_classes}
    if isinstance(obj, models.Repeat):
        return {"__t__": "stream", "item": encode_plain(obj.item)}
    if isinstance(obj, (models.Counter, models.Constant)):
        return {"__t__": "measure", "value": getattr(obj, "value", None)}
    if is_dataclass(obj) and f"{type(obj).__module__}.{type(obj).__qualname__}" in CONFIGS:
        return {"__t__": "config", "class": f"{type(obj).__module__}.{type(obj).__qualname__}",
                "fields": {f.name: encode_plain(getattr(obj, f.name)) for f in fields(obj) if f.init}}
    return None


def encode_plain(obj):
    return wire.encode(obj)


def model_form(model: nn.Module, number: int) -> dict:
    from course.models import BlowsUp, PerClass
    from ddpm.unet import UNet
    if isinstance(model, UNet):
        cls, init = "UNet", asdict(model.config)
    elif isinstance(model, PerClass):
        cls, init = "PerClass", {"shape": list(model.table.shape)}
    elif isinstance(model, BlowsUp):
        cls, init = "BlowsUp", {"after": model.after, "config": asdict(model.model.config)}
    else:
        raise TypeError(f"a test passed a {type(model).__name__}: course/objects.py can send UNet, PerClass, BlowsUp")
    return {"__t__": "model", "id": number, "class": cls, "init": init, "training": model.training,
            "frozen": [n for n, p in model.named_parameters() if not p.requires_grad],
            "state": {k: encode_plain(v) for k, v in model.state_dict().items()}}


def construct(cls: str, init: dict) -> nn.Module:
    from course.models import BlowsUp, PerClass
    from ddpm.unet import UNet, UNetConfig
    if cls == "UNet":
        return UNet(UNetConfig(**init))
    if cls == "PerClass":
        return PerClass(torch.zeros(init["shape"]))
    if cls == "BlowsUp":
        return BlowsUp(int(init["after"]), UNetConfig(**init["config"]))
    raise ValueError(f"unknown model class {cls!r}")


def build_model(form: dict, dec, spare: list | None = None) -> nn.Module:
    """The model a form describes: a UNet from `spare` (one this child built for an earlier call,
    reset here) when there is one, else a new one."""
    model = spare.pop() if spare else construct(form["class"], form["init"])
    model.load_state_dict({k: dec(v) for k, v in form["state"].items()})
    for name, p in model.named_parameters():
        p.requires_grad_(name not in form["frozen"])
        p.grad = None
    return model.train(bool(form["training"]))


class Inputs:
    """The student's side: builds the inputs of one call and records what the student's code did with them."""

    def __init__(self):
        self.models, self.calls, self.measure_calls, self.stream_reads, self.hooks = {}, {}, 0, 0, []

    def build(self, kind: str, form: dict, dec):
        """wire.decode's hook for the kinds above."""
        if kind == "schedule":
            from ddpm.schedule import NoiseSchedule
            return NoiseSchedule(int(form["T"]), str(form["kind"]))
        if kind == "imagedata":
            from ddpm.data import ImageData
            return ImageData(dec(form["images"]), dec(form["labels"]), int(form["num_classes"]))
        if kind == "model":
            spare = _SPARE.setdefault(json.dumps(form["init"], sort_keys=True), []) if form["class"] == "UNet" else None
            return self.watch(int(form["id"]), build_model(form, dec, spare))
        if kind == "stream":
            return self.stream(dec(form["item"]))
        if kind == "measure":
            return self.measure(form["value"])
        if kind == "config":
            return self.config(form, dec)
        raise ValueError(f"unknown input kind {kind!r}")

    def watch(self, number: int, model: nn.Module) -> nn.Module:
        self.models[number], self.calls[number] = model, []

        def record(module, args, kwargs, output):
            given = list(args[:3]) + [kwargs.get(name) for name in ("x", "t", "c")[len(args[:3]):]]
            self.calls[number].append({name: v.detach().clone() if isinstance(v, torch.Tensor) else v
                                       for name, v in zip(("x", "t", "c"), given)} | {"grad": torch.is_grad_enabled()})
        self.hooks.append(model.register_forward_hook(record, with_kwargs=True))
        return model

    def release(self) -> None:
        """After the call: the UNets go back to the spares, without this call's hooks."""
        for hook in self.hooks:
            hook.remove()
        for model in self.models.values():
            if type(model).__name__ == "UNet":
                _SPARE.setdefault(json.dumps(asdict(model.config), sort_keys=True), []).append(model)

    def stream(self, item):
        inputs = self

        class Stream:
            def __iter__(self):
                return self

            def __next__(self):
                inputs.stream_reads += 1
                return item
        return Stream()

    def measure(self, value):
        def measure(model) -> float:
            self.measure_calls += 1
            return float(self.measure_calls) if value is None else float(value)
        return measure

    def config(self, form: dict, dec):
        import importlib
        if form["class"] not in CONFIGS:
            raise ValueError(f"unknown settings class {form['class']!r}")
        module, name = form["class"].rsplit(".", 1)
        return getattr(importlib.import_module(module), name)(**{k: dec(v) for k, v in form["fields"].items()})

    def report(self, weights: bool = True, grads: bool = True) -> dict:
        """What the grader reads back besides the value: each model's calls, and its weights and
        gradients after the call when asked for."""
        out = {}
        for number, model in self.models.items():
            out[str(number)] = {"calls": self.calls[number]}
            if weights:
                out[str(number)]["state"] = dict(model.state_dict())
            if grads:
                out[str(number)]["grads"] = {n: p.grad for n, p in model.named_parameters()}
        return {"models": out, "measure_calls": self.measure_calls, "stream_reads": self.stream_reads}
