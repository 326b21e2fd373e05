"""Every environment variable Seamless reads, in one place.

Nothing else in ``seamless_sdk`` or ``seamless_assets`` looks at ``os.environ``:
a variable is named here once, with the one function that reads it, so a
reader of the docs (and a test that sets it) has one list to check.

=================================  ===============================================
``SEAMLESS_CONFIG``                the code location's ``seamless.yaml``
                                   (default: ``./seamless.yaml``)
``SEAMLESS_STORE``                 the LocalStore file; overrides ``store`` in the
                                   config and the CLI's default
``SEAMLESS_CONFORMANCE_CONFIG``    a conformance modes file laid over the shipped one
``DAGSTER_HOME``                   Dagster's instance directory (``seamless backfill``
                                   uses an ephemeral instance when it is unset)
``SEAMLESS_METRICS_NODE_LABELS``   ``0``/``false``/``no``/``off`` records metrics
                                   without per-node label values (default on)
``DISABLE_BACKFILL``               kill switch: no read starts a fill, queued fill
                                   windows are dropped (windows being written
                                   finish), AUTO_BACKFILL reads become FAIL_FAST
``FORCE_FAIL_FAST``                kill switch: every read is FAIL_FAST
``SEAMLESS_KILL_SWITCH_FILE``      a file naming switches to turn on, one a line,
                                   re-read within a second of a change: the way to
                                   flip them in processes already running
``SEAMLESS_AUDIT_LOG``             the audit log of configuration changes
                                   (default: ``var/audit.jsonl``)
``SEAMLESS_ACTOR``                 who audit entries name (default: the OS user)
``SEAMLESS_CHANGES_CONFIG``        canary tolerances/thresholds and the approval rule of
                                   ``seamless schemas apply`` (``seamless_sdk.changes``)
``SEAMLESS_SCHEMA_DIR``            the schema registry in force, a directory of
                                   ``<dataset>.v<N>.yaml`` (default: the shipped
                                   one; ``seamless schemas apply`` creates it)
``SEAMLESS_APPROVAL_SECRET``       the secret approval tokens of schema plans are
                                   signed with (HMAC-SHA256)
``SEAMLESS_APPROVAL_TOKEN``        an approval token for the plan being applied
``SEAMLESS_FORKSERVER_MAIN_PATH``  internal: set by ``WarmRunLauncher`` for the
                                   forkserver it starts, never by a user
=================================  ===============================================

Empty values count as unset: ``SEAMLESS_STORE= seamless read ...`` must not
mean "a store at the empty path".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seamless_sdk.errors import InvalidRequestError

CONFIG_ENV = "SEAMLESS_CONFIG"
"""Names the ``seamless.yaml`` of the code location and the CLI."""
STORE_ENV = "SEAMLESS_STORE"
"""Names the LocalStore file, over the config's ``store`` and the CLI's default."""
CONFORMANCE_CONFIG_ENV = "SEAMLESS_CONFORMANCE_CONFIG"
"""Names a conformance modes file laid over the shipped ``modes.yaml``."""
DAGSTER_HOME_ENV = "DAGSTER_HOME"
"""Dagster's own variable: the persistent instance ``seamless backfill`` records runs in."""

METRICS_NODE_LABELS_ENV = "SEAMLESS_METRICS_NODE_LABELS"
"""Switches per-node metric label values off for large universes."""

DISABLE_BACKFILL_ENV = "DISABLE_BACKFILL"
"""Kill switch (seed 003 section 9): stop backfills without a restart."""
FORCE_FAIL_FAST_ENV = "FORCE_FAIL_FAST"
"""Kill switch (seed 003 section 9): serve only what is stored, never fetch."""

KILL_SWITCH_FILE_ENV = "SEAMLESS_KILL_SWITCH_FILE"
"""A file whose lines name kill switches to turn on (see ``seamless_sdk.killswitch``)."""

AUDIT_LOG_ENV = "SEAMLESS_AUDIT_LOG"
"""Names the JSON-lines audit log of configuration changes (``seamless_sdk.audit``)."""
ACTOR_ENV = "SEAMLESS_ACTOR"
"""Who audit entries name as the actor, over the operating-system user."""

CHANGES_CONFIG_ENV = "SEAMLESS_CHANGES_CONFIG"
"""Names the YAML file of canary, reprocess and schema-change settings."""
SCHEMA_DIR_ENV = "SEAMLESS_SCHEMA_DIR"
"""Names the schema registry directory in force instead of the shipped one."""
APPROVAL_SECRET_ENV = "SEAMLESS_APPROVAL_SECRET"
"""The shared secret that signs schema-plan approval tokens."""
APPROVAL_TOKEN_ENV = "SEAMLESS_APPROVAL_TOKEN"
"""An approval token (hex HMAC of a plan's fingerprints) for ``seamless schemas apply``."""
FORKSERVER_MAIN_PATH_ENV = "SEAMLESS_FORKSERVER_MAIN_PATH"
"""The daemon's main script, handed to the run workers' forkserver as it starts
(``seamless_assets._forkserver_main`` says why)."""

ALL_VARIABLES: tuple[str, ...] = (
    CONFIG_ENV,
    STORE_ENV,
    CONFORMANCE_CONFIG_ENV,
    DAGSTER_HOME_ENV,
    METRICS_NODE_LABELS_ENV,
    DISABLE_BACKFILL_ENV,
    FORCE_FAIL_FAST_ENV,
    KILL_SWITCH_FILE_ENV,
    AUDIT_LOG_ENV,
    ACTOR_ENV,
    CHANGES_CONFIG_ENV,
    SCHEMA_DIR_ENV,
    APPROVAL_SECRET_ENV,
    APPROVAL_TOKEN_ENV,
    FORKSERVER_MAIN_PATH_ENV,
)
"""Every variable read here, for docs and ``seamless doctor``-style listings."""


def _get(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def config_file() -> Path | None:
    """``$SEAMLESS_CONFIG`` as a path, or ``None`` when it is unset."""
    value = _get(CONFIG_ENV)
    return Path(value).expanduser() if value else None


def store_override() -> Path | None:
    """``$SEAMLESS_STORE`` as a path, or ``None`` when it is unset."""
    value = _get(STORE_ENV)
    return Path(value).expanduser() if value else None


def conformance_config_file() -> str | None:
    """``$SEAMLESS_CONFORMANCE_CONFIG`` as given (the modes loader reports a bad path)."""
    return _get(CONFORMANCE_CONFIG_ENV)


def dagster_home() -> Path | None:
    """``$DAGSTER_HOME`` as a path, or ``None`` when it is unset."""
    value = _get(DAGSTER_HOME_ENV)
    return Path(value).expanduser() if value else None


_FALSE = frozenset({"0", "false", "no", "off"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_OFF = _FALSE | {""}


def _flag(name: str, default: bool) -> bool:
    value = _get(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidRequestError(
        name, f"{value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)"
    )


def metrics_node_labels() -> bool:
    """``$SEAMLESS_METRICS_NODE_LABELS`` as a boolean (default ``True``)."""
    return _flag(METRICS_NODE_LABELS_ENV, True)


def _switch(name: str) -> bool:
    # Read on every request (one os.environ lookup, well under a microsecond), so
    # flipping a switch reaches a long-running provider without a restart. Any
    # value other than an explicit false turns it on: an operator's typo must
    # not leave backfills running.
    value = os.environ.get(name)
    return value is not None and value.strip().lower() not in _OFF


def backfill_disabled() -> bool:
    """``$DISABLE_BACKFILL`` is on (anything but unset, empty, 0, false, no, off)."""
    return _switch(DISABLE_BACKFILL_ENV)


def force_fail_fast() -> bool:
    """``$FORCE_FAIL_FAST`` is on (anything but unset, empty, 0, false, no, off)."""
    return _switch(FORCE_FAIL_FAST_ENV)


def kill_switch_file() -> Path | None:
    """``$SEAMLESS_KILL_SWITCH_FILE`` as a path, or ``None`` when it is unset."""
    value = _get(KILL_SWITCH_FILE_ENV)
    return Path(value).expanduser() if value else None


def kill_switch_file_text() -> str | None:
    """``$SEAMLESS_KILL_SWITCH_FILE`` exactly as set: a cheap per-request check of
    whether it changed (``kill_switch_file`` builds the path)."""
    return os.environ.get(KILL_SWITCH_FILE_ENV)


def audit_log_file() -> Path | None:
    """``$SEAMLESS_AUDIT_LOG`` as a path, or ``None`` when it is unset."""
    value = _get(AUDIT_LOG_ENV)
    return Path(value).expanduser() if value else None


def audit_actor() -> str | None:
    """``$SEAMLESS_ACTOR`` as given, or ``None`` when it is unset."""
    return _get(ACTOR_ENV)


def changes_config_file() -> Path | None:
    """``$SEAMLESS_CHANGES_CONFIG`` as a path, or ``None`` when it is unset."""
    value = _get(CHANGES_CONFIG_ENV)
    return Path(value).expanduser() if value else None


def approval_secret() -> str | None:
    """``$SEAMLESS_APPROVAL_SECRET``, or ``None`` when it is unset."""
    return _get(APPROVAL_SECRET_ENV)


def approval_token() -> str | None:
    """``$SEAMLESS_APPROVAL_TOKEN``, or ``None`` when it is unset."""
    return _get(APPROVAL_TOKEN_ENV)


def schema_dir() -> Path | None:
    """``$SEAMLESS_SCHEMA_DIR`` as a path, or ``None`` when it is unset."""
    value = _get(SCHEMA_DIR_ENV)
    return Path(value).expanduser() if value else None


@contextmanager
def forkserver_main_path(path: str | None) -> Iterator[None]:
    """Set ``$SEAMLESS_FORKSERVER_MAIN_PATH`` to ``path`` for the block (a
    process started in it inherits the value); nothing is set when ``path`` is
    ``None`` or empty. The variable is removed afterwards."""
    if not path:
        yield
        return
    os.environ[FORKSERVER_MAIN_PATH_ENV] = path
    try:
        yield
    finally:
        os.environ.pop(FORKSERVER_MAIN_PATH_ENV, None)


def take_forkserver_main_path() -> str | None:
    """``$SEAMLESS_FORKSERVER_MAIN_PATH``, removed from the environment so the
    processes this one forks do not carry it; ``None`` when it is unset."""
    value = _get(FORKSERVER_MAIN_PATH_ENV)
    os.environ.pop(FORKSERVER_MAIN_PATH_ENV, None)
    return value
