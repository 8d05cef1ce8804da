"""Shared CEL snippets: one definition of "a Moltbot workload" (and friends) for every rule.

A rule writes `isMoltbot(object)` or `objects.exists(o, isMoltbot(o))`; before compiling, the
call is replaced by the snippet with its argument bound once (`cel.bind(_mb, object, ...)`). The
expansion is plain CEL, so `policy export --format vap` exports it unchanged and the cluster
recognizes Moltbot exactly as CI does. Definitions are documented in moltgen/check/rules/README.md
and listed in docs/rules.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from moltgen.check.views import WORKLOAD_KINDS


@dataclass(frozen=True, slots=True)
class Macro:
    name: str
    parameters: tuple[str, ...]  # bound names the body uses; unique per macro, start with `_`
    body: str
    doc: str

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(_READABLE.get(p, p.lstrip('_')) for p in self.parameters)})"


# How the documentation names each parameter.
_READABLE = {"_ps": "o", "_pp": "o", "_pl": "o", "_img": "image", "_mb": "o", "_gw": "container",
             "_svc": "service", "_wl": "workload", "_ing": "ingress", "_wm": "workload",
             "_cm": "name", "_objs": "objects", "_cmn": "name"}


_WORKLOADS = "[" + ", ".join(f"'{k}'" for k in WORKLOAD_KINDS) + "]"
# An image names Moltbot when its repository (registry and path, without tag or digest)
# mentions one of the project's names; a tag such as `myapp:openclaw-compat` does not count.
_MOLTBOT_IMAGE = (
    "cel.bind(_ref, _img.split('@')[0].lowerAscii(),"
    " cel.bind(_last, _ref.split('/')[_ref.split('/').size() - 1],"
    " (_ref.substring(0, _ref.size() - _last.size()) + _last.split(':')[0])"
    ".matches('openclaw|clawdbot|moltbot')))"
)
# The Gateway's own images: the repository's last part is the project's name, exactly.
_GATEWAY_IMAGE = (
    "cel.bind(_ref, _img.split('@')[0].lowerAscii(),"
    " _ref.split('/')[_ref.split('/').size() - 1].split(':')[0].matches('^(openclaw|clawdbot|moltbot)$'))"
)
_MOLTBOT_NAMES = "['openclaw', 'moltbot', 'clawdbot']"

MACROS: tuple[Macro, ...] = (
    Macro("podSpecOf", ("_ps",),
          "_ps.kind == 'Pod' ? _ps.?spec.orValue({}) :"
          " _ps.kind == 'CronJob' ? _ps.?spec.?jobTemplate.?spec.?template.?spec.orValue({}) :"
          f" _ps.kind in {_WORKLOADS} ? _ps.?spec.?template.?spec.orValue({{}}) : {{}}",
          "the pod spec of any workload (`{}` for other kinds)"),
    Macro("podSpecPath", ("_pp",),
          "_pp.kind == 'Pod' ? 'spec' : _pp.kind == 'CronJob' ? 'spec.jobTemplate.spec.template.spec'"
          " : 'spec.template.spec'",
          "the field path of a workload's pod spec, for `fieldExpression`"),
    Macro("podLabelsOf", ("_pl",),
          "_pl.kind == 'Pod' ? _pl.?metadata.?labels.orValue({}) :"
          " _pl.kind == 'CronJob' ? _pl.?spec.?jobTemplate.?spec.?template.?metadata.?labels.orValue({}) :"
          " _pl.?spec.?template.?metadata.?labels.orValue({})",
          "the pod labels of any workload"),
    Macro("isMoltbotImage", ("_img",), _MOLTBOT_IMAGE,
          "an image reference whose repository contains openclaw, clawdbot or moltbot"),
    Macro("isGatewayImage", ("_img",), _GATEWAY_IMAGE,
          "an image reference whose repository's last part is openclaw, clawdbot or moltbot"),
    Macro("isMoltbot", ("_mb",),
          f"_mb.kind in {_WORKLOADS} && ("
          f" podLabelsOf(_mb)[?'app.kubernetes.io/name'].orValue('') in {_MOLTBOT_NAMES} ||"
          f" _mb.?metadata.?labels.orValue({{}})[?'app.kubernetes.io/name'].orValue('') in {_MOLTBOT_NAMES} ||"
          " (podSpecOf(_mb).?initContainers.orValue([]) + podSpecOf(_mb).?containers.orValue([]))"
          ".exists(_c, isMoltbotImage(_c.?image.orValue(''))))",
          "a workload of Moltbot: label `app.kubernetes.io/name` openclaw, moltbot or clawdbot "
          "(pod template or object), or a container image whose repository contains openclaw, "
          "clawdbot or moltbot"),
    Macro("isMoltbotGateway", ("_gw",),
          "_gw.?name.orValue('') == 'gateway' ||"
          " cel.bind(_cmd, _gw.?command.orValue([]) + _gw.?args.orValue([]),"
          " _cmd.exists(_a, _a.matches('(^|[\\\\s/])gateway(\\\\s|$)')) ||"
          " (_cmd.size() == 0 && isGatewayImage(_gw.?image.orValue(''))))",
          "a container that runs the Gateway: it is named `gateway` (as moltgen names it), "
          "`gateway` is a word of its command or args (`openclaw gateway`, `node dist/index.js "
          "gateway`), or it runs the Gateway's own image (`.../openclaw`, `.../clawdbot`, "
          "`.../moltbot`) with its default command; a sidecar whose image merely mentions "
          "OpenClaw (`openclaw-exporter`) is not the Gateway"),
    Macro("selectsPods", ("_svc", "_wl"),
          "_svc.?spec.?selector.orValue({}).size() > 0 &&"
          " cel.bind(_lbl, podLabelsOf(_wl),"
          " _svc.spec.selector.all(_k, _k in _lbl && _lbl[_k] == _svc.spec.selector[_k]))",
          "`service` has a selector and it matches the pod labels of `workload`"),
    Macro("ingressServices", ("_ing",),
          "_ing.?spec.?rules.orValue([]).map(_r, _r.?http.?paths.orValue([])"
          ".filter(_p, _p.?backend.?service.?name.hasValue()).map(_p, _p.backend.service.name))"
          ".map(_l, _l.join(' ')).join(' ').split(' ').filter(_n, _n != '') +"
          " (_ing.?spec.?defaultBackend.?service.?name.hasValue() ? [_ing.spec.defaultBackend.service.name] : [])",
          "the names of the Services an Ingress routes to (paths and default backend)"),
    Macro("mountsConfigMap", ("_wm", "_cm"),
          "podSpecOf(_wm).?volumes.orValue([]).exists(_v, _v.?configMap.?name.orValue('') == _cm ||"
          " _v.?projected.?sources.orValue([]).exists(_src, _src.?configMap.?name.orValue('') == _cm))",
          "`workload` has a volume (plain or projected) of the ConfigMap `name`"),
    Macro("ingressesRoutingTo", ("_objs", "_cmn"),
          "cel.bind(_svcs, _objs.filter(_s, _s.kind == 'Service' &&"
          " _objs.exists(_w, mountsConfigMap(_w, _cmn) && selectsPods(_s, _w))).map(_s, _s.metadata.name),"
          " _objs.filter(_i, _i.kind == 'Ingress' && ingressServices(_i).exists(_n, _n in _svcs)))",
          "the Ingresses of `objects` that route to a Service of `objects` selecting a workload of "
          "`objects` that mounts the ConfigMap `name` (Ingress → Service → workload → ConfigMap)"),
)
_BY_NAME = {m.name: m for m in MACROS}
_CALL = re.compile(r"(?<![\w.])(" + "|".join(_BY_NAME) + r")\(")
_STRING = re.compile(r"""[rR]?(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")""", re.DOTALL)
# A string literal (skipped whole, brackets inside it do not count) or one bracket or comma.
_STRUCTURE = re.compile(_STRING.pattern + r"|[()\[\]{},]", re.DOTALL)


def expand(source: str) -> str:
    """Replace every macro call by its definition; sources without a macro are returned as is."""
    for _ in range(20):  # macros use macros; a fixed bound instead of recursion
        expanded = _expand_once(source)
        if expanded == source:
            return source
        source = expanded
    raise ValueError("macro expansion does not terminate")


def _expand_once(source: str) -> str:
    def replace(name: str, arguments: list[str]) -> str:
        macro = _BY_NAME[name]
        if len(arguments) != len(macro.parameters):
            raise ValueError(f"{macro.signature} takes {len(macro.parameters)} argument(s), "
                             f"got {len(arguments)}")
        body = macro.body
        binds = []
        for parameter, argument in zip(macro.parameters, (a.strip() for a in arguments), strict=True):
            if _SIMPLE.fullmatch(argument):  # a name or a field: substitute, no bind needed
                body = re.sub(rf"(?<![\w.]){parameter}\b", argument, body)
            else:
                binds.append((parameter, argument))
        expansion = f"({body})"
        for parameter, argument in reversed(binds):
            expansion = f"cel.bind({parameter}, {argument}, {expansion})"
        return expansion

    return _rewrite_calls(source, _CALL, replace)


# Arguments substituted as they are: a name, optionally with field selections (`o.metadata.name`).
_SIMPLE = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*")
_BIND = re.compile(r"(?<![\w.])(cel\.bind)\(")


def lower_bind(source: str) -> str:
    """`cel.bind(x, init, body)` as `[init].map(x, body)[0]`, for the runtime only.

    cel-expr-python 0.1.3 (CEL C++, lazy bind initialization) reads a stale value for a bound
    name when an earlier comprehension in the same expression stopped early:
    `[1, 2].exists(k, k == 1) ? cel.bind(n, ['c'], n) : []` evaluates to `2`. A one-element
    comprehension assigns its variable before every use, so it is always right. Exports
    (ValidatingAdmissionPolicy, docs) keep `cel.bind`, which cel-go evaluates correctly.
    """
    def replace(_name: str, arguments: list[str]) -> str:
        if len(arguments) != 3:
            raise ValueError(f"cel.bind takes 3 arguments, got {len(arguments)}")
        name, init, body = (lower_bind(a.strip()) for a in arguments)
        return f"[{init}].map({name}, {body})[0]"

    # A bind that is the whole expression (such as the engine's `cel.bind(params, {...}, ...)`)
    # encloses every comprehension, so its slot is never shared: keep it, it is cheaper.
    match = _BIND.match(source.strip())
    if match and _closing_paren(source.strip(), match.end()) == len(source.strip()) - 1:
        text = source.strip()
        arguments = _split_arguments(text[match.end():-1])
        if len(arguments) == 3:
            name, init, body = arguments
            return f"cel.bind({name.strip()}, {lower_bind(init.strip())}, {lower_bind(body.strip())})"
    return _rewrite_calls(source, _BIND, replace)


def _rewrite_calls(source: str, pattern: re.Pattern[str], replace: Any) -> str:
    """Replace each call `name(args)` found by `pattern` (outside strings) by replace(name, args)."""
    out, position = [], 0
    while True:
        match = _search_outside_strings(source, pattern, position)
        if match is None:
            out.append(source[position:])
            return "".join(out)
        end = _closing_paren(source, match.end())
        if end is None:
            out.append(source[position:])  # unbalanced: let the compiler report it
            return "".join(out)
        out.append(source[position:match.start()])
        out.append(replace(match.group(1), _split_arguments(source[match.end():end])))
        position = end + 1


def _search_outside_strings(source: str, pattern: re.Pattern[str], position: int) -> re.Match[str] | None:
    while True:
        match = pattern.search(source, position)
        if match is None:
            return None
        string = next((s for s in _STRING.finditer(source) if s.start() < match.start() < s.end()), None)
        if string is None:
            return match
        position = string.end()


def _split_arguments(text: str) -> list[str]:
    arguments, depth, start = [], 0, 0
    for token in _STRUCTURE.finditer(text):
        char = token.group()
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            arguments.append(text[start:token.start()])
            start = token.end()
    arguments.append(text[start:])
    return arguments if any(a.strip() for a in arguments) else []


def _closing_paren(source: str, start: int) -> int | None:
    depth = 1
    for token in _STRUCTURE.finditer(source, start):
        char = token.group()
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return token.start()
    return None
