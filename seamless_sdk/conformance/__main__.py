"""``python -m seamless_sdk.conformance check``: the schema registry's compatibility check.

See ``registry.py``; the CLI wires the same function as ``seamless schemas check``.
"""

import sys

from seamless_sdk.conformance.spec.registry import main

sys.exit(main())
