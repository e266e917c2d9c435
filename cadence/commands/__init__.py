"""Subcommands of ``cadence`` beyond ``analyze``: one module each, registered by :mod:`cadence.cli`.

Each module exposes ``register(subcommands)``, which adds its parser and sets ``run`` to a
function taking the parsed arguments and returning the exit code. Modules import their heavy
dependencies inside ``run`` so ``cadence --help`` stays instant.
"""
