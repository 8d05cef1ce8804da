"""The one place moltgen talks to a CEL implementation.

We use `cel-expr-python`, the Python binding of the CEL C++ runtime maintained by the CEL project
(github.com/cel-expr/cel-python). The Rust-based `common-expression-language` package was measured
first and rejected for this job: converting one Deployment into its values costs ~300-550 µs
(every string and map key goes through a chain of failing type probes), and field selection on a
nested map copies the map (`object.spec.x` ~100 µs) — 10k objects would take far longer than the
5 s budget. The C++ runtime reads Python dicts in place (activation ~5 µs) and evaluates a typical
rule in 2-15 µs. It also has what Kubernetes CEL has and the Rust one lacks: optional field
selection (`a.?b.orValue(x)`), `cel.bind`, the strings extension, and errors as values.

Kubernetes quantity and CIDR helpers are registered here. The C++ binding cannot return a Python object for
an opaque type, so `quantity(s)` returns the validated quantity *string* and the methods are
declared on strings; `quantity('2Gi').compareTo(quantity('1536Mi'))` therefore reads and behaves as
in Kubernetes. (Compare quantities with `compareTo`/`isLessThan`/`isGreaterThan`, never `==`.)
CIDRs the same way: `cidr(s)` returns the validated text and `prefixLength()` is declared on
strings, so `cidr('10.0.0.0/8').prefixLength()` means what it means in Kubernetes CEL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from functools import cache, lru_cache
from ipaddress import ip_network
from typing import Any

from moltgen.check import macros
from moltgen.core.quantity import parse_quantity

# Every variable a rule may use, all dynamically typed (manifests are schemaless here).
VARIABLES = ("object", "objects", "container", "podSpec", "env", "params", "secret", "openclaw",
             "now", "item")


class CelError(Exception):
    """An expression that does not compile; the message is the compiler's, with a caret line."""


@lru_cache(maxsize=8192)
def _quantity(text: str) -> Fraction:
    return parse_quantity(text)


def _compare(a: str, b: str) -> int:
    x, y = _quantity(a), _quantity(b)
    return (x > y) - (x < y)


def _as_integer(a: str) -> int:
    value = _quantity(a)
    if value.denominator != 1:
        raise ValueError(f"quantity {a!r} is not an integer")
    return int(value)


def _network(text: str) -> Any:
    """A prefix as Kubernetes' `isCIDR` takes it: an address, `/`, a length (host bits may be
    set, as Go's netip.ParsePrefix allows); a bare address is not a CIDR."""
    if "/" not in text:
        raise ValueError(f"{text!r} is not a CIDR (no prefix length)")
    return ip_network(text, strict=False)


def _validated(parse: Callable[[str], Any]) -> Callable[[str], str]:
    """`quantity(s)`, `cidr(s)`: the text itself once `parse` accepts it; a ValueError from
    `parse` becomes an error value in CEL, as in Kubernetes."""
    def check(text: str) -> str:
        parse(text)
        return text
    return check


def _accepted(parse: Callable[[str], Any]) -> Callable[[str], bool]:
    """`isQuantity(s)`, `isCIDR(s)`: whether `parse` accepts the text."""
    def accepts(text: str) -> bool:
        try:
            parse(text)
        except ValueError:
            return False
        return True
    return accepts


# What a ValidatingAdmissionPolicy's expressions see (`policy export` output, evaluated by the
# tests as the API server would).
ADMISSION_VARIABLES = ("object", "oldObject", "variables", "params", "request", "namespaceObject")


@lru_cache(maxsize=2)
def _environment(names: tuple[str, ...]) -> Any:  # always explicit: one cached env per tuple
    from cel_expr_python import cel
    from cel_expr_python.ext import ext_bindings, ext_encoders, ext_math, ext_optional, ext_strings

    s, i, b, d, dyn = cel.Type.STRING, cel.Type.INT, cel.Type.BOOL, cel.Type.DOUBLE, cel.Type.DYN

    def fn(name: str, result: Any, params: list[Any], impl: Any, member: bool = False) -> Any:
        return cel.FunctionDecl(name, [cel.Overload(f"moltgen_{name}", result, params,
                                                    is_member=member, impl=impl)])

    functions = [
        fn("quantity", s, [s], _validated(_quantity)),
        fn("isQuantity", b, [s], _accepted(_quantity)),
        fn("compareTo", i, [s, s], _compare, member=True),
        fn("isLessThan", b, [s, s], lambda a, c: _compare(a, c) < 0, member=True),
        fn("isGreaterThan", b, [s, s], lambda a, c: _compare(a, c) > 0, member=True),
        fn("asInteger", i, [s], _as_integer, member=True),
        fn("asApproximateFloat", d, [s], lambda a: float(_quantity(a)), member=True),
        fn("isInteger", b, [s], lambda a: _quantity(a).denominator == 1, member=True),
        fn("sign", i, [s], lambda a: (_quantity(a) > 0) - (_quantity(a) < 0), member=True),
        fn("cidr", s, [s], _validated(_network)),
        fn("isCIDR", b, [s], _accepted(_network)),
        fn("prefixLength", i, [s], lambda a: _network(a).prefixlen, member=True),
    ]
    variables = dict.fromkeys(names, dyn)
    if names == VARIABLES:
        variables["objects"] = cel.Type.List(dyn)
        variables["env"] = s
        variables["now"] = cel.Type.TIMESTAMP
    extensions = [ext_strings.ExtStrings(), ext_optional.ExtOptional(), ext_bindings.ExtBindings(),
                  ext_math.ExtMath(), ext_encoders.ExtEncoders()]
    return cel.NewEnv(variables=variables, extensions=extensions, functions=functions)


@dataclass(frozen=True, slots=True)
class EvalError:
    """An expression that failed at run time (missing key, bad quantity, iteration budget)."""

    message: str


class Program:
    """A compiled expression; `run` returns the value or an EvalError, never raises."""

    __slots__ = ("_expression", "source")

    def __init__(self, source: str, names: tuple[str, ...] = VARIABLES):
        self.source = source
        try:
            self._expression = _environment(names).compile(source)
        except RuntimeError as exc:
            raise CelError(_clean(str(exc))) from None

    def run(self, activation: Any) -> Any:
        try:
            value = self._expression.eval(activation)
        except RuntimeError as exc:  # e.g. "Iteration budget exceeded"
            return EvalError(_clean(str(exc)))
        except MemoryError:  # past limits.memory_cap: a value grew without bound
            return EvalError("memory budget exceeded")
        if value.type().name() == "ERROR":
            return EvalError(_clean(str(value.value())))
        return value.plain_value()


def activation(object: Any, *, objects: list[Any] | None = None, container: Any = None,
               pod_spec: Any = None, env: str = "", params: Any = None, secret: Any = None,
               openclaw: Any = None, now: datetime, item: Any = None) -> Any:
    # `params` is normally compiled into the program (engine.EffectiveRule); the binding here
    # only serves expressions evaluated without a rule.
    """Bind every rule variable; the runtime reads these Python values in place (no copy)."""
    return _environment(VARIABLES).Activation({
        "object": object, "objects": objects or [], "container": container or {},
        "podSpec": pod_spec or {}, "env": env, "params": params or {}, "secret": secret or {},
        "openclaw": openclaw or {}, "now": now, "item": {} if item is None else item,
    })


@cache
def compile_expression(source: str) -> Program:
    """Compile once per distinct source text (the catalog shares many idioms); shared snippets
    such as `isMoltbot(o)` (moltgen.check.macros) are expanded first."""
    try:
        return Program(macros.lower_bind(macros.expand(source)))
    except ValueError as exc:
        raise CelError(str(exc)) from None


def compile_admission_expression(source: str) -> Program:
    """An exported ValidatingAdmissionPolicy expression, over the admission variables."""
    try:
        return Program(macros.lower_bind(source), ADMISSION_VARIABLES)
    except ValueError as exc:
        raise CelError(str(exc)) from None


def admission_activation(bindings: dict[str, Any]) -> Any:
    return _environment(ADMISSION_VARIABLES).Activation(bindings)


def _clean(message: str) -> str:
    for prefix in ("INVALID_ARGUMENT: ", "NOT_FOUND: ", "UNKNOWN: ", "OUT_OF_RANGE: ", "INTERNAL: "):
        message = message.replace(prefix, "")
    return message.replace(" [INVALID_ARGUMENT]", "").replace(" [INTERNAL]", "").strip()
