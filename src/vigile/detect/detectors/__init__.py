"""Detector plug-ins: one module per detector, registered with ``@register``.

See :mod:`vigile.detect.detectors.base` for the protocol and ``docs/howto-detector.md``
for writing a new one.
"""

from vigile.detect.detectors.base import (
    Detector,
    DetectorBase,
    Env,
    Finding,
    PeerStats,
    register,
    registry,
)

__all__ = ["Detector", "DetectorBase", "Env", "Finding", "PeerStats", "register", "registry"]
