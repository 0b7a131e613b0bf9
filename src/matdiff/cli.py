"""The `matdiff` command line: one subcommand per module in matdiff.commands.

Each command module defines HELP, add_arguments(parser) and run(args) -> exit code.
Input errors print their message (with the caret) to stderr and exit 2, never a
traceback. Modules are imported only for the command that runs, to start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings
from collections.abc import Iterator

__all__ = ["main", "COMMANDS"]

# name -> (module under matdiff.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "diff": ("diff", "differentiate an expression"),
    "compare": ("compare", "check a hand-derived derivative against matdiff's"),
    "codegen": ("codegen", "print the NumPy code of a derivative"),
    "fit": ("fit", "train parameters of a loss on data"),
    "demo": ("demo", "the seed notes end to end: derive, check, train"),
    "serve": ("serve", "a local web page for derivatives"),
}


def _parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matdiff", description="Matrix calculus for deep learning.")
    parser.add_argument("--version", action="version", version="matdiff 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:  # only the chosen command's module is imported
            importlib.import_module(f"matdiff.commands.{module}").add_arguments(p)
    return parser


def _not_an_option(arg: str, options: set[str]) -> str:
    """An expression that starts with a minus ("-y'*log(p)") is not an option: argparse would
    take it for one, so it gets a leading space (the language ignores spaces). The command's
    own options (`--long`, `-h`, `-f`) and `-` alone (stdout) are left as they are."""
    if arg.startswith("-") and not arg.startswith("--") and arg != "-" and arg not in options:
        return " " + arg
    return arg


def _options(parser: argparse.ArgumentParser, command: str) -> set[str]:
    """The option strings the subcommand's parser knows (-h, -f, --wrt, ...)."""
    for action in parser._subparsers._group_actions:  # the one add_subparsers action
        sub = action.choices.get(command)
        if sub is not None:
            return {s for a in sub._actions for s in a.option_strings}
    return set()


@contextlib.contextmanager
def _assumptions_to_stderr() -> Iterator[None]:
    """What matdiff assumed (a MatdiffWarning) as one line on stderr, each time; other
    warnings as usual."""
    from .errors import MatdiffWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", MatdiffWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, MatdiffWarning):
                print(f"matdiff: {message}", file=sys.stderr)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        command = None
    parser = _parser(command)
    if command is not None:
        at = argv.index(command) + 1
        options = _options(parser, command)
        argv[at:] = [_not_an_option(a, options) for a in argv[at:]]
    args = parser.parse_args(argv)
    if args.command is None:
        _parser(None).print_help()
        return 2
    from .errors import MatdiffError

    module = importlib.import_module(f"matdiff.commands.{COMMANDS[args.command][0]}")
    try:
        with _assumptions_to_stderr():
            return int(module.run(args) or 0)
    except MatdiffError as e:
        print(f"matdiff: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `matdiff ... | head`: the reader left; not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
