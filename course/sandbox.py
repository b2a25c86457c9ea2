"""The grader's side of running student code apart from the grader (the student's side: course/child.py).

    with Sandbox(Limits(part_s=60, memory_mb=1024)) as sandbox:
        session = sandbox.open("ga", tree, {"ga_loss": "unlearn.ga"})     # one child process a part
        answer = session.call({"function": "ga_loss", "args": ..., "kwargs": ...})
        session.close()

The grader (this process) holds the tests, the hidden ones included, and the expected values; it
sends a part's child the inputs of each call and reads back what the student's code returned. The
child is forked from a zygote that imported torch and nothing of the project, so it starts at once
and shares nothing with the grader but the two pipes. A part whose child runs over `part_s` seconds
in all, goes past its memory, exits or sends garbage raises PartStopped with a one-line reason: the
grader scores that part 0 and goes on with the next part, in a new child.
"""
import os
import pwd
import resource
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from course import wire

CHILD_FILES = ["course/__init__.py", "course/wire.py", "course/child.py", "course/objects.py", "course/models.py"]
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Limits:
    part_s: float = 40.0         # wall-clock seconds one part's child may run (its imports and every call)
    memory_mb: int = 256         # memory one part's child may take beyond what the zygote holds (RLIMIT_AS)
    startup_s: float = 300.0     # for the zygote to import torch (no student code runs then)
    user: str | None = None      # run student code as this user when the grader is root ('nobody' on Gradescope)
    file_mb: int = 16            # the largest file student code may write (RLIMIT_FSIZE)


class PartStopped(Exception):
    """The part's child was stopped; str() is the one-line reason the student reads."""


class SandboxError(Exception):
    """The zygote itself could not start (the grader's problem, not the student's): one line."""


def _zygote_limits() -> None:
    """preexec_fn of the zygote: no core files, and a ceiling on its address space (each child lowers it)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (64 << 30, 64 << 30))


class Sandbox:
    """One zygote, and a child forked from it for each part."""

    def __init__(self, limits: Limits | None = None, code_root: str = HERE):
        self.limits, self.code_root = limits or Limits(), code_root
        self.proc, self.dir, self.count, self.current, self.ready, self.dirty = None, None, 0, None, False, False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def user_ids(self, limits: Limits | None = None):
        """(uid, gid) the children run as: limits.user's when this process is root, else None (itself)."""
        user = (limits or self.limits).user
        if not user or os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise SandboxError(f"no user {user!r} to run the students' code as: create it, or set COURSE_SANDBOX_USER=") from None
        return entry.pw_uid, entry.pw_gid

    def start(self) -> None:
        """Start the zygote: copy the child's modules to a folder of their own and import torch there."""
        self.dir = tempfile.mkdtemp(prefix="course-sandbox-")
        code = os.path.join(self.dir, "code")
        for path in CHILD_FILES:
            os.makedirs(os.path.dirname(os.path.join(code, path)), exist_ok=True)
            shutil.copy(os.path.join(self.code_root, path), os.path.join(code, path))
        requests, self.to_zygote = os.pipe()           # grader -> zygote, then the part's child
        self.from_child, answers = os.pipe()            # the part's child -> grader
        self.from_zygote, status = os.pipe()            # zygote -> grader (the child closes its end)
        env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HOME": self.dir,
               "TMPDIR": self.dir, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
        self.log = open(os.path.join(self.dir, "zygote.log"), "w+b")
        fds = (requests, answers, status)
        self.proc = subprocess.Popen([sys.executable, "-E", "-s", "-m", "course.child", *map(str, fds)],
                                     cwd=code, env=env, pass_fds=fds, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, preexec_fn=_zygote_limits, start_new_session=True)
        for fd in fds:
            os.close(fd)
        self.ready, self.dirty = False, False

    def wait_ready(self) -> None:
        """Wait for the zygote's imports (start() returns at once: the grader imports its tests meanwhile)."""
        if self.ready:
            return
        try:
            self.expect("zygote-ready", time.monotonic() + self.limits.startup_s)
            self.ready = True
        except (TimeoutError, wire.WireError):
            tail = self.log_tail()
            self.close()
            raise SandboxError(f"the grader's sandbox did not start: {tail}") from None

    def log_tail(self) -> str:
        try:
            self.log.seek(0)
            lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
            return lines[-1] if lines else "no output"
        except (OSError, ValueError):
            return "no output"

    def expect(self, op: str, deadline: float) -> dict:
        """Read the zygote's frames until one with this op."""
        while True:
            frame = wire.receive(self.from_zygote, deadline)
            if frame.get("op") == op:
                return frame

    def drain(self, quiet_s: float = 0.2, most: int = 16 << 20) -> None:
        """After a child: read what it left on its pipe until the pipe has been quiet for `quiet_s`. If it
        does not fall quiet (a grandchild still writing), the sandbox is dirty: the next part gets a new
        zygote and new pipes."""
        read = 0
        while select.select([self.from_child], [], [], quiet_s)[0]:
            chunk = os.read(self.from_child, 1 << 16)
            read += len(chunk)
            if not chunk or read > most:
                self.dirty = True
                return

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def open(self, part: str, root: str, functions: dict, limits: Limits | None = None) -> "Session":
        """Fork the child of `part`: it imports `functions` ({name: module}) from the tree `root`, with
        `limits` (default: the sandbox's). The child of the part before is closed first: one at a time."""
        if self.current is not None:
            self.current.close()
        if self.dirty or not self.alive():
            self.close()
            self.start()
        self.wait_ready()
        self.count += 1
        token, limits = secrets.token_hex(8), limits or self.limits
        ids = self.user_ids(limits)
        home = os.path.join(self.dir, f"home-{self.count}")
        os.mkdir(home, 0o700)
        if ids:                                      # the child, as another user, reads its code from here
            os.chown(home, *ids)
            os.chmod(self.dir, 0o711)
            for folder, _, names in os.walk(os.path.join(self.dir, "code")):
                os.chmod(folder, 0o755)
                for name in names:
                    os.chmod(os.path.join(folder, name), 0o644)
        wire.send(self.to_zygote, {"op": "fork", "root": os.path.abspath(root), "functions": functions,
                                   "token": token, "home": home, "user": list(ids) if ids else None,
                                   "limits": {"memory_mb": limits.memory_mb, "cpu_s": int(limits.part_s) + 5,
                                              "file_mb": limits.file_mb}})
        self.current = Session(self, part, token, time.monotonic() + limits.part_s, limits)
        try:
            self.current.start()
        except PartStopped:
            pass                                     # the session says so at its first call
        return self.current

    def close(self) -> None:
        """End the part's child (it has a process group of its own), then the zygote, and remove the folder."""
        current, self.current, self.ready = self.current, None, False
        if current is not None and not current.stopped and current.pid:
            try:
                current.kill()
            except OSError:
                pass
        if self.proc is not None:
            for fd in (self.to_zygote, self.from_zygote, self.from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.log.close()
            self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


_SHARED = {}


def shared() -> Sandbox:
    """One sandbox for this whole process, closed at its exit: a test suite that grades many submissions
    starts the zygote (seconds: it imports torch) once, and passes each grading's limits to open()."""
    import atexit
    if "sandbox" not in _SHARED or not _SHARED["sandbox"].alive():
        _SHARED["sandbox"] = Sandbox()
        _SHARED["sandbox"].start()
        atexit.register(_SHARED["sandbox"].close)
    return _SHARED["sandbox"]


class Session:
    """One part's child: its calls share one time budget (the part's), counted from its fork."""

    def __init__(self, sandbox: Sandbox, part: str, token: str, deadline: float, limits: Limits):
        self.sandbox, self.part, self.token, self.deadline, self.limits = sandbox, part, token, deadline, limits
        self.pid, self.stopped, self.printed = None, None, []

    def next_frame(self) -> tuple[str, dict]:
        """('zygote' or 'child', the next frame from either), within the part's time."""
        wait = max(0.0, self.deadline - time.monotonic())
        ready = select.select([self.sandbox.from_zygote, self.sandbox.from_child], [], [], wait)[0]
        if not ready:
            raise TimeoutError
        if self.sandbox.from_zygote in ready:
            return "zygote", wire.receive(self.sandbox.from_zygote, time.monotonic() + 30)
        return "child", wire.receive(self.sandbox.from_child, self.deadline)

    def start(self) -> None:
        """Wait for the zygote's word of the fork (the pid) and the child's 'ready'."""
        got_ready = False
        try:
            while self.pid is None or not got_ready:
                source, frame = self.next_frame()
                if source == "zygote" and frame.get("op") == "forked":
                    self.pid = int(frame["pid"])
                elif source == "zygote" and frame.get("op") == "exited":
                    self.stop(self.exit_reason(frame.get("code")), kill=False)
                elif source == "child" and frame.get("op") == "ready" and frame.get("token") == self.token:
                    got_ready = True
        except TimeoutError:
            self.stop(self.timeout_reason())
        except (wire.WireError, OSError):
            self.stop(PROTOCOL)

    def call(self, message: dict) -> dict:
        """Send one call and return the child's answer; PartStopped when the part is (or gets) stopped."""
        if self.stopped:
            raise PartStopped(self.stopped)
        try:
            wire.send(self.sandbox.to_zygote, {"op": "call", **message})
            while True:
                source, frame = self.next_frame()
                if source == "zygote":
                    if frame.get("op") == "exited":
                        self.stop(self.exit_reason(frame.get("code")), kill=False)
                    continue
                if frame.get("token") != self.token:
                    continue                          # not this child's: a leftover, or a forgery
                if frame.get("printed"):
                    self.printed.append(str(frame["printed"]))
                if frame.get("fatal"):
                    self.stop(MEMORY.format(mb=self.limits.memory_mb) if frame["fatal"] == "memory"
                              else EXITED.format(how="exit code 3 from an exit in your code"))
                return frame
        except TimeoutError:
            self.stop(self.timeout_reason())
        except (wire.WireError, OSError):
            self.stop(PROTOCOL)

    def timeout_reason(self) -> str:
        return TIMEOUT.format(s=self.limits.part_s)

    def exit_reason(self, code) -> str:
        code = int(code) if isinstance(code, int) else 0
        if code == -signal.SIGXCPU:
            return self.timeout_reason()
        if code == -signal.SIGKILL:
            return KILLED
        return EXITED.format(how=f"signal {-code}" if code < 0 else f"exit code {code}")

    def stop(self, reason: str, kill: bool = True) -> None:
        """Stop the child (kill its process group), wait for the zygote's word, and raise PartStopped."""
        self.stopped = self.stopped or reason
        if kill and self.pid:
            self.kill()
        self.sandbox.drain()
        raise PartStopped(self.stopped)

    def kill(self) -> None:
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                target()
                break
            except (ProcessLookupError, PermissionError):
                continue
        try:
            self.sandbox.expect("exited", time.monotonic() + 30)
        except (TimeoutError, wire.WireError, OSError):
            self.sandbox.dirty = True                 # the zygote is in a bad state: the next part gets a new one

    def close(self) -> None:
        """End the child if it still runs (normally: it exits when told)."""
        if self.stopped or self.pid is None:
            return
        self.stopped = "closed"
        try:
            wire.send(self.sandbox.to_zygote, {"op": "close"})
            self.sandbox.expect("exited", time.monotonic() + 10)
        except (TimeoutError, wire.WireError, OSError):
            self.kill()


TIMEOUT = ("stopped: your code ran over the {s:g} s this part may take in all (an endless loop, or far more work "
           "than asked?): the part scores 0")
MEMORY = "stopped: your code asked for more than the {mb} MB of memory this part may take: the part scores 0"
EXITED = ("stopped: your code ended the process that runs it ({how}): do not call sys.exit, os._exit or "
          "kill: the part scores 0")
KILLED = "stopped: the process that runs your code was killed (out of memory?): the part scores 0"
PROTOCOL = ("stopped: the grader could not read your code's answers (did it write to the grader's pipes?): "
            "the part scores 0")
