"""Entry point of the ``iree-lab`` command.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``, which
registers the subcommand and sets ``func`` (``args -> exit code``) as its default.
Flags follow the IREE tool each subcommand mirrors (``dump`` ~ iree-dump-module,
``run`` ~ iree-run-module), so that command lines can be switched between them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from iree_lab.errors import IreeLabError

# Subcommand name -> module under iree_lab.cli. Imported lazily so that one
# subcommand's dependencies never slow down or break another.
SUBCOMMANDS = {
    "check": "iree_lab.cli.check",
    "compare": "iree_lab.cli.compare",
    "debug": "iree_lab.cli.debug",
    "dump": "iree_lab.cli.dump",
    "dump-parameters": "iree_lab.cli.dump_parameters",
    "executables": "iree_lab.cli.executables",
    "extract": "iree_lab.cli.extract",
    "extract-dispatch": "iree_lab.cli.extract_dispatch",
    "run": "iree_lab.cli.run",
    "run-dispatch": "iree_lab.cli.run_dispatch",
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iree-lab",
        description="Explore, run and single-step IREE VM modules (.vmfb).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Import only the subcommand named on the command line (`run` pulls in numpy,
    # ~0.2 s, which `dump` must not pay); all of them for --help and usage errors.
    args = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in args if not a.startswith("-")), None)
    for name, module_name in SUBCOMMANDS.items():
        if chosen in SUBCOMMANDS and name != chosen:
            continue
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except IreeLabError as e:
        sys.stdout.flush()
        print(f"iree-lab {args.command}: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `iree-lab dump ... | head` is normal use, not an error.
        return 0


if __name__ == "__main__":
    sys.exit(main())
