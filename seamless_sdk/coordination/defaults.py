"""The coordinator a provider uses when it is given none.

``SeamlessDataProvider(..., coordinator=None)`` means "the store's own
mechanism": for a ``PostgresStore`` that is its own database, so the provider
builds a ``PostgresCoordinator`` on the store's DSN (job rows beside the bars,
every host that shares the store shares the single flight). Every other
store keeps its ``window_lock`` (``LocalStore``: a per-host ``flock``).
"""

from __future__ import annotations

import sys

from seamless_sdk.coordination.base import Coordinator
from seamless_sdk.coordination.postgres import PostgresCoordinator


def store_coordinator(store: object) -> Coordinator | None:
    """A ``PostgresCoordinator`` on a ``PostgresStore``'s DSN; None for other stores.

    Looks the store class up only if its module is already imported (a
    ``PostgresStore`` instance implies it is), so this never imports psycopg.
    """
    module = sys.modules.get("seamless_sdk.stores.postgres")
    store_class = getattr(module, "PostgresStore", None)
    if store_class is None or not isinstance(store, store_class):
        return None
    dsn = getattr(store, "dsn", None)
    return PostgresCoordinator(dsn) if isinstance(dsn, str) else None
