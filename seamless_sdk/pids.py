"""Whether a process id is alive on this host: shared by the run launcher's
worker checks, the run metrics' pruning of dead runs' files and the store's
sweep of temporary files its dead creators left; and a process's identity
(:func:`process_identity`), which tells it from a later process given its pid."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists on this host (a zombie counts as alive).

    >>> pid_alive(os.getpid())
    True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def process_identity(pid: int) -> str:
    """``"<pid>:<start time>"``: the process ``pid`` as it is now. A pid is reused
    once its process has exited; the start time (``/proc/<pid>/stat``, clock
    ticks since boot) is not. Without ``/proc`` (not Linux) it is ``"<pid>:"``.

    >>> process_identity(os.getpid()).startswith(f"{os.getpid()}:")
    True
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return f"{pid}:"
    # Field 22 is the start time; the command name (field 2) may hold spaces
    # and parentheses, so count from its closing one.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return f"{pid}:{fields[19].decode()}" if len(fields) > 19 else f"{pid}:"


def identity_alive(identity: str) -> bool:
    """Whether the process :func:`process_identity` named is still running."""
    pid_text, _, started = identity.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if not pid_alive(pid):
        return False
    return not started or process_identity(pid) == identity
