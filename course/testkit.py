"""What the public and hidden tests share: `call`, which runs a student's function in the part's own
process (course/sandbox.py) and returns what it did, `expect`, which fails a test with one line
naming the property of the math that does not hold, and the small models and data of course/models.py.

    res = call("ga_loss", model, schedule, x_f, c_f, x_r, c_r, alpha=0.3, seed=13, backward=True)
    res.value            the return value (tensors detached); raises StudentError if the call raised
    res.grad(model)      d value / d theta of `model` as one vector (backward=True)
    res.calls(model)     each forward call of `model`: {'x', 't', 'c', 'grad'} (autograd on or off)
    res.after(model)     a copy of `model` with the weights the call left it with (after=True; then
                         res.report['arguments'] also holds the tensor arguments as the call left them)

`seed=` seeds torch in that process before the call; `sgd=Steps(...)` runs a few SGD steps on the
loss there (and implies after=True); these, `backward=` and `after=` are the call's options, never
the student function's arguments.
"""
import atexit
import copy
from dataclasses import asdict, dataclass

import pytest
import torch

from course import objects, wire
from course.child import one_line
from course.models import (BlowsUp, Constant, Counter, PerClass, Repeat, flat_grad, images,  # noqa: F401 (re-exported)
                           other_labels, tiny_unet)
from course.parts import ROOT, location, part_of

_state = {"session": None, "sandbox": None, "sessions": {}}


class StudentError(Exception):
    """The student's function raised, or did not import: str() is the one-line feedback."""


def expect(condition, message: str) -> None:
    """Fail the test with `message` (one line, no traceback) unless `condition` holds."""
    if not condition:
        pytest.fail(message, pytrace=False)


def expect_close(got, want, message: str, atol: float = 1e-5) -> None:
    """expect that two tensors (or numbers) agree to `atol`; the message gets the largest difference."""
    expect(isinstance(got, (torch.Tensor, float, int)), f"{message} (got a {type(got).__name__}, not a tensor)")
    got, want = torch.as_tensor(got).detach().double(), torch.as_tensor(want).detach().double()
    expect(got.shape == want.shape, f"{message} (shape {tuple(got.shape)}, expected {tuple(want.shape)})")
    diff = (got - want).abs().max().item() if got.numel() else 0.0
    expect(diff <= atol, f"{message} (largest difference {diff:.3g})")


@dataclass
class Steps:
    """`steps` steps of SGD at rate `lr` on the loss, recomputed each step (after torch.manual_seed(seed)
    when seed is given); the call's value is then the loss before each step and after the last."""
    steps: int
    lr: float
    seed: int | None = None


def use(session) -> None:
    """The session (course/sandbox.py) whose child runs the calls of the tests that follow (the runner's)."""
    _state["session"] = session


def session_for(function: str):
    """The runner's session; outside the runner (plain pytest), a child of this tree for the part."""
    if _state["session"] is not None:
        return _state["session"]
    from course.sandbox import Sandbox
    part = part_of(function)
    if part not in _state["sessions"] or _state["sandbox"].current is not _state["sessions"][part]:
        if _state["sandbox"] is None:
            _state["sandbox"] = Sandbox()
            atexit.register(_state["sandbox"].close)
        _state["sessions"][part] = _state["sandbox"].open(part, ROOT, functions_of(part))
    return _state["sessions"][part]


def functions_of(part: str) -> dict:
    """{function: module} of a part, what its child imports."""
    from course.parts import PARTS
    return {name: location(name)[1] for _, name in PARTS[part]}


def call(function: str, *args, seed: int | None = None, backward: bool = False, sgd: Steps | None = None,
         after: bool = False, **kwargs) -> "Result":
    """Run the student's `function` on these inputs in the part's process; see the module docstring."""
    ids = {}

    def form(obj):
        return objects.input_form(obj, ids)
    message = {"function": function, "args": wire.encode(list(args), form), "kwargs": wire.encode(kwargs, form),
               "seed": seed, "backward": backward, "sgd": asdict(sgd) if sgd else None, "after": after or bool(sgd)}
    answer = session_for(function).call(message)
    return Result(function, answer, ids)


class Result:
    """What one call of a student's function did (see the module docstring)."""

    def __init__(self, function: str, answer: dict, ids: dict):
        self.function, self.ids = function, ids
        self.ok, self._value, self.report = bool(answer.get("ok")), None, {}
        try:
            if self.ok:
                self._value, self.report = wire.decode(answer.get("value")), wire.decode(answer.get("report")) or {}
        except wire.WireError as error:
            self.ok, answer = False, {"error": {"type": "an answer the grader cannot read", "message": str(error)}}
        self.error = None if self.ok else describe(answer.get("error") or {})
        self._raised = None if self.ok else (answer.get("error") or {}).get("type")
        self._todo = not self.ok and bool((answer.get("error") or {}).get("todo"))

    @property
    def raised(self) -> str | None:
        """The name of the exception the call raised (None if it returned); a TODO still there is not an
        answer: StudentError ('not implemented yet')."""
        if self._todo:
            raise StudentError(self.error)
        return self._raised

    @property
    def value(self):
        if not self.ok:
            raise StudentError(self.error)
        return self._value

    @property
    def requires_grad(self) -> bool:
        return isinstance(self.value, torch.Tensor) and self.value.requires_grad

    def _model(self, model) -> dict:
        self.value                                   # a failed call has no report: raise its error
        return (self.report.get("models") or {}).get(str(self.ids[id(model)]), {})

    def calls(self, model) -> list:
        calls = self._model(model).get("calls") or []
        return [c for c in calls if isinstance(c, dict) and all(isinstance(c.get(k), torch.Tensor) for k in "xtc")]

    def labels(self, model) -> torch.Tensor:
        calls = self.calls(model)
        return torch.cat([c["c"].reshape(-1) for c in calls]) if calls else torch.empty(0, dtype=torch.long)

    def grads(self, model) -> dict:
        return self._model(model).get("grads") or {}

    def grad(self, model) -> torch.Tensor:
        got = self.grads(model)
        return torch.cat([(got.get(n) if isinstance(got.get(n), torch.Tensor) else torch.zeros_like(p)).flatten().double()
                          for n, p in model.named_parameters()])

    def after(self, model):
        """A copy of `model` with the weights the call left it with."""
        state = self._model(model).get("state")
        if state is None:
            raise ValueError("res.after(model) needs call(..., after=True)")
        out = copy.deepcopy(model)
        out.load_state_dict({k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in state.items()})
        return out

    @property
    def measure_calls(self) -> int:
        self.value                                   # a failed call: raise its error
        return int(self.report.get("measure_calls", 0))

    @property
    def stream_reads(self) -> int:
        self.value
        return int(self.report.get("stream_reads", 0))


def describe(error: dict) -> str:
    """One line for an error the student's code raised."""
    if error.get("todo"):
        return f"not implemented yet: {error['todo']}"
    return one_line({"type": str(error.get("type", "Error")), "message": error.get("message"),
                     "where": error.get("where")})
