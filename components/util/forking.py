"""Forked worker processes (`nlp.pipe(n_process=N)` forks on Linux): safe after torch has run in
the parent, and gone when their parent dies.

GNU OpenMP is not fork-safe: once the parent has run a torch op on its OpenMP thread pool, a
forked child that enters an OpenMP region waits forever for threads that were not copied. With
one intra-op thread torch never enters OpenMP, so each child is set to one thread right after the
fork (workers of `n_process` should not compete for cores with each other anyway).

spaCy's workers are daemon processes, which their parent ends only when it exits normally; after
a SIGKILL they would keep running. Inside `workers_die_with_parent()` every forked child asks
Linux to kill it when its parent dies (prctl PR_SET_PDEATHSIG).
"""
import ctypes
import os
import signal
import sys
from contextlib import contextmanager
from typing import Iterator

_PR_SET_PDEATHSIG = 1
_state = {"registered": False, "die_with_parent": False, "parent": 0}


def _in_forked_child() -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    if _state["die_with_parent"] and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            return
        if os.getppid() != _state["parent"]:  # the parent died before prctl took effect
            os._exit(1)


def make_forked_children_safe() -> None:
    """Register the after-fork handler of this module (once per process). fgen's components call
    it when they are created, so any pipeline holding one can `nlp.pipe(n_process=N)` safely."""
    if not _state["registered"] and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_in_forked_child)
        _state["registered"] = True


@contextmanager
def workers_die_with_parent() -> Iterator[None]:
    """Within this block, forked children are killed by the OS when this process dies."""
    make_forked_children_safe()
    previous = dict(_state)
    _state.update(die_with_parent=True, parent=os.getpid())
    try:
        yield
    finally:
        _state.update(die_with_parent=previous["die_with_parent"], parent=previous["parent"])
