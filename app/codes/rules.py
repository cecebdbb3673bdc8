"""What a code is, how it is matched, and how batches are generated. Pure: no database, no HTTP.

A code is matched without regard to case, spaces or hyphens: `sum-ab12-cd34`, `SUM AB12 CD34` and
`SUMAB12CD34` are one code, whose key (`code_key`) is `SUMAB12CD34`. Generated codes come from
`secrets`, over an alphabet without the characters people misread (0 O 1 I L).
"""

import re
import secrets
from collections.abc import Iterator

# 2-9 and A-Z without I, L and O: 31 characters no one mistakes for another.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PLACEHOLDER = "#"
# A batch must leave a guesser this many codes that do not exist for every one that does.
KEYSPACE_FACTOR = 1_000_000
MIN_KEY_LENGTH = 3
MAX_LENGTH = 64

# What a person may type: letters, digits, and spaces or hyphens between them (ignored when matched).
CODE_PATTERN = r"^[A-Za-z0-9](?:[ \-]*[A-Za-z0-9]){2,}[ \-]*$"  # at least MIN_KEY_LENGTH letters or digits
PATTERN_PATTERN = r"^[A-Za-z0-9#][A-Za-z0-9# \-]*$"
_SEPARATORS = re.compile(r"[\s\-]+")


def code_key(code: str) -> str:
    """What a code is matched on: upper case, without spaces and hyphens."""
    return _SEPARATORS.sub("", code).upper()


def keyspace(pattern: str) -> int:
    """How many different codes `pattern` can make."""
    return int(len(ALPHABET) ** pattern.count(PLACEHOLDER))


def keyspace_problem(pattern: str, count: int) -> str | None:
    """Why `pattern` cannot hold a batch of `count` codes, or None."""
    if PLACEHOLDER not in pattern:
        return f"the pattern has no {PLACEHOLDER}: each {PLACEHOLDER} stands for one random character"
    needed = count * KEYSPACE_FACTOR
    if keyspace(pattern) < needed:
        places = pattern.count(PLACEHOLDER)
        more = 0
        while len(ALPHABET) ** (places + more) < needed:
            more += 1
        return (
            f"{pattern!r} can make {keyspace(pattern):,} codes, fewer than {KEYSPACE_FACTOR:,} times the "
            f"{count:,} asked for, so a guessed code would too often exist: add {more} more {PLACEHOLDER}"
        )
    return None


def generate(pattern: str) -> str:
    """One code from `pattern`: each `#` a random character of ALPHABET, the rest as written (upper case)."""
    return "".join(secrets.choice(ALPHABET) if char == PLACEHOLDER else char for char in pattern.upper())


def generated(pattern: str, count: int) -> Iterator[str]:
    """`count` distinct codes from `pattern` (distinct by key)."""
    seen: set[str] = set()
    while len(seen) < count:
        code = generate(pattern)
        key = code_key(code)
        if key not in seen:
            seen.add(key)
            yield code
