"""The Dagster instance of ``$DAGSTER_HOME``, as the ``seamless`` commands open it.

Dagster reads ``$DAGSTER_HOME/dagster.yaml`` when the instance is opened, and a
file it cannot use (a YAML syntax error, a key its schema does not know, a
storage or launcher class that does not import, bytes that are not UTF-8)
comes out as a traceback from deep inside Dagster. Every command opens the
instance here instead, so such a file is one ``InvalidRequestError`` naming
``DAGSTER_HOME`` and the file, with Dagster's own reason. Dagster validates
the file before it creates any storage, so a refused file leaves the home as
it was.
"""

from __future__ import annotations

import re

import dagster as dg
import yaml
from dagster._check import CheckError

from seamless_sdk import settings
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.yaml_files import syntax_error

INSTANCE_FILE = "dagster.yaml"

# CheckError is what Dagster raises for a configurable class it cannot import.
_LONG_SCHEMA = re.compile(r' Expected: "[^"]{200,}"\.?')
_UNUSABLE_CONFIG = (yaml.YAMLError, UnicodeDecodeError, dg.DagsterInvalidConfigError, CheckError)


def open_home_instance() -> dg.DagsterInstance:
    """``DagsterInstance.get()``, with an unusable ``dagster.yaml`` refused by name.

    >>> # with open_home_instance() as instance: ...
    """
    try:
        return dg.DagsterInstance.get()
    except _UNUSABLE_CONFIG as exc:
        where = settings.dagster_home()
        path = str(where / INSTANCE_FILE) if where is not None else INSTANCE_FILE
        if isinstance(exc, yaml.MarkedYAMLError):
            says = syntax_error(exc, path)
        else:
            # Dagster appends the whole instance schema to an unknown key's error.
            reason = _LONG_SCHEMA.sub("", " ".join(str(exc).split()))
            reason = reason.removeprefix(
                f"Errors whilst loading dagster instance config at {INSTANCE_FILE}. "
            )
            says = f"{path} cannot be used by Dagster: {reason}"
        raise InvalidRequestError(settings.DAGSTER_HOME_ENV, says) from None
