"""Detector plug-ins: one module per detector, registered with
``register(cls)`` (a call after the class, or ``@register`` in pure-Python plug-ins).

See :mod:`vigile.detect.detectors.base` for the protocol and ``docs/howto-detector.md``
for writing a new one.
"""

from vigile.detect.detectors._protocol import Detector
from vigile.detect.detectors.base import (
    DetectorBase,
    Env,
    Finding,
    PeerStats,
    register,
    registry,
)

__all__ = ["Detector", "DetectorBase", "Env", "Finding", "PeerStats", "register", "registry"]
