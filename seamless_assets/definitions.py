"""The code location Dagster loads (``workspace.yaml``, ``[tool.dagster]``).

``defs`` is built from ``seamless.yaml`` (or ``$SEAMLESS_CONFIG``) when
Dagster imports this module.
"""

from seamless_assets.config import load_config
from seamless_assets.location import build_definitions

defs = build_definitions(load_config())
