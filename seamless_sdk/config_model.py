"""Strict pydantic models for Seamless's YAML files, and their errors as ours.

``seamless.yaml`` and the conformance modes file are both parsed by models
built on :class:`StrictModel`: types are checked, never coerced (``2.7`` for
an integer is an error, not ``2``; ``"yes"`` is not ``true``; an integer is
accepted where a float is expected, since that loses nothing), and a key the
model does not know is an error, so a typo never silently means "the
default". :func:`validate` turns pydantic's ``ValidationError`` into
:class:`~seamless_sdk.errors.InvalidRequestError` whose ``field`` is the
dotted key path (``backfill.retries``, ``nodes[2].id``).

The files themselves are read by ``seamless_sdk.yaml_files``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from seamless_sdk.errors import InvalidRequestError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config model: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class YamlModel(StrictModel):
    """A StrictModel read from YAML: an empty value (``nodes:``) means the key is absent,
    so it takes its default rather than failing as ``None``."""

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return drop_nulls(data)


def validate(model: type[M], data: Any, *, where: str = "", key: str = "") -> M:
    """``model`` validated from ``data``; any problem is ``InvalidRequestError``.

    ``where`` (a file name) is put before the problem so a message says which
    file is wrong. ``key`` is the dotted key ``data`` sits at, when a validator
    of an enclosing model validates it (``store``): the error then names
    ``store.dsn``, not ``dsn``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = to_request_error(exc, model, where=where)
        if key:
            field = key if err.field == "config" else f"{key}.{err.field}"
            raise InvalidRequestError(field, err.problem) from None
        raise err from None


def to_request_error(
    exc: ValidationError, model: type[BaseModel], *, where: str = ""
) -> InvalidRequestError:
    """The first error of ``exc`` as ``InvalidRequestError`` (how many more, if any)."""
    errors = exc.errors()
    first = errors[0]
    path = key_path(first["loc"])
    problem = describe(first, model)
    nested = (first.get("ctx") or {}).get("error")
    if isinstance(nested, InvalidRequestError) and nested.field.startswith(f"{path}."):
        # A validator that validated a nested mapping itself (``store``) and
        # named the inner key: keep that, the deeper and truer path.
        path = nested.field
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more problem(s))"
    if where:
        problem = f"in {where}: {problem}"
    return InvalidRequestError(path or "config", problem)


def key_path(loc: Sequence[int | str]) -> str:
    """``("nodes", 2, "id")`` → ``"nodes[2].id"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(error: ErrorDetails, model: type[BaseModel]) -> str:
    """A short sentence for one pydantic error, with the offending value."""
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        known = _known_keys(model, error["loc"][:-1])
        return "unknown key" + (f" (known: {', '.join(known)})" if known else "")
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} item(s), got {value!r}"
    if kind == "missing":
        return "is required"
    if kind == "value_error" and isinstance(ctx.get("error"), InvalidRequestError):
        return ctx["error"].problem
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return f"{value!r} is not an integer (numbers are never rounded)"
    if kind in ("float_type", "float_parsing"):
        return f"{value!r} is not a number"
    if kind == "finite_number":
        return f"{value!r} is not a finite number"
    if kind == "bool_type":
        return f"{value!r} is not true or false"
    if kind == "string_type":
        return f"{value!r} is not a string"
    if kind in ("list_type", "tuple_type"):
        return f"{value!r} is not a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{value!r} is not a mapping"
    if kind == "literal_error":
        return f"{value!r} is not one of {ctx.get('expected', '')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<"}.get(kind, "<=")
        limit = next(iter(ctx.values()), "?")
        return f"{value!r} is not {bound} {limit}"
    return f"{error['msg']} (got {value!r})"


def _known_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys the (nested) model at ``loc`` accepts, for an "unknown key" hint.

    List indexes and mapping keys (a dataset or node name) are not fields:
    they leave the walk on the model of the values they hold."""
    current = model
    for part in loc:
        if isinstance(part, str) and part in current.model_fields:
            inner = _inner_model(current.model_fields[part].annotation)
            if inner is None:
                return []
            current = inner
    return list(current.model_fields)


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _inner_model(annotation: Any) -> Any:
    """The first BaseModel inside an annotation (``list[X]``, ``dict[str, X]``, ``X | None``)."""
    if _is_model(annotation):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def drop_nulls(data: Any) -> Any:
    """``data`` without the keys whose value is ``None``: in our YAML an empty
    value (``nodes:``) means "the default", as if the key were absent."""
    if not isinstance(data, Mapping):
        return data
    return {k: v for k, v in data.items() if v is not None}
