"""`matdiff demo`: the seed notes end to end (see matdiff.demo)."""

from __future__ import annotations

import argparse

HELP = "the seed notes end to end: derive, check, train"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=60, help="training epochs (default 60)")
    p.add_argument("--lr", type=float, default=0.01, help="Adam's learning rate")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size")
    p.add_argument("--plot", default="matdiff-demo.png",
                   help="where to write the loss curve (default matdiff-demo.png)")
    p.add_argument("--no-plot", action="store_true", help="do not write the loss curve")
    p.add_argument("--generated", action="store_true",
                   help="train on generated data even when scikit-learn is installed")
    p.add_argument("--no-steps", action="store_true", help="leave out the step-by-step derivation")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling and shuffling")


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    summary = run_demo(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       real=not args.generated, plot=None if args.no_plot else args.plot,
                       steps=not args.no_steps, seed=args.seed)
    return 0 if summary["checks_pass"] else 1
