"""Worker processes that answer requests under a time limit.

A thread cannot be stopped, so a derivative that takes too long (a high order
of a deep composition, say) would hold its thread forever. Each request goes
instead to a worker process, `python -m matdiff.web.workers`, one JSON line in
and one JSON line out; when the time is up that one worker is killed and a new
one started later, and the others go on.

Plain subprocesses, not multiprocessing: "spawn" re-runs the caller's main
script in every worker (a script without an `if __name__ == "__main__"` guard
would start servers recursively), and "fork" from a process running threads can
copy a held lock.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

__all__ = ["WorkerPool", "Timeout", "Busy", "WorkerDied"]

log = logging.getLogger("matdiff.web")

# The directory holding the matdiff package, so a worker imports this same copy.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class Timeout(Exception):
    """The request ran past the time limit; its worker was killed."""


class Busy(Exception):
    """Every worker stayed busy for the whole time limit."""


class WorkerDied(Exception):
    """The worker exited without answering (out of memory, a crash)."""


def _worker_main() -> None:
    """A worker's loop: a JSON payload per line on stdin, its answer per line on stdout."""
    import signal

    # Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Our stdout carries answers only: anything else printed (by Python or C) goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    from .compute import answer

    for line in sys.stdin.buffer:
        try:
            payload = json.loads(line)
        except ValueError:
            payload = None
        status, body = answer(payload)
        out.write(json.dumps([status, body], ensure_ascii=False) + "\n")
        out.flush()


class _Worker:
    """One process, and a thread turning its output lines into a queue (portable timeouts)."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        env["PYTHONIOENCODING"] = "utf-8"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "matdiff.web.workers"], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.answers: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True,
                         name="matdiff-web-worker-reader").start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.answers.put(line)
        self.answers.put(b"")  # end of output: the process is gone

    def ask(self, payload: Any, timeout: float) -> tuple[int, dict[str, Any]]:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(payload).encode("utf-8") + b"\n")
            stdin.flush()
        except OSError as e:
            raise WorkerDied from e
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise Timeout from None
        if not line:
            raise WorkerDied
        status, body = json.loads(line)
        return int(status), body

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class WorkerPool:
    """At most `size` workers; `run(payload, timeout)` returns answer(payload) from one."""

    def __init__(self, size: int = 2) -> None:
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._closed = False

    def warm_up(self) -> None:
        """Start one worker now, so the first request does not wait for its imports."""
        self._idle.put(_Worker())

    def run(self, payload: Any, timeout: float) -> tuple[int, dict[str, Any]]:
        """answer(payload) computed in a worker; Timeout, Busy or WorkerDied otherwise."""
        if not self._slots.acquire(timeout=timeout):
            raise Busy
        try:
            worker = self._take()
            try:
                result = worker.ask(payload, timeout)
            except (Timeout, WorkerDied):
                worker.kill()
                raise
            self._give_back(worker)
            return result
        finally:
            self._slots.release()

    def _take(self) -> _Worker:
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                return _Worker()
            if worker.alive():
                return worker
            worker.kill()

    def _give_back(self, worker: _Worker) -> None:
        if self._closed:
            worker.kill()
        else:
            self._idle.put(worker)

    def close(self) -> None:
        """Stop every idle worker (busy ones stop when their request ends)."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return


if __name__ == "__main__":
    _worker_main()
