"""The executing half of conformance: a fetched frame in, a conformed frame out.

``pipeline.py`` runs the stages in order: the schema stage (``validate.py``),
time normalisation (``time.py``), dedup and roll-up (``claims.py``,
``rollup.py``), quality (``quality.py`` evaluates the rules table,
``anomalies.py`` the statistical rules, ``judge.py`` applies severities) and
the report (``report.py``, written to files by ``report_io.py``). Trades
(``trades.py``) run the same stages; ``expected.py`` compares bars with a
calendar and ``lineage.py`` adds per-row lineage columns.

What the stages enforce is declared in ``conformance.spec``.
"""
