"""Changing data safely: canary backfills, schema plans, reprocessing (issue 14).

- :mod:`~seamless_sdk.changes.canary`: fill partitions with a candidate fetcher
  into a shadow store and compare them with the main store
  (:mod:`~seamless_sdk.changes.compare`), verdict against thresholds;
- :mod:`~seamless_sdk.changes.promote`: copy a canary's partitions into the
  main store, one transaction per partition;
- :mod:`~seamless_sdk.changes.plan`: a schema or modes change as a dry run over
  stored data, then applied only against the bundle it was planned for;
- :mod:`~seamless_sdk.changes.reprocess`: re-fill stored windows with the
  current fetcher and schema, resumable and idempotent;
- :mod:`~seamless_sdk.changes.config`: tolerances, thresholds, approval.

Nothing here imports Dagster; the code location adds the asset checks and
the data-version reports (``seamless_assets.canary_job``,
``seamless_assets.reprocess_job``). See docs/changes.md.
"""
