"""Forked worker processes (`nlp.pipe(n_process=N)` forks on Linux): safe after torch has run in
the parent, and gone when their parent dies.

GNU OpenMP is not fork-safe: once the parent has run a torch op on its OpenMP thread pool, a
forked child that enters an OpenMP region waits forever for threads that were not copied. With
one intra-op thread torch never enters OpenMP, so each child is set to one thread right after the
fork (workers of `n_process` should not compete for cores with each other anyway).

spaCy's workers are daemon processes, which their parent ends only when it exits normally; after
a SIGKILL they would keep running. Inside `workers_die_with_parent()` every forked child asks
Linux to kill it when its parent dies (prctl PR_SET_PDEATHSIG).

Interrupts: an interrupted `nlp.pipe(n_process=N)` joins its workers, which may be blocked
writing docs to a pipe nobody reads any more (the other workers hold its read end too), so the
parent waited forever. Inside `workers_die_with_parent()` the workers ignore SIGINT (Ctrl-C
reaches the whole process group; the parent decides), and the parent's SIGINT handler
terminates the workers before raising KeyboardInterrupt, so the join returns at once. Docs a
worker had finished but not sent are lost with it: the parent never recorded them, so a resumed
run annotates them again.

huggingface tokenizers print a warning in every forked child once the parent used their thread
pool; setting TOKENIZERS_PARALLELISM (as the warning advises) within the block silences it, with
the same effect: forked children run the tokenizer single-threaded either way.
"""
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Set

_PR_SET_PDEATHSIG = 1
_TOKENIZERS_PARALLELISM = "TOKENIZERS_PARALLELISM"
_state = {"registered": False, "die_with_parent": False, "parent": 0}


def _in_forked_child() -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    if _state["die_with_parent"]:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
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


def _terminate_new_children(before: Set[int]) -> None:
    for child in multiprocessing.active_children():
        if child.pid not in before:
            child.terminate()


@contextmanager
def workers_die_with_parent() -> Iterator[None]:
    """Within this block, forked children are killed by the OS when this process dies, ignore
    SIGINT, and are terminated when this process gets SIGINT (which raises KeyboardInterrupt
    here as usual); see the module's docstring."""
    make_forked_children_safe()
    previous = dict(_state)
    before = {child.pid for child in multiprocessing.active_children()}
    # Only Python's own Ctrl-C handler is replaced (an ignored SIGINT stays ignored), and only
    # the main thread can set one.
    previous_handler = signal.getsignal(signal.SIGINT)
    handler_set = (threading.current_thread() is threading.main_thread()
                   and previous_handler is signal.default_int_handler)
    saved_filters = list(warnings.filters)
    if handler_set:

        def interrupted(signum: int, frame: Any) -> None:
            _terminate_new_children(before)
            # spaCy's W127 ("not all worker processes completed"): terminated on purpose
            warnings.filterwarnings("ignore", message=r"\[W127\]")
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, interrupted)
    tokenizers_setting = os.environ.get(_TOKENIZERS_PARALLELISM)
    if tokenizers_setting is None:
        os.environ[_TOKENIZERS_PARALLELISM] = "false"
    _state.update(die_with_parent=True, parent=os.getpid())
    try:
        yield
    finally:
        _state.update(die_with_parent=previous["die_with_parent"], parent=previous["parent"])
        if tokenizers_setting is None:
            os.environ.pop(_TOKENIZERS_PARALLELISM, None)
        if handler_set:
            signal.signal(signal.SIGINT, previous_handler)
            warnings.filters[:] = saved_filters
