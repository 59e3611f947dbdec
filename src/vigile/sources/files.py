"""Line sources: plain files, gzip files (sniffed by magic bytes) and standard input.

A source yields ``(line_number, raw_bytes)`` with the line ending removed; blank
lines are passed over (they carry no event) but still advance the line number,
so a quarantine entry's ``line`` always matches what ``sed -n Np`` shows.
Every way a file can fail to be read becomes one :class:`InputError` with the
path in it; no ``OSError`` or ``EOFError`` escapes to the user.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Final, Protocol, cast

from vigile.errors import InputError

_GZIP_MAGIC = b"\x1f\x8b"
#: what reading a plain or gzip file can raise once open (FileSource.read_error words it)
READ_ERRORS: Final = (EOFError, gzip.BadGzipFile, zlib.error, OSError)
_BUFFER = 1 << 20


class Source(Protocol):
    """Anything that yields numbered raw lines and has a name for the quarantine."""

    name: str

    def lines(self) -> Iterator[tuple[int, bytes]]: ...


class FileSource:
    """A file path (plain or gzip) or ``-`` for standard input."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.name = "<stdin>" if self.path == "-" else self.path
        self.bytes_read = 0

    def check(self) -> None:
        """Raise :class:`InputError` now if the source cannot be opened."""
        if self.path != "-":
            with ExitStack() as stack:
                self.open(stack)

    def open(self, stack: ExitStack) -> IO[bytes]:
        """Open for binary reading, un-gzipping when the data starts with gzip's magic."""
        if self.path == "-":
            stdin = sys.stdin.buffer
            peek = stdin.peek(2)[:2] if isinstance(stdin, io.BufferedReader) else b""
            if peek == _GZIP_MAGIC:
                return cast(IO[bytes], stack.enter_context(gzip.GzipFile(fileobj=stdin, mode="rb")))
            return stdin
        p = Path(self.path)
        if not p.exists():
            raise InputError(f"{self.path}: no such file")
        if p.is_dir():
            raise InputError(f"{self.path}: is a directory, not an events file")
        try:
            raw = stack.enter_context(io.BufferedReader(io.FileIO(p, "rb"), _BUFFER))
        except PermissionError:
            raise InputError(f"{self.path}: permission denied") from None
        except OSError as exc:
            raise InputError(f"{self.path}: cannot open ({exc.strerror})") from None
        if raw.peek(2)[:2] == _GZIP_MAGIC:
            unzipped = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
            return stack.enter_context(io.BufferedReader(unzipped, _BUFFER))
        return raw

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """Yield ``(line_number, line)`` for every non-blank line, endings stripped."""
        with ExitStack() as stack:
            handle = self.open(stack)
            lineno = 0
            try:
                for lineno, line in enumerate(handle, 1):
                    self.bytes_read += len(line)
                    stripped = line.rstrip(b"\r\n")
                    if stripped.strip():
                        yield lineno, stripped
            except READ_ERRORS as exc:
                raise self.read_error(exc, lineno) from None

    def read_error(self, exc: Exception, lineno: int) -> InputError:
        """The one-line error for a read that failed after ``lineno`` whole lines."""
        if isinstance(exc, EOFError):
            return InputError(
                f"{self.name}: truncated gzip file (ends inside line {lineno + 1}); "
                f"the {lineno} lines before it were read"
            )
        if isinstance(exc, gzip.BadGzipFile | zlib.error):
            return InputError(f"{self.name}: corrupt gzip data after line {lineno} ({exc})")
        return InputError(f"{self.name}: read error after line {lineno} ({exc})")

    def blocks(self, size: int = 1 << 22) -> Iterator[tuple[int, bytes]]:
        """Yield ``(first_line_number, data)``: about ``size`` bytes of whole lines at a time.

        The bulk twin of :meth:`lines` (same files, same errors): blank lines are
        left in, so that line numbers stay countable by newlines.
        """
        with ExitStack() as stack:
            handle = self.open(stack)
            lineno = 0  # lines handed out so far
            try:
                while True:
                    data = handle.read(size)
                    if not data:
                        break
                    if data[-1:] != b"\n":
                        data += handle.readline()  # finish the last line
                    self.bytes_read += len(data)
                    yield lineno + 1, data
                    lineno += data.count(b"\n")
            except READ_ERRORS as exc:
                raise self.read_error(exc, lineno) from None


def open_source(path: str | Path) -> FileSource:
    """The source for a command-line path (``-`` is standard input)."""
    return FileSource(path)
