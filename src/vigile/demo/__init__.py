"""The demo: the whole story on the embedded default, and (later) the reference application."""
