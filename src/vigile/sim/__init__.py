"""Simulated world: French practices, everyday care traffic, labelled attacks, and scoring.

`vigile sim` writes a world (events, context CSVs, truth) and `vigile eval` scores an
alert file against that world's truth.  Generation is deterministic for a seed and never
reads the wall clock.
"""

from vigile.sim.config import SimConfig
from vigile.sim.presets import load_config, preset_config

__all__ = ["SimConfig", "load_config", "preset_config"]
