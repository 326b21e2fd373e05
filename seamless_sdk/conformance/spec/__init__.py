"""The declarative half of conformance: what a conformed frame must be.

Bar and trade schemas (``schema.py``, built from the files in
``conformance/schemas/``), the registry of their versions (``registry.py``),
the compatibility contract between versions (``compat.py``), the modes config
(``modes.py``), the per-row flag bits (``flags.py``) and the table of quality
rules (``rules.py``) from which the pandera checks (``checks.py``), the typed
model, the Great Expectations suite and the store's column check are built.

Nothing here looks at data; the execution is in ``conformance.engine``. This
package imports pandera only in the modules that build pandera objects
(``checks.py``, ``schema.py``), never at package import.
"""
