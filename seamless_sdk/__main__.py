"""``python -m seamless_sdk``: the ``seamless`` command line."""

import sys

from seamless_sdk.cli import main

sys.exit(main())
