"""The quarantine: where bad lines go, each with its source, line number and reason.

INTERFACE §1: a bad line is counted and written as a JSON line with ``source``,
``line``, ``reason`` and ``raw``; processing goes on. The raw text is kept
byte-faithful: bytes that are not UTF-8 are written as ``\\xNN`` escapes.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import IO, Self

import orjson


class Quarantine:
    """Append bad lines to a JSON Lines file, opened on first use.

    ``mode="w"`` starts the file afresh (one run's bad lines), ``"a"`` appends
    (an event store's running quarantine). The file is created even when no line
    is bad, so scripts can rely on it.
    """

    def __init__(self, path: str | Path | None, mode: str = "w") -> None:
        self.path = Path(path) if path is not None else None
        self.count = 0
        self._handle: IO[bytes] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, mode + "b")  # noqa: SIM115 - closed in close()

    def add(self, source: str, line: int, reason: str, raw: bytes | str) -> None:
        """Record one bad line."""
        self.count += 1
        if self._handle is None:
            return
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
        record = {"source": source, "line": line, "reason": reason, "raw": text}
        self._handle.write(orjson.dumps(record) + b"\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
