"""`python -m vigile.sim sim|eval ...`."""

from vigile.sim.cli import main

main()
