"""The reference practice application that vigile protects (``vigile app ...``).

:mod:`~vigile.demo.app.main` is the application, :mod:`~vigile.demo.app.seed`
fills it from a simulated world, :mod:`~vigile.demo.app.replay` drives it over
HTTP with the world's genuine users and :mod:`~vigile.demo.app.attack` with an
attacker holding stolen credentials.
"""
