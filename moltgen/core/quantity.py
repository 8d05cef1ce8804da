"""Kubernetes resource quantities (`250m`, `2Gi`, `1e3`), parsed exactly.

The same parser serves the spec (validating `resources`) and the policy rules (comparing
`2Gi` with `1536Mi`), so both agree on what a quantity is.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

_SUFFIXES: dict[str, Fraction] = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}

# The grammar of k8s.io/apimachinery/pkg/api/resource: a signed decimal number followed by a
# binary SI suffix, a decimal SI suffix, or a decimal exponent.
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?$"
)


def parse_quantity(text: str | float) -> Fraction:
    """The exact value of a quantity; raises ValueError for anything Kubernetes would reject."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    if isinstance(text, (int, float)):
        text = str(text)
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    return _parse_text(text)


@lru_cache(maxsize=4096)  # a fleet's spec repeats a few quantities thousands of times
def _parse_text(text: str) -> Fraction:
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number = Fraction(match["number"])
    if match["exponent"] is not None:
        exponent = int(match["exponent"])
        if abs(exponent) > 30:
            raise ValueError(f"{text!r} is out of range for a Kubernetes quantity")
        return number * Fraction(10) ** exponent
    return number * _SUFFIXES[match["suffix"] or ""]


def is_quantity(text: object) -> bool:
    try:
        parse_quantity(text)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def to_mebibytes(text: str) -> int:
    """Whole MiB in a memory quantity, rounded down (what `--max-old-space-size` takes)."""
    return int(parse_quantity(text) / 2**20)
