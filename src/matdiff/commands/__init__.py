"""Subcommands of the command line; each module: HELP, add_arguments(parser), run(args)."""
