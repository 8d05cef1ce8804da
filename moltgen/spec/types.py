"""The spec's field types: validated text (DNS labels, quantities, CIDR ranges, label
values) and the strict camelCase base model every section of moltgen.yaml derives from."""

from __future__ import annotations

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


def _label_value(value: str) -> str:
    if len(value) > 63 or not LABEL_VALUE.fullmatch(value):
        raise ValueError(f"{value!r} is not a Kubernetes label value (letters, digits, '-', '_', "
                         "'.', at most 63 characters)")
    return value


DnsLabel = Annotated[str, AfterValidator(check_dns_label)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
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
