"""The spec's field types: validated text (DNS labels, quantities, CIDR ranges, owners and
their label-safe form) and the strict camelCase base model every section of moltgen.yaml
derives from."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from moltgen.core.quantity import parse_quantity

# Always used with fullmatch: with match, `$` also matches before a final newline, and "dev\n"
# passed as a DNS label (creating overlays/dev\n).
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*$")  # registry host:port allowed
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
AGE_RECIPIENT = re.compile(r"^age1[0-9a-z]{58}$")


def check_dns_label(value: str) -> str:
    if len(value) > 63 or not DNS_LABEL.fullmatch(value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (lowercase letters, digits and '-', "
                         "starting and ending with a letter or digit, at most 63 characters)")
    return value


def _hostname(value: str) -> str:
    if len(value) > 253 or not DNS_SUBDOMAIN.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid host name")
    return value


def _no_waivers(annotations: dict[str, str]) -> dict[str, str]:
    # A waiver annotation would let the spec (and so a pull request) waive findings on the
    # objects it renders; waivers belong in the policy file, which the target branch owns.
    for key in annotations:
        if key.startswith("moltgen.dev/waive."):
            raise ValueError(f"{key!r}: waiver annotations are not allowed here; waive findings "
                             "in policies/policy.yaml")
    return annotations


UserAnnotations = Annotated[dict[str, str], AfterValidator(_no_waivers)]


def _quantity(value: str) -> str:
    parse_quantity(value)  # raises ValueError: "'2 gigs' is not a Kubernetes quantity"
    return value


def _number_to_text(value: Any) -> Any:
    # `cpu: 1` in YAML is an int; Kubernetes accepts both spellings, so keep the text form.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR range") from None
    return value


# Control characters would reach terminals and CI logs verbatim wherever the owner is shown.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
OWNER_MAX = 253


def _owner(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty; leave `owner` out for an assistant without one")
    if _CONTROL.search(value):
        raise ValueError("holds a control character (a line break or escape)")
    if len(value) > OWNER_MAX:
        raise ValueError(f"is {len(value)} characters long, over {OWNER_MAX}")
    return value


def label_safe(value: str) -> str:
    """`value` as a Kubernetes label value: itself when it already is one (lowercase, so a
    fleet's labels read alike), else lowercased, other characters turned into '-', trimmed to
    fit, and ended by 8 hex digits of the value's sha256, so two values that differ never get
    the same label ("alice@example.com" and "alice-example.com" both lose their '@')."""
    if value == value.lower() and len(value) <= 63 and LABEL_VALUE.fullmatch(value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    safe = re.sub(r"[^a-z0-9._-]+", "-", value.lower())
    safe = safe[:63 - len(digest) - 1].strip("-._")
    return f"{safe}-{digest}" if safe else digest


DnsLabel = Annotated[str, AfterValidator(check_dns_label)]
Owner = Annotated[str, AfterValidator(_owner)]
Hostname = Annotated[str, AfterValidator(_hostname)]
Quantity = Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_quantity)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Port = Annotated[int, Field(ge=1, le=65535)]


_ACRONYMS = {"url": "URL", "ui": "UI", "tls": "TLS", "cpu": "CPU", "gitops": "GitOps",
             "sops": "SOPS", "openai": "OpenAI", "openrouter": "OpenRouter",
             "kubesphere": "KubeSphere"}


def field_title(name: str, _info: Any = None) -> str:
    """An editor hover's title, for people: `repo_url` reads "Repo URL", not "Repourl"."""
    words = [_ACRONYMS.get(word, word) for word in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


class Model(BaseModel):
    """Strict camelCase models: unknown keys are errors and "1" is not an integer."""

    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel,
                              populate_by_name=False, frozen=True,
                              field_title_generator=field_title,
                              model_title_generator=lambda model: field_title(
                                  re.sub(r"(?<=[a-z])(?=[A-Z])", "_", model.__name__)
                                  .lower().replace("git_ops", "gitops").replace("kube_sphere", "kubesphere")))
