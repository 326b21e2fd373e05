"""The code location Dagster loads (``workspace.yaml``, ``[tool.dagster]``).

``defs`` is built from ``seamless.yaml`` (or ``$SEAMLESS_CONFIG``) when
Dagster imports this module.
"""

import dagster as dg

from seamless_assets.canary_job import build_canary_job
from seamless_assets.config import load_config
from seamless_assets.location import build_definitions
from seamless_assets.reprocess_job import build_reprocess_job

_config = load_config()
# The change jobs (canary, reprocess) are launched from the UI's Launchpad.
defs = dg.Definitions.merge(
    build_definitions(_config),
    dg.Definitions(jobs=[build_canary_job(_config), build_reprocess_job(_config)]),
)
