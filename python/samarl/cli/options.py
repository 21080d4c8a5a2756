"""Command-line options generated from the config dataclasses, so no default is written twice.

Every field of a frozen config dataclass (:class:`~samarl.training.TrainConfig`,
:class:`~samarl.execution.DualConfig`) becomes ``--field-name``, typed from its annotation, with the
field's docstring as help and the dataclass default shown. Options left out on the command line stay
``None`` in the namespace, so :func:`config_values` returns only what the user set and the
dataclass (or a config file's table) supplies the rest.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import textwrap
from collections.abc import Collection, Mapping
from typing import Any, Literal, get_args, get_origin, get_type_hints

__all__ = ["add_config_options", "config_values", "field_docs"]


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (one line each, whitespace collapsed)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for a, b in itertools.pairwise(body):
        if (
            isinstance(a, ast.AnnAssign)
            and isinstance(a.target, ast.Name)
            and isinstance(b, ast.Expr)
            and isinstance(b.value, ast.Constant)
            and isinstance(b.value.value, str)
        ):
            docs[a.target.id] = " ".join(b.value.value.split())
    return docs


def add_config_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    title: str | None = None,
    skip: Collection[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Adds ``--field-name`` for every field of ``cls`` except ``skip``.

    ``defaults`` replaces the default shown in the help for commands whose own default differs
    from the dataclass's (the command applies it; the option itself still defaults to ``None``).
    """
    docs = field_docs(cls)
    hints = get_type_hints(cls)
    shown = dict(defaults or {})
    group = parser.add_argument_group(title or f"{cls.__name__} settings")
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = shown.get(f.name, f.default)
        help_text = f"{docs.get(f.name, '')} (default: {default!r})".replace("%", "%%")
        kind = hints[f.name]
        args = [a for a in get_args(kind) if a is not type(None)]
        if len(args) == 1 and get_origin(args[0]) is not None:  # X | None: X's form (None: unset)
            kind, args = args[0], list(get_args(args[0]))
        if kind is bool:
            group.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        elif get_origin(kind) is Literal:
            group.add_argument(flag, dest=f.name, choices=args, default=None, help=help_text)
        elif get_origin(kind) is tuple and args and args[-1] is Ellipsis:
            item = _key_value if get_origin(args[0]) is tuple else args[0]
            group.add_argument(
                flag, dest=f.name, type=item, nargs="+", default=None, help=help_text
            )
        elif get_origin(kind) is tuple:
            raise TypeError(f"{cls.__name__}.{f.name}: no command-line form for {kind}")
        else:
            group.add_argument(
                flag, dest=f.name, type=(args or [kind])[0], default=None, help=help_text
            )


def config_values(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` that were set on the command line (tuples for list options)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            out[f.name] = tuple(value) if isinstance(value, list) else value
    return out


def _key_value(text: str) -> tuple[str, int | float | bool]:
    """``NAME=VALUE`` (e.g. ``k=2``, ``beta=0.2``, ``connected=false``) for options that hold
    named parameters: an integer stays an integer (``k=2`` is 2, not 2.0, which integer parameters
    refuse), other numbers are floats, ``true`` and ``false`` are booleans."""
    name, sep, value = text.partition("=")
    value = value.strip()
    if sep and name and value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    try:
        if not (sep and name):
            raise ValueError
        try:
            return name, int(value)
        except ValueError:
            return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NAME=NUMBER (or NAME=true/false), got {text!r}"
        ) from None
