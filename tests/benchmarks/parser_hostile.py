"""`python -m tests.benchmarks.parser_hostile`: the response parser's time on hostile output.

Each crafted 64 KB answer below once took seconds (a quadratic regex) or raised RecursionError;
the issue's bound is 50 ms each. Prints the slowest of REPEAT runs per reader and input, and exits
non-zero when one is over the bound (a benchmark, not a test: timings depend on the machine).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from plugins.bootstrap.parsing import (
    parse_json_block,
    parse_key_value_xml,
    parse_response,
    parse_should_respond,
    parse_tag_list,
)

BOUND_MS = 50.0
REPEAT = int(os.environ.get("REPEAT", "3"))

CRAFTED = {
    "opening tags": "<a>" * 21_000,
    "response openings": "<response>" * 6_500,
    "fences": "```" * 21_000,
    "closing tags after text": "<text>" + "</a>" * 16_000 + "x",
    "blanks before the end": "<a>x" + " " * 64_000 + "y",
    "nested arrays": "[" * 64_000,
    "nested objects": '{"a":' * 12_000,
    "tags with blanks": "<a " * 21_000,
}
READERS: dict[str, Callable[[str], Any]] = {
    "parse_response": parse_response,
    "parse_key_value_xml": parse_key_value_xml,
    "parse_json_block": parse_json_block,
    "parse_tag_list": lambda text: parse_tag_list(text, "a"),
    "parse_should_respond": parse_should_respond,
}


def main() -> int:
    """Time every reader on every crafted input; 1 when one is over BOUND_MS."""
    over = 0
    for name, text in CRAFTED.items():
        for reader_name, reader in READERS.items():
            slowest = 0.0
            for _ in range(REPEAT):
                started = time.perf_counter()
                reader(text)
                slowest = max(slowest, (time.perf_counter() - started) * 1000)
            flag = "" if slowest < BOUND_MS else f"  OVER {BOUND_MS:.0f} ms"
            over += bool(flag)
            print(f"{name:24s} {len(text):6d} chars  {reader_name:22s} {slowest:7.1f} ms{flag}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
