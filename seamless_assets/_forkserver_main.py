"""Imported first by ``WarmRunLauncher``'s forkserver: its workers keep its ``__main__``.

A worker forked by a ``multiprocessing`` forkserver re-runs the launching
process's main script unless the forkserver's ``__main__.__file__`` is that
script's path (``multiprocessing.spawn._fixup_main_from_path``). Python 3.11's
forkserver never learns the path (``forkserver.ensure_running`` passes a
``main_path`` key that ``spawn.get_preparation_data`` does not produce), so
preloading ``"__main__"`` does nothing and every run worker of a daemon started
as ``dagster-daemon run`` re-imported the daemon's script: Dagster's daemon
modules with alembic's, about 1.3 s of CPU per run on the machines here.

The launcher passes the path in ``$SEAMLESS_FORKSERVER_MAIN_PATH``
(``seamless_sdk.settings.forkserver_main_path``) while it starts the
forkserver; importing this module names the forkserver's ``__main__`` after it.
The script itself is not run: a worker's target is
``seamless_assets.run_launcher.run_worker``, which needs nothing of it.
"""

from __future__ import annotations

import sys

from seamless_sdk.settings import take_forkserver_main_path

_path = take_forkserver_main_path()
if _path:
    sys.modules["__main__"].__file__ = _path
