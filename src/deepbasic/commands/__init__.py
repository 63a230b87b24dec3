"""Command modules: each adds one ``deepbasic`` subcommand with ``register(subparsers)``."""
