"""Bytes in: where input lines come from (files, gzip, standard input)."""

from vigile.sources.files import FileSource, Source, open_source

__all__ = ["FileSource", "Source", "open_source"]
