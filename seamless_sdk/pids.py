"""Whether a process id is alive on this host: shared by the run launcher's
worker checks, the run metrics' pruning of dead runs' files and the store's
sweep of temporary files its dead creators left."""

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
