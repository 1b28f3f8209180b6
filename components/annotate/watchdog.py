"""A watchdog for the local Ray cluster a driver starts: the cluster's processes end with the
driver, even when it is killed (SIGKILL, the OOM killer), where no handler of the driver runs.

Ray's fate-sharing ends GCS, raylet and workers with a killed driver, but its agents
(`DashboardAgent`, `RuntimeEnvAgent`) wait on the dead GCS for about a minute. The driver
starts this file as a process of its own session (Ctrl-C to the terminal does not reach it),
holding the read end of a pipe, and sends it `PID STARTTIME` lines: the processes the cluster
started below the driver (from /proc), sent again as new ones appear. `done` (the driver shut
the cluster down itself) ends the watchdog; the end of the pipe without `done` (the driver
died) makes it SIGKILL every process sent whose start time still matches (a reused PID is left
alone). Linux only (/proc); elsewhere `ClusterWatchdog` does nothing.

Run as a script by path, so it imports only the standard library.
"""
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Dict, IO, List, Optional, Set, Tuple, Type

DONE = "done"
RESCAN_SECONDS = 2.0  # how often the driver looks for processes the cluster started since


def _start_time(pid: int) -> Optional[str]:
    """The start time of process `pid` (clock ticks after boot, /proc/PID/stat field 22), or
    None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def descendants(pid: int) -> List[int]:
    """The processes below `pid`, children first, from /proc."""
    children: Dict[int, List[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def watch(lines: IO[str]) -> List[int]:
    """Read `PID STARTTIME` lines until `done` or the end of `lines`; at the end without `done`,
    SIGKILL the processes read that still run. RETURNS (List[int]): the PIDs killed."""
    watched: List[Tuple[int, str]] = []
    for line in lines:
        line = line.strip()
        if line == DONE:
            return []
        pid, _, started = line.partition(" ")
        if pid.isdigit() and started:
            watched.append((int(pid), started))
    killed = []
    for pid, started in watched:
        if _start_time(pid) == started:  # the same process, not one that reuses its PID
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass
    return killed


class ClusterWatchdog:
    """The driver's side: starts the watchdog process and tells it the processes started below
    this one after `__enter__` (a local Ray cluster's), until `__exit__` says `done`.

    exclude (Set[int]): PIDs below this process that are not the cluster's (default: those
        running when the watchdog starts).
    """

    def __init__(self, exclude: Optional[Set[int]] = None):
        self.enabled = sys.platform.startswith("linux") and Path("/proc/self/stat").exists()
        self.exclude = exclude
        self.sent: Set[int] = set()
        self.process: Optional["subprocess.Popen[str]"] = None
        self.stop = threading.Event()
        self.thread: Optional[threading.Thread] = None
        self.lock = threading.Lock()

    def __enter__(self) -> "ClusterWatchdog":
        if not self.enabled:
            return self
        if self.exclude is None:
            self.exclude = set(descendants(os.getpid()))
        self.process = subprocess.Popen(
            # -I: isolated, so this folder's modules cannot shadow the standard library's
            [sys.executable, "-I", "-S", str(Path(__file__).resolve())], stdin=subprocess.PIPE, text=True,
            start_new_session=True, close_fds=True, stdout=subprocess.DEVNULL,
        )
        self.exclude.add(self.process.pid)
        self.thread = threading.Thread(target=self._rescan, name="fgen-cluster-watchdog", daemon=True)
        self.thread.start()
        return self

    def send_new(self) -> None:
        """Tell the watchdog the processes below this one it has not been told yet."""
        if self.process is None or self.process.stdin is None:
            return
        with self.lock:
            lines = []
            for pid in descendants(os.getpid()):
                started = _start_time(pid)
                if pid not in self.sent and pid not in self.exclude and started is not None:
                    self.sent.add(pid)
                    lines.append(f"{pid} {started}\n")
            if lines:
                try:
                    self.process.stdin.write("".join(lines))
                    self.process.stdin.flush()
                except (OSError, ValueError):  # the watchdog is gone: nothing to tell
                    pass

    def _rescan(self) -> None:
        while not self.stop.wait(RESCAN_SECONDS):
            self.send_new()

    def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        """The cluster was shut down here: the watchdog ends without killing anything."""
        if self.process is None:
            return
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        with self.lock:
            try:
                self.process.stdin.write(DONE + "\n")
                self.process.stdin.close()
            except (OSError, ValueError):
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the end of the pipe ends it
    watch(sys.stdin)
