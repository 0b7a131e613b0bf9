"""`python -m matdiff ...`: the command line, for when the `matdiff` script is not on PATH."""

from .cli import main

raise SystemExit(main())
