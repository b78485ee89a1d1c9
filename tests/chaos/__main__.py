"""`python -m tests.chaos`: run chaos scenarios and print the table; exit 1 when an expectation
failed. `--all` is `make chaos`; `--quick` is the subset CI runs (.ci/run)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from tests.chaos.report import details, machine, table
from tests.chaos.scenarios import SCENARIOS, Options, Result, run_scenario


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The options and the names of the scenarios to run."""
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), default=[],
                        help="run this scenario (repeat for more)")  # fmt: skip
    parser.add_argument("--all", action="store_true", help="every scenario (make chaos)")
    parser.add_argument("--quick", action="store_true", help="the CI subset")
    parser.add_argument("--list", action="store_true", help="list the scenarios and stop")
    parser.add_argument("--messages", type=int, default=150, help="load messages (>= 150)")
    parser.add_argument("--rooms", type=int, default=10, help="DM rooms (>= 10)")
    parser.add_argument("--rate", type=float, default=10.0, help="bodies published per second")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed")
    parser.add_argument("--keep", action="store_true", help="keep data dirs of passing runs")
    parser.add_argument("--markdown", type=Path, help="also write the table and notes here")
    args = parser.parse_args(argv)
    if args.all:
        names = list(SCENARIOS)
    elif args.quick:
        names = [n for n, s in SCENARIOS.items() if s.quick]
    else:
        names = args.scenario
    if not names and not args.list:
        parser.error("name a --scenario, or use --all or --quick (--list shows them)")
    return args, names


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios one after another; 0 when every expectation held."""
    args, names = parse(sys.argv[1:] if argv is None else argv)
    if args.list:
        for name, scenario in SCENARIOS.items():
            print(f"{name:20} {'(quick) ' if scenario.quick else ''}{scenario.doc}")
        return 0
    options = Options(args.messages, args.rooms, args.rate, args.seed, args.keep)
    results: list[Result] = []
    started = time.monotonic()
    for name in names:
        print(f"chaos: {name} ...", flush=True)
        result = asyncio.run(run_scenario(SCENARIOS[name], options))
        verdict = "ok" if not result.failures else "FAIL: " + "; ".join(result.failures)
        print(f"chaos: {name} {verdict} ({result.seconds:.0f} s)", flush=True)
        results.append(result)
    header = (
        f"{options.messages} messages over {options.rooms} DM rooms at {options.rate:g}/s per "
        f"scenario; {time.monotonic() - started:.0f} s in all; {machine()}"
    )
    text = f"{header}\n\n{table(results)}\n\n{details(results)}\n"
    print("\n" + text)
    if args.markdown is not None:
        args.markdown.write_text(text)
    return 0 if all(not r.failures for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
