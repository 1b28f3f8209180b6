"""fgen.annotate.watchdog: the processes a driver's local cluster started die with the driver,
even one killed with SIGKILL; a driver that shut its cluster down itself leaves them alone, and a
PID reused by another process is never killed. Plain processes stand for Ray's here (started in
sessions of their own, as Ray's agents outlive a killed driver); the slow test in
test_distributed.py kills a real driver."""
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from fgen.annotate.watchdog import _start_time, watch

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux only (/proc)")

WATCHDOG = Path(__file__).resolve().parents[2] / "components" / "annotate" / "watchdog.py"
# A driver that starts the watchdog, then a "cluster": a process in a session of its own with a
# child of its own; it prints their PIDs once the watchdog's rescan has seen them, then either
# ends the block (its cluster shut down) and waits, or just waits (to be killed).
DRIVER = """
import importlib.util, subprocess, sys, time
spec = importlib.util.spec_from_file_location("watchdog", sys.argv[1])
watchdog = importlib.util.module_from_spec(spec)
spec.loader.exec_module(watchdog)
watchdog.RESCAN_SECONDS = 0.05
with watchdog.ClusterWatchdog() as dog:
    agent = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(dog.sent) < 2:
        time.sleep(0.02)
    print(" ".join(map(str, sorted(dog.sent))), dog.process.pid, flush=True)
    if sys.argv[2] == "killed":
        time.sleep(60)
print("done", flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    return _start_time(pid) is not None


def wait_gone(pids: List[int], seconds: float) -> List[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(map(alive, pids)):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def start_driver(how: str) -> "tuple[subprocess.Popen, List[int], int]":
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(WATCHDOG), how], stdout=subprocess.PIPE, text=True)
    *cluster, dog = map(int, driver.stdout.readline().split())
    assert len(cluster) == 2 and all(map(alive, cluster)), cluster
    return driver, cluster, dog


def test_a_killed_driver_takes_its_cluster_with_it():
    driver, cluster, dog = start_driver("killed")
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    try:
        assert wait_gone(cluster, 10) == [] and wait_gone([dog], 5) == []
    finally:
        for pid in cluster:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_driver_that_shut_its_cluster_down_leaves_the_rest_alone():
    driver, cluster, dog = start_driver("done")
    try:
        assert driver.stdout.readline().strip() == "done"
        assert wait_gone([dog], 5) == []  # told `done`: it ended
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        time.sleep(0.3)
        assert all(map(alive, cluster))  # not the watchdog's to kill any more
    finally:
        for pid in cluster:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_watch_kills_only_the_processes_it_was_told_of_on_the_end_of_its_input():
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    try:
        first, second, third = (p.pid for p in sleepers)
        lines = f"{first} {_start_time(first)}\n{second} 1\nnot a line\n"  # second: a PID reused since
        assert watch(io.StringIO(lines + "done\n")) == []
        assert watch(io.StringIO(lines)) == [first]
        sleepers[0].wait(timeout=5)
        assert alive(second) and alive(third)
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
