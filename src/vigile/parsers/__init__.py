"""Parsers registry: ``--format NAME`` → a parser class.

Adding a format is one module with a class implementing
:class:`~vigile.parsers.base.Parser` (a ``name`` and a ``parse(line)``) and a
``from_options`` classmethod, plus one line in :data:`PARSERS`. Modules are
imported only when their format is asked for, so a broken optional parser never
stops the others and start-up stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from vigile.errors import InputError
from vigile.parsers.base import Parser, ParserOptions

__all__ = ["PARSERS", "Parser", "ParserOptions", "make_parser"]

#: format name → "module:Class"
PARSERS: dict[str, str] = {
    "jsonl": "vigile.parsers.jsonl:JsonlParser",
    "nginx": "vigile.parsers.weblog:NginxParser",
    "apache": "vigile.parsers.weblog:ApacheParser",
    "fhir": "vigile.parsers.fhir:FhirAuditParser",
}


def make_parser(name: str, options: ParserOptions | None = None) -> Parser:
    """Build the parser registered under ``name`` (``InputError`` if unknown)."""
    target = PARSERS.get(name)
    if target is None:
        known = ", ".join(sorted(PARSERS))
        raise InputError(f"unknown format {name!r} (known formats: {known})")
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    cls: Any = getattr(module, class_name)
    parser: Parser = cls.from_options(options or ParserOptions())
    return parser
