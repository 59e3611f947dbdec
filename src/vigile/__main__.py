"""``python -m vigile``: the same as the ``vigile`` command."""

from vigile.cli import main

main()
