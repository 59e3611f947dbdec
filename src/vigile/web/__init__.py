"""The service around vigile's stages: ``vigile serve`` (API in :mod:`vigile.web.api`).

Wiring only. The dashboard (issue 8) will live in ``vigile.web.dashboard`` and be
mounted by the same service.
"""
