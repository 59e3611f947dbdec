"""Errors vigile reports to its user.

:class:`VigileError` and its kinds end a command with one clear line and exit
status 2 (the CLI catches them); :class:`ParseError` is a bad line, which never
ends anything: it goes to the quarantine with its reason.
"""

from __future__ import annotations


class VigileError(Exception):
    """A problem the user can fix: bad path, unknown format, corrupt file."""

    exit_code = 2


class InputError(VigileError):
    """An input file is missing, unreadable, truncated or of the wrong kind."""


class ConfigError(VigileError):
    """A configuration file (rules, route map, policy) is invalid.

    ``problems`` holds every problem found, each already prefixed with
    ``file:line``, so a user fixes them all in one pass.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ParseError(ValueError):
    """One input line could not become an access event; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
