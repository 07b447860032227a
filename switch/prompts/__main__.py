"""``python -m switch.prompts generate [--to DIR] [--force]``: the shipped prompts
(see :mod:`switch.prompts.generate`); ``names``: the prompt names the calls use."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from base.errors import ConfigError
from switch.prompts.generate import ENGLISH, generate
from switch.prompts.library import SHIPPED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m switch.prompts")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="speak the shipped English prompts (espeak-ng)")
    gen.add_argument("--to", type=Path, default=SHIPPED, help=f"directory (default {SHIPPED})")
    gen.add_argument("--force", action="store_true", help="overwrite existing files")
    sub.add_parser("names", help="print the prompt names the switch ships")
    args = parser.parse_args(argv)
    if args.command == "names":
        for name in ENGLISH:
            print(name)
        return 0
    try:
        written = generate(args.to, force=args.force)
    except ConfigError as exc:
        for key, message in exc.errors:
            print(f"{key}: {message}", file=sys.stderr)
        return 1
    print(f"{len(written)} prompts written to {args.to / 'en'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
