"""``seamless audit list|record|presets``: the audit log of configuration changes.

``list`` prints the entries (who, when, what, old and new fingerprint),
oldest first, optionally only one action or the last N; ``--json`` prints
them as JSON lines. ``record`` writes an entry for every SLA preset, the
conformance modes and every registered schema whose fingerprint changed
since the log last saw it (the presets and ``seamless:`` section of the
``seamless.yaml`` in force, ``$SEAMLESS_CONFORMANCE_CONFIG``, the shipped
schema registry); it is idempotent, so a deploy step can run it every time. ``presets`` prints the
SLA presets in force. The log is ``--log``, else ``$SEAMLESS_AUDIT_LOG``, else
``var/audit.jsonl``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from seamless_sdk import audit
from seamless_sdk.cli.context import CliContext, int_arg
from seamless_sdk.policy_settings import audit_schemas, audit_settings


def _log(ctx: CliContext) -> Path:
    given = getattr(ctx.args, "log", None)
    return Path(given).expanduser() if given else audit.audit_log_path()


def _short(fingerprint: str | None) -> str:
    return fingerprint[:12] if fingerprint else "—"


def cmd_list(ctx: CliContext) -> int:
    """Print the audit log's entries (exit 0, also when there are none)."""
    args = ctx.args
    entries = audit.read_entries(_log(ctx))
    if args.action:
        entries = [e for e in entries if e.action == args.action]
    if args.last is not None:
        entries = entries[-args.last :]
    if args.json:
        for entry in entries:
            ctx.console.print_json(json.dumps(entry.to_dict(), sort_keys=True))
        return 0
    table = Table(title=f"audit log {_log(ctx)}")
    for column in ("at (UTC)", "actor", "action", "what", "old", "new"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(e.actor),
            escape(e.action),
            escape(e.what),
            _short(e.old_fingerprint),
            _short(e.new_fingerprint),
        )
    ctx.console.print(table)
    ctx.console.print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    return 0


def cmd_record(ctx: CliContext) -> int:
    """Record the presets and modes in force that changed (exit 0)."""
    # Imported here: no other audit action reads the registry.
    from seamless_sdk.conformance.spec.registry import default_registry

    log, actor = _log(ctx), ctx.args.actor
    # The modes and the registry are read before the first entry is written: a bad
    # modes file or schema file must not leave the presets recorded and the rest not.
    ctx.check_conformance_config()
    registry = default_registry()
    written = audit_settings(ctx.policy, actor=actor, path=log)
    written += audit_schemas(registry, actor=actor, path=log)
    for e in written:
        ctx.console.print(
            f"recorded {escape(e.action)} {escape(e.what)}: "
            f"{_short(e.old_fingerprint)} → {_short(e.new_fingerprint)}",
            highlight=False,
        )
    if not written:
        ctx.console.print("nothing changed since the last entries")
    return 0


def cmd_presets(ctx: CliContext) -> int:
    """Print the SLA presets in force (shipped, with the config's overrides)."""
    settings = ctx.policy
    # One line per preset (not a table): budgets stay readable and greppable at any width.
    for name, preset in sorted(settings.presets.items()):
        p = preset.policy
        budgets = ", ".join(
            f"{phase} {'∞' if ms is None else f'{ms:g}'}" for phase, ms in p.budgets_ms().items()
        )
        marker = " (in force)" if name == settings.sla_preset else ""
        strategy = preset.strategy.name if preset.strategy else "any strategy"
        ctx.console.print(
            f"{escape(name)}{marker}: {strategy}; budgets ms: {budgets}; "
            f"{p.max_attempts or 1} attempt(s); max_sync_gap_bars {p.max_sync_gap_bars}; "
            f"fingerprint {_short(preset.fingerprint)}",
            highlight=False,
        )
    return 0


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:  # type: ignore[type-arg]
    """Add ``audit list|record|presets`` to ``sub``."""
    parser = sub.add_parser("audit", parents=parents, help="the audit log of configuration changes")
    actions = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    log_help = "the audit log (default: $SEAMLESS_AUDIT_LOG, else var/audit.jsonl)"

    listing = actions.add_parser(
        "list", parents=parents, help="print the entries", description=__doc__
    )
    listing.add_argument("--log", default=None, metavar="PATH", help=log_help)
    listing.add_argument("--action", default=None, help="only entries of this action")
    listing.add_argument(
        "--last", type=int_arg(1), default=None, metavar="N", help="only the last N (N >= 1)"
    )
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(func=cmd_list)

    record = actions.add_parser(
        "record",
        parents=parents,
        help="record changed presets and conformance modes",
        description=__doc__,
    )
    record.add_argument("--log", default=None, metavar="PATH", help=log_help)
    record.add_argument(
        "--actor", default=None, help="who the entries name (default: $SEAMLESS_ACTOR, OS user)"
    )
    record.set_defaults(func=cmd_record)

    presets = actions.add_parser(
        "presets", parents=parents, help="print the SLA presets in force", description=__doc__
    )
    presets.set_defaults(func=cmd_presets)
