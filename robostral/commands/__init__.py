"""One module per `robostral` subcommand: each has ``add_parser(subparsers)`` and ``run(args) -> int``."""
