"""The processes that run a student's code; the grader's side is course/sandbox.py.

    python -m course.child IN OUT STATUS       (started by course/sandbox.py, never by hand)

The zygote imports torch and the other libraries the project uses, and nothing of the project
itself: no student code, no test, no grader module. For each part it forks one child, which
  - puts itself in its own process group, lowers its limits (RLIMIT_AS: its size now plus the
    part's memory budget; RLIMIT_CPU; RLIMIT_FSIZE; no core files) and, when the grader asks and
    runs as root, becomes another user (`nobody` on Gradescope), who cannot read the grader's files;
  - says "ready", imports the part's module from the part's own tree (the student's functions of
    that part spliced into a clean project), and answers "call" requests until told to close.
While the child runs, the zygote waits for it, then reports how it ended. They talk to the grader in
the frames of course/wire.py: requests come in on IN; the child answers on OUT; the zygote reports on
STATUS, which the child closes before anything else, so that it cannot forge the zygote's word.
"""
import importlib
import importlib.abc
import importlib.machinery
import os
import resource
import signal
import sys
import traceback

from course import wire

PRELOAD = ["numpy", "einops", "tqdm.auto", "torch", "torch.nn.functional", "torch.optim"]
PRINTED_CHARS = 2000


def preload() -> None:
    """Import the libraries every child needs once, here (a child then starts in milliseconds)."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    import torch
    torch.set_num_threads(1)
    p = torch.nn.Parameter(torch.zeros(2))          # the first optimizer step imports more of torch: do it here
    for opt in (torch.optim.Adam([p], lr=0.1), torch.optim.SGD([p], lr=0.1)):
        p.sum().backward()
        opt.step()


def zygote(fd_in: int, fd_out: int, fd_status: int) -> None:
    """Fork a child for each 'fork' request; report its pid, then how it ended."""
    preload()
    wire.send(fd_status, {"op": "zygote-ready", "pid": os.getpid()})
    while True:
        try:
            request = wire.receive(fd_in)
        except wire.WireError:
            return                                   # the grader went away
        if request.get("op") != "fork":
            continue
        pid = os.fork()
        if pid == 0:
            try:
                os.close(fd_status)
                serve(fd_in, fd_out, request)
            finally:
                os._exit(70)
        wire.send(fd_status, {"op": "forked", "pid": pid})
        _, status = os.waitpid(pid, 0)
        wire.send(fd_status, {"op": "exited", "code": os.waitstatus_to_exitcode(status)})


def set_limits(limits: dict) -> None:
    """The part's limits, lowered in the child itself before any student code runs."""
    with open("/proc/self/status", encoding="ascii") as f:
        size_kb = next((int(line.split()[1]) for line in f if line.startswith("VmSize:")), 0)
    memory = size_kb * 1024 + int(limits["memory_mb"]) * (1 << 20)
    for what, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, int(limits["cpu_s"])),
                        (resource.RLIMIT_FSIZE, int(limits["file_mb"]) << 20), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(what, (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)    # a write past RLIMIT_FSIZE fails instead of killing


def become(user, home: str) -> None:
    """Drop to (uid, gid) when running as root and the grader asked for it."""
    os.environ.update({"HOME": home, "TMPDIR": home})
    if user and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(int(user[1]))
        os.setuid(int(user[0]))


class TreeFinder(importlib.abc.MetaPathFinder):
    """Finds the top-level packages of the part's tree (ddpm, unlearn, ...) before anything else."""

    def __init__(self, root: str):
        self.root = root

    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.PathFinder.find_spec(name, [self.root]) if path is None else None


def serve(fd_in: int, fd_out: int, request: dict) -> None:
    """The child: set itself up, import the part's modules, answer calls until 'close'."""
    os.setpgid(0, 0)
    set_limits(request["limits"])
    become(request.get("user"), request["home"])
    os.chdir(request["root"])
    sys.meta_path.insert(0, TreeFinder(request["root"]))
    wire.send(fd_out, {"op": "ready", "token": request["token"]})
    modules, problem = {}, None
    for function, module in request["functions"].items():
        try:
            modules[function] = importlib.import_module(module)
        except BaseException as error:               # SyntaxError, ImportError, or worse: said on each call
            stop_if_fatal(error, fd_out, request["token"])
            problem = f"{module.replace('.', '/')}.py does not import: {one_line(describe(error, request['root']))}"
    while True:
        message = wire.receive(fd_in)
        if message.get("op") != "call":
            os._exit(0)
        answer = {"ok": False, "error": {"type": "ImportError", "message": problem}} if problem else \
            run_call(message, modules, request, fd_out)
        wire.send(fd_out, {"token": request["token"], **answer})


def run_call(message: dict, modules: dict, request: dict, fd_out: int) -> dict:
    """Build the inputs, call the student's function (capturing what it prints), report."""
    import torch
    from course.objects import Inputs
    inputs = Inputs()
    saved = capture_prints(request["home"])
    try:
        args = wire.decode(message["args"], inputs.build)
        kwargs = wire.decode(message["kwargs"], inputs.build)
        function = getattr(modules[message["function"]], message["function"])
        if message.get("seed") is not None:
            torch.manual_seed(int(message["seed"]))
        value = sgd(function, args, kwargs, message["sgd"]) if message.get("sgd") else function(*args, **kwargs)
        if message.get("backward"):
            value.backward()
        report = inputs.report(bool(message.get("after")), bool(message.get("backward") or message.get("sgd")))
        if message.get("after"):
            report["arguments"] = [a if isinstance(a, torch.Tensor) else None for a in args]
        answer = {"ok": True, "value": wire.encode(value), "report": wire.encode(report)}
        inputs.release()
    except BaseException as error:
        printed = restore_prints(saved)
        stop_if_fatal(error, fd_out, request["token"], printed)
        return {"ok": False, "error": describe(error, request["root"]), "printed": printed}
    return answer | {"printed": restore_prints(saved)}


def sgd(function, args, kwargs, spec: dict) -> list:
    """spec['steps'] steps of SGD on the first model argument, the loss recomputed each step (reseeded
    with spec['seed'] if given); returns the loss before each step and after the last."""
    import torch
    model = next(a for a in args if isinstance(a, torch.nn.Module))
    optimizer = torch.optim.SGD(model.parameters(), lr=float(spec["lr"]))
    losses = []
    for step in range(int(spec["steps"]) + 1):
        if spec.get("seed") is not None:
            torch.manual_seed(int(spec["seed"]))
        loss = function(*args, **kwargs)
        losses.append(float(loss.detach()))
        if step < int(spec["steps"]):
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return losses


def capture_prints(folder: str):
    """Send this process's stdout and stderr to a file while the student's code runs."""
    sys.stdout.flush(), sys.stderr.flush()
    path = os.path.join(folder, "printed.txt")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    saved = os.dup(1), os.dup(2), fd
    os.dup2(fd, 1), os.dup2(fd, 2)
    return saved


def restore_prints(saved) -> str:
    """Put stdout and stderr back; the first PRINTED_CHARS characters the student's code printed."""
    try:
        sys.stdout.flush(), sys.stderr.flush()
    except (OSError, ValueError):
        pass
    out, err, fd = saved
    os.dup2(out, 1), os.dup2(err, 2)
    os.close(out), os.close(err)
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, PRINTED_CHARS * 4).decode("utf-8", "replace")[:PRINTED_CHARS]
    os.close(fd)
    return text


def fatal_kind(error: BaseException) -> str | None:
    """'exit' or 'memory' for what ends the part (not just the test); None for an ordinary error."""
    if isinstance(error, (SystemExit, KeyboardInterrupt, GeneratorExit)):
        return "exit"
    text = str(error)
    if isinstance(error, MemoryError) or "can't allocate memory" in text or "DefaultCPUAllocator" in text:
        return "memory"
    return None


def stop_if_fatal(error: BaseException, fd_out: int, token: str, printed: str = "") -> None:
    """End the child when the error ends the part (it exited, or ran out of memory), saying which."""
    kind = fatal_kind(error)
    if kind is not None:
        wire.send(fd_out, {"token": token, "ok": False, "fatal": kind, "printed": printed})
        os._exit(3)


def describe(error: BaseException, root: str) -> dict:
    """The error, for one line of feedback: its type, message, and where in the student's code."""
    todo = str(error).removeprefix("TODO:").strip() if isinstance(error, NotImplementedError) and \
        str(error).startswith("TODO") else None
    place = ""
    if isinstance(error, SyntaxError):
        place = f"{os.path.relpath(error.filename or '?', root)}, line {error.lineno}"
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        path = os.path.relpath(os.path.abspath(frame.filename), root)
        if not place and not path.startswith(("..", "course" + os.sep)):
            place = f"{path}, line {frame.lineno}"
    message = error.msg if isinstance(error, SyntaxError) else str(error)
    return {"type": type(error).__name__, "message": message[:PRINTED_CHARS], "where": place, "todo": todo}


def one_line(error: dict) -> str:
    lines = str(error.get("message") or "").strip().splitlines()
    first = lines[0].strip() if lines else ""
    return f"{error['type']}{': ' + first if first else ''}{' (' + error['where'] + ')' if error.get('where') else ''}"


if __name__ == "__main__":
    zygote(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
