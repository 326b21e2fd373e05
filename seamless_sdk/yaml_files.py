"""Reading Seamless's YAML files: every one of them (``seamless.yaml``, a
settings file, the changes config, the conformance modes and schema files,
the SLA presets) is read by :func:`read_yaml_mapping` through
:func:`load_yaml`, so one rule holds for all of them: PyYAML's safe loader,
except that a key given twice in one mapping is an error naming its dotted
path and line (PyYAML would keep the last one silently), and a syntax error
is one line, ``file:line:column:`` and PyYAML's problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from seamless_sdk.checks import read_text_file
from seamless_sdk.config_model import key_path
from seamless_sdk.errors import InvalidRequestError

_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping of a YAML document gives the same key twice.

    ``key`` is the key's dotted path from the document's top (``backfill.retries``,
    ``nodes[0].id``); ``first`` and ``again`` are where it is given (PyYAML marks,
    0-based)."""

    def __init__(self, key: str, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(f"{key} first given", first, f"found duplicate key {key}", again)
        self.key = key
        self.first = first
        self.again = again


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's ``SafeLoader`` that refuses a key given twice in one mapping
    (:class:`DuplicateKeyError`), and whose every construction error is a
    ``yaml.MarkedYAMLError`` (an impossible date was a bare ``ValueError``).

    Keys are compared as the values they construct to, the way the mapping
    built from them would: ``1`` and ``0x1`` are the same key, ``1`` and
    ``"1"`` are not. A key a merge (``<<: *base``) brings in may be given again:
    overriding merged keys is what a merge is for.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        """The document of ``node``, once no mapping in it repeats a key."""
        self._check_keys(node, (), set())
        return super().construct_document(node)

    def _check_keys(self, node: yaml.Node, loc: tuple[int | str, ...], seen: set[int]) -> None:
        # The node graph is walked before anything is constructed, because only
        # the walk knows the path of a mapping; an alias is checked once, where
        # its anchor is (and a recursive document does not loop).
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._check_keys(item, (*loc, index), seen)
        elif isinstance(node, yaml.MappingNode):
            first: dict[Any, yaml.Node] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    self._check_keys(value_node, loc, seen)
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    # A sequence or mapping key is unhashable: construction refuses it.
                    self._check_keys(value_node, loc, seen)
                    continue
                key = self.construct_object(key_node)
                if key in first:
                    path = key_path((*loc, str(key)))
                    raise DuplicateKeyError(path, first[key].start_mark, key_node.start_mark)
                first[key] = key_node
                self._check_keys(value_node, (*loc, str(key)), seen)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """The value of ``node``. A scalar its tag cannot be (``2024-13-01``,
        ``!!int x``) is a ``ConstructorError`` at its mark: ``SafeLoader`` lets
        a bare ``ValueError``, ``KeyError`` or ``AttributeError`` escape, which
        names neither the file nor the line."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            if not isinstance(node, yaml.ScalarNode):
                raise  # a collection's own errors come from its scalars, wrapped already
            kind = node.tag.rsplit(":", 1)[-1]
            detail = f" ({exc})" if isinstance(exc, ValueError) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid {kind}{detail}", node.start_mark
            ) from None


def load_yaml(text: str, *, source: str, field: str) -> Any:
    """The one YAML document of ``text`` (``None`` when it is empty), read safely.

    ``source`` names the file in messages. A key given twice is
    :class:`InvalidRequestError` whose field is the key's dotted path
    (``backfill.retries: in seamless.yaml:3:3: duplicate key (first given on
    line 2; ...)``); text that is not YAML is ``InvalidRequestError`` with ``field``,
    on one line: file, line and column (1-based) and PyYAML's problem
    (``config: seamless.yaml:3:7: not valid YAML: mapping values are not
    allowed here``).
    """
    try:
        loader = UniqueKeyLoader(text)
    except yaml.reader.ReaderError as exc:  # the reader checks every character at once
        line, column = _line_column(text, exc.position)
        problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise InvalidRequestError(
            field, f"{source}:{line}:{column}: not valid YAML: {problem}"
        ) from None
    try:
        return loader.get_single_data()
    except DuplicateKeyError as exc:
        raise InvalidRequestError(
            exc.key,
            f"in {source}:{_at(exc.again)}: duplicate key (first given on line "
            f"{exc.first.line + 1}; YAML would silently keep only the last)",
        ) from None
    except yaml.MarkedYAMLError as exc:
        raise InvalidRequestError(field, syntax_error(exc, source)) from None
    finally:
        loader.dispose()


def syntax_error(exc: yaml.MarkedYAMLError, source: str) -> str:
    """PyYAML's several lines and caret drawing, as one line."""
    problem = " ".join(str(exc.problem or exc.context or "unreadable").split())
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{_at(mark)}" if mark is not None else source
    if exc.problem and exc.context and exc.context_mark is not None:
        problem += f" ({' '.join(exc.context.split())} at {_at(exc.context_mark)})"
    return f"{where}: not valid YAML: {problem}"


def _at(mark: yaml.Mark) -> str:
    """``line:column`` of a PyYAML mark, 1-based as editors count."""
    return f"{mark.line + 1}:{mark.column + 1}"


def _line_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of the character at ``position`` of ``text``."""
    line_start = text.rfind("\n", 0, position) + 1
    return text.count("\n", 0, position) + 1, position - line_start + 1


def read_yaml_mapping(
    path: Path | Traversable, field: str, *, label: str | None = None
) -> dict[str, Any]:
    """The top-level mapping of the YAML file ``path`` (``{}`` for an empty file).

    An unreadable file, invalid YAML (:func:`load_yaml`) or a top level that
    is not a mapping is :class:`InvalidRequestError` with ``field``, naming the
    file (``label``, default ``path``): the one way every Seamless YAML file
    (``seamless.yaml``, a settings file, the changes config, the conformance
    modes and schema files, the SLA presets) is opened.
    """
    where = label or str(path)
    raw = load_yaml(read_text_file(path, field, label=where), source=where, field=field)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidRequestError(field, f"{where}: the top level is not a YAML mapping")
    return dict(raw)
