"""The typed spec (`moltgen.yaml`): pydantic models, environment merging, located errors.

A spec has a top-level configuration (what `base/` is rendered from) and `environments` whose
entries override any part of it. Overrides are merged into the raw YAML data first and then
validated as a whole, so an environment is just another complete `Spec`; instances (a fleet of
assistants) will be one more merge layer on the same mechanism.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from moltgen.core.errors import Location, MoltgenError, Problem, closest, did_you_mean
from moltgen.core.quantity import parse_quantity
from moltgen.core.shapes import mapping
from moltgen.core.yamlio import Document, load_documents, load_file

SCHEMA_FILE = "moltgen.schema.json"
ENVIRONMENT_LABEL = "moltgen.dev/environment"
INSTANCE_LABEL = "moltgen.dev/instance"
OWNER_LABEL = "moltgen.dev/owner"
MODELINE = f"# yaml-language-server: $schema=./{SCHEMA_FILE}"

# Always used with fullmatch: with match, `$` also matches before a final newline, and "dev\n"
# passed as a DNS label (creating overlays/dev\n).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*$")  # registry host:port allowed
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_AGE_RECIPIENT = re.compile(r"^age1[0-9a-z]{58}$")


def check_dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (lowercase letters, digits and '-', "
                         "starting and ending with a letter or digit, at most 63 characters)")
    return value


def _hostname(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value):
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
    if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
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


class Image(Model):
    repository: str = "ghcr.io/openclaw/openclaw"
    tag: str | None = Field(None, description="Image tag; prefer an immutable release tag.")
    digest: str | None = Field(None, description="sha256 digest; pins the image exactly.")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not _IMAGE_REPOSITORY.fullmatch(value):
            raise ValueError(f"{value!r} is not an image repository (like ghcr.io/openclaw/openclaw)")
        return value

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is not None and not _IMAGE_TAG.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid image tag")
        return value

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST.fullmatch(value):
            raise ValueError(f"{value!r} is not a sha256 digest (sha256: and 64 hex digits)")
        return value

    @property
    def reference(self) -> str:
        ref = self.repository
        if self.tag:
            ref += f":{self.tag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref


class Auth(Model):
    mode: Literal["token", "password"] = "token"


class ControlUi(Model):
    enabled: bool = True
    base_path: str | None = None
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to open the Control UI; https://<ingress host> is added, "
                    "and https://<ingress host>:<port> for each of ingress.publicPorts.")
    dangerously_disable_device_auth: bool = Field(
        False, description="Break-glass: turns off device identity and pairing for the Control UI.")


class Gateway(Model):
    port: Port = 18789
    bind: Literal["lan", "loopback", "tailnet", "auto", "custom"] = Field(
        "lan", description="Inside a pod only `lan` is reachable by the Service and the probes.")
    auth: Auth = Auth()
    control_ui: ControlUi = ControlUi()
    trusted_proxies: list[Cidr] = Field(
        default_factory=list, description="Addresses of the ingress controller (IPs or CIDRs).")
    command: list[str] = Field(default_factory=lambda: ["node", "dist/index.js", "gateway"],
                               min_length=1)


class Toggle(Model):
    enabled: bool = True


class Providers(Model):
    anthropic: Toggle = Toggle()
    openai: Toggle = Toggle(enabled=False)
    gemini: Toggle = Toggle(enabled=False)
    openrouter: Toggle = Toggle(enabled=False)


class Channels(Model):
    discord: Toggle = Toggle(enabled=False)
    telegram: Toggle = Toggle(enabled=False)
    slack: Toggle = Toggle(enabled=False)


class ResourceList(Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(Model):
    requests: ResourceList = ResourceList(cpu="250m", memory="512Mi")
    limits: ResourceList = ResourceList(cpu="1", memory="2Gi")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for name in ("cpu", "memory"):
            request, limit = getattr(self.requests, name), getattr(self.limits, name)
            if request and limit and parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"requests.{name} {request} is more than limits.{name} {limit}")
        return self


class Persistence(Model):
    enabled: bool = True
    size: Quantity = "10Gi"
    storage_class: str | None = None
    access_mode: Literal["ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany"] = "ReadWriteOnce"


class Probe(Model):
    enabled: bool = True
    path: str = "/healthz"
    initial_delay_seconds: Annotated[int, Field(ge=0)] = 0
    period_seconds: Annotated[int, Field(ge=1)] = 10
    timeout_seconds: Annotated[int, Field(ge=1)] = 5
    failure_threshold: Annotated[int, Field(ge=1)] = 3

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r} must be an absolute HTTP path starting with '/'")
        return value


class Probes(Model):
    liveness: Probe = Probe(path="/healthz", periodSeconds=30)
    readiness: Probe = Probe(path="/readyz")
    # /healthz answers on every release with health routes; /startupz only on newer ones.
    startup: Probe = Probe(path="/healthz", periodSeconds=5, failureThreshold=30)


class IngressTls(Model):
    enabled: bool = True
    secret_name: DnsLabel | None = Field(None, description="Default: <name>-tls.")


class Ingress(Model):
    enabled: bool = False
    class_name: str | None = None
    host: Hostname | None = None
    path: str = "/"
    tls: IngressTls = IngressTls()
    cluster_issuer: str | None = Field(None, description="cert-manager ClusterIssuer for the TLS certificate.")
    controller: Literal["auto", "nginx", "other"] = Field(
        "auto", description="nginx adds WebSocket timeouts; auto detects nginx-based classes.")
    annotations: UserAnnotations = Field(default_factory=dict)
    public_ports: list[Port] = Field(
        default_factory=list,
        description="Ports users open the host on besides the scheme's own (the KubeSphere "
                    "router's NodePort, e.g. 32045): each is an allowed origin with its port.")

    @model_validator(mode="after")
    def _host_when_enabled(self) -> Ingress:
        if self.enabled and not self.host:
            raise ValueError("an enabled ingress needs a host")
        return self

    @property
    def is_nginx(self) -> bool:
        if self.controller != "auto":
            return self.controller == "nginx"
        # The KubeSphere gateway (kubesphere-router-*) is ingress-nginx underneath.
        name = self.class_name or ""
        return "nginx" in name or name.startswith("kubesphere-router")


class NetworkPolicy(Model):
    enabled: bool = True
    allow_from_namespaces: list[DnsLabel] = Field(
        default_factory=list,
        description="Namespaces allowed to reach the gateway port (empty: any namespace).")


class Sops(Model):
    age_recipients: list[str] = Field(default_factory=list,
                                      description="age public keys (age1...) that can decrypt.")

    @field_validator("age_recipients")
    @classmethod
    def _recipients(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _AGE_RECIPIENT.fullmatch(value):
                raise ValueError(f"{value!r} is not an age recipient (age1 followed by 58 characters)")
        return values


class GitOps(Model):
    """How Argo CD or Flux syncs the overlays (gitops/argocd/ or gitops/flux/)."""

    engine: Literal["none", "argocd", "flux"] = "none"
    repo_url: str | None = Field(None, description="The Git repository the controllers pull.")
    revision: str = Field("main", description="Branch (Flux) or revision (Argo CD) to sync.")
    path: str = Field("", description="Where this project lives inside the repository.")
    namespace: DnsLabel | None = Field(None, description="Default: argocd or flux-system.")
    automated: bool | None = Field(
        None, description="Sync automatically; default: yes, except for an environment named "
                          "prod or production, which syncs by hand.")
    prune: bool = True
    self_heal: bool = True
    interval: str = Field("10m", description="Flux reconciliation interval.")
    depends_on: list[DnsLabel] = Field(default_factory=list,
                                       description="Flux Kustomizations to apply first.")
    destination_server: str = "https://kubernetes.default.svc"

    @field_validator("repo_url")
    @classmethod
    def _repository_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            check_repository_url(value, info.data.get("engine", "none"))
        return value

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        value = value.strip("/")
        if value.startswith("..") or "/../" in f"/{value}/":
            raise ValueError(f"{value!r} must be a path inside the repository")
        return value

    @field_validator("interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not re.fullmatch(r"([0-9]+(ms|s|m|h))+", value):
            raise ValueError(f"{value!r} is not a duration like 10m or 1h30m")
        return value

    @model_validator(mode="after")
    def _repository_when_enabled(self) -> GitOps:
        if self.engine != "none" and not self.repo_url:
            raise ValueError(f"engine {self.engine} needs repoUrl")
        return self


# What each engine accepts as a Git repository. Flux's GitRepository CRD: spec.url matches
# ^(http|https|ssh)://.*$. Argo CD (`argocd repo add`) also takes the scp-like form
# git@host:path, which its repo server normalizes.
_URL = re.compile(r"^(?P<scheme>https?|ssh)://(?:[^@/\s]+@)?(?P<host>[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])"
                  r"(?::[0-9]{1,5})?(?:/\S*)?$")
_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>(?!//)\S+)$")


def check_repository_url(value: str, engine: str) -> str:
    """`value` if `engine` can pull it; ValueError saying which form to write otherwise."""
    if _URL.fullmatch(value):
        return value
    scp = _SCP_LIKE.fullmatch(value)
    if scp and engine != "flux":
        return value
    if scp:
        fixed = f"ssh://{scp['user']}@{scp['host']}/{scp['path'].lstrip('/')}"
        raise ValueError(f"{value!r} is the scp-like form, which Flux's GitRepository rejects "
                         f"(it needs http://, https:// or ssh://): write {fixed!r}")
    accepted = "an https://, http:// or ssh:// URL" + ("" if engine == "flux" else ", or user@host:path")
    who = "Flux" if engine == "flux" else "Argo CD" if engine == "argocd" else "Argo CD or Flux"
    raise ValueError(f"{value!r} is not a Git repository {who} accepts ({accepted})")


class KubeSphere(Model):
    """Where the deployment shows up in the KubeSphere console."""

    workspace: DnsLabel | None = Field(
        None, description="The KubeSphere workspace: the namespaces moltgen creates get the "
                          "kubesphere.io/workspace label, so the deployment shows in it.")


class Pod(Model):
    """Pod-level settings of the gateway's Deployment, added to what moltgen renders. Each list
    item is checked against the Kubernetes schema of its type when the spec is loaded."""

    node_selector: dict[str, str] = Field(default_factory=dict, description="Node labels the pod must run on.")
    tolerations: list[dict[str, Any]] = Field(default_factory=list, description="Taints the pod tolerates.")
    affinity: dict[str, Any] | None = Field(None, description="Node and pod (anti-)affinity.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Extra annotations on the pod.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on the pod (not in selectors).")
    sidecars: list[dict[str, Any]] = Field(default_factory=list, description="Containers beside the gateway.")
    init_containers: list[dict[str, Any]] = Field(default_factory=list,
                                                  description="Containers run before the gateway.")
    env: list[dict[str, Any]] = Field(default_factory=list, description="Extra environment variables of the gateway.")
    volumes: list[dict[str, Any]] = Field(default_factory=list, description="Extra volumes of the pod.")
    volume_mounts: list[dict[str, Any]] = Field(default_factory=list, description="Extra volume mounts of the gateway.")


class PatchTarget(Model):
    """Which objects a patch applies to, as in a kustomization's `patches[].target`."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None


class UserPatch(Model):
    """A patch of your own, applied by kustomize after moltgen's: a strategic merge (a mapping)
    or JSON 6902 operations (a list), inline or from a file beside the spec."""

    path: str | None = Field(None, description="A patch file, relative to the spec.")
    patch: dict[str, Any] | list[Any] | None = Field(
        None, description="The patch itself: an object (strategic merge) or a list of operations (JSON 6902).")
    target: PatchTarget | None = Field(None, description="Objects to patch; required for JSON 6902.")

    @model_validator(mode="after")
    def _one_source(self) -> UserPatch:
        if (self.path is None) == (self.patch is None):
            raise ValueError("give either path or patch")
        if isinstance(self.patch, list) and self.target is None:
            raise ValueError("a JSON 6902 patch (a list of operations) needs a target")
        return self


ExtraResource = Annotated[str | dict[str, Any], Field(union_mode="left_to_right")]


class Secret(Model):
    name: DnsLabel | None = Field(None, description="Default: the spec's name.")


@dataclass(frozen=True)
class SecretKey:
    name: str  # key in the Secret, as in the seed's values file
    env_var: str  # environment variable the gateway reads
    generated: bool = False  # filled with a random value when empty


# Which Secret keys each provider and channel needs; key names follow the seed's values file.
PROVIDER_KEYS: dict[str, tuple[SecretKey, ...]] = {
    "anthropic": (SecretKey("anthropicApiKey", "ANTHROPIC_API_KEY"),),
    "openai": (SecretKey("openaiApiKey", "OPENAI_API_KEY"),),
    "gemini": (SecretKey("geminiApiKey", "GEMINI_API_KEY"),),
    "openrouter": (SecretKey("openrouterApiKey", "OPENROUTER_API_KEY"),),
}
CHANNEL_KEYS: dict[str, tuple[SecretKey, ...]] = {
    "discord": (SecretKey("discordBotToken", "DISCORD_BOT_TOKEN"),),
    "telegram": (SecretKey("telegramBotToken", "TELEGRAM_BOT_TOKEN"),),
    "slack": (SecretKey("slackBotToken", "SLACK_BOT_TOKEN"), SecretKey("slackAppToken", "SLACK_APP_TOKEN")),
}
AUTH_KEYS: dict[str, SecretKey] = {
    "token": SecretKey("gatewayToken", "OPENCLAW_GATEWAY_TOKEN", generated=True),
    "password": SecretKey("gatewayPassword", "OPENCLAW_GATEWAY_PASSWORD", generated=True),
}


class Spec(Model):
    """The effective configuration of one deployment (the base, or one environment)."""

    name: DnsLabel = Field(description="Names the Deployment, Service, Ingress and Secret.")
    namespace: DnsLabel
    image: Image = Image()
    gateway: Gateway = Gateway()
    providers: Providers = Providers()
    channels: Channels = Channels()
    secret: Secret = Secret()
    sops: Sops = Sops()
    resources: Resources = Resources()
    persistence: Persistence = Persistence()
    probes: Probes = Probes()
    ingress: Ingress = Ingress()
    network_policy: NetworkPolicy = NetworkPolicy()
    gitops: GitOps = GitOps()
    kubesphere: KubeSphere = KubeSphere()
    config: dict[str, Any] = Field(default_factory=dict,
                                   description="Extra OpenClaw configuration merged into openclaw.json.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on every object.")
    pod: Pod = Pod()
    extra_resources: list[ExtraResource] = Field(
        default_factory=list,
        description="Your own objects, added where they are written (top level: base; an "
                    "environment or instance: its overlay): a YAML file, a folder with its own "
                    "kustomization.yaml (included as is, never rewritten), or an inline object.")
    patches: list[UserPatch] = Field(
        default_factory=list,
        description="Your own patches, applied after moltgen's in the layer where they are written.")

    @property
    def secret_name(self) -> str:
        return self.secret.name or self.name

    def secret_keys(self) -> list[SecretKey]:
        keys: list[SecretKey] = []
        for provider, provider_keys in PROVIDER_KEYS.items():
            if getattr(self.providers, provider).enabled:
                keys.extend(provider_keys)
        for channel, channel_keys in CHANNEL_KEYS.items():
            if getattr(self.channels, channel).enabled:
                keys.extend(channel_keys)
        keys.append(AUTH_KEYS[self.gateway.auth.mode])
        return keys

    @property
    def allowed_origins(self) -> list[str]:
        """The Control UI origins: those configured, plus the public ingress origins."""
        origins = list(self.gateway.control_ui.allowed_origins)
        for public in self.public_origins:
            if public not in origins:
                origins.append(public)
        return origins

    @property
    def public_origins(self) -> list[str]:
        """The origins a browser sends when it opens the ingress: the host with the scheme's
        own port, and with every public port. OpenClaw compares origins exactly, port
        included, so `https://host` does not admit a page opened at `https://host:32045`."""
        if not (self.ingress.enabled and self.ingress.host):
            return []
        scheme = "https" if self.ingress.tls.enabled else "http"
        default_port = 443 if scheme == "https" else 80
        public = f"{scheme}://{self.ingress.host}"
        return [public, *(f"{public}:{port}" for port in dict.fromkeys(self.ingress.public_ports)
                          if port != default_port)]


class Instance(Model):
    """One assistant of a fleet (one per person or team), rendered in every environment."""

    name: DnsLabel
    owner: LabelValue | None = Field(None, description="Who the assistant belongs to (a label value).")
    overrides: dict[str, Any] = Field(default_factory=dict,
                                      description="Any part of the spec, for this instance only.")


class SpecFile(Model):
    """The whole file: the base configuration plus its environments and instances."""

    model_config = ConfigDict(extra="allow")  # the base's own keys are validated as a Spec

    environments: dict[DnsLabel, dict[str, Any] | None] = Field(
        default_factory=dict,
        description="Environments (dev, prod, any name); each overrides any part of the spec.")
    instances: list[Instance] = Field(
        default_factory=list,
        description="A fleet: one assistant per entry in every environment, each in its own "
                    "namespace (<environment namespace>-<instance>) with its own Secret.")


def json_schema() -> dict[str, Any]:
    """JSON Schema of moltgen.yaml for editors (yaml-language-server) and documentation."""
    schema = Spec.model_json_schema(by_alias=True)
    environment = copy.deepcopy(schema)
    environment.pop("required", None)
    environment.pop("$defs", None)
    environment["title"] = "Environment"
    environment["description"] = "Overrides for one environment; any key of the spec."
    schema["properties"]["environments"] = {
        "type": "object",
        "description": SpecFile.model_fields["environments"].description,
        "propertyNames": {"pattern": _DNS_LABEL.pattern, "maxLength": 63},
        "additionalProperties": {"$ref": "#/$defs/Environment"},
    }
    schema["$defs"]["Environment"] = environment
    instance = Instance.model_json_schema(by_alias=True)
    instance["properties"]["overrides"] = {"$ref": "#/$defs/Environment"}
    schema["properties"]["instances"] = {"type": "array", "items": instance,
                                         "description": SpecFile.model_fields["instances"].description}
    schema["title"] = "moltgen spec"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    _embed_openclaw_schema(schema)
    return schema


def _embed_openclaw_schema(schema: dict[str, Any]) -> None:
    """`config` is openclaw.json: OpenClaw's own schema (the newest shipped release), so an
    editor completes and documents every OpenClaw option; render validates against the
    release of the spec's image."""
    from moltgen.openclaw.schema import schema_at, shipped_releases, to_draft_2020_12

    release = shipped_releases()[-1]
    openclaw = to_draft_2020_12(schema_at(release, "#/$defs/OpenClawConfig"))
    openclaw.pop("$schema", None)
    openclaw["title"] = f"OpenClaw configuration (openclaw.json, OpenClaw {release})"
    schema["$defs"]["OpenClawConfig"] = openclaw
    reference = {"$ref": "#/$defs/OpenClawConfig",
                 "description": Spec.model_fields["config"].description}
    schema["properties"]["config"] = reference
    schema["$defs"]["Environment"]["properties"]["config"] = reference


@dataclass(frozen=True)
class Target:
    """One overlay to render and sync: an environment, or one instance in an environment."""

    environment: str
    instance: Instance | None
    spec: Spec

    @property
    def directory(self) -> str:
        suffix = f"/{self.instance.name}" if self.instance else ""
        return f"overlays/{self.environment}{suffix}"

    @property
    def label(self) -> str:
        return self.directory.removeprefix("overlays/")

    @property
    def overlay_labels(self) -> dict[str, str]:
        """Labels the overlay's `labels` transformer adds to every object."""
        labels = {ENVIRONMENT_LABEL: self.environment}
        if self.instance:
            labels[INSTANCE_LABEL] = self.instance.name
            if self.instance.owner:
                labels[OWNER_LABEL] = self.instance.owner
        return labels


@dataclass
class Project:
    """A loaded spec file: the base, each environment and each instance, validated."""

    spec_path: Path
    document: Document
    base: Spec
    environments: dict[str, Spec]  # the environment-level specs, before any instance
    instances: list[Instance]
    targets: list[Target]  # what gets an overlay: environments, or environment x instance
    # `base` and each overlay directory → the user's own objects, folders and patches
    additions: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.spec_path.parent

    @property
    def spec_name(self) -> str:
        return self.spec_path.name

    def overlay_dir(self, env: str, instance: str | None = None) -> str:
        return f"overlays/{env}/{instance}" if instance else f"overlays/{env}"

    def targets_of(self, env: str) -> list[Target]:
        return [target for target in self.targets if target.environment == env]

    def locate_setting(self, env: str, path: tuple[str, ...]) -> Location:
        """Where the setting `path` of `env` is written: the override, else the top level."""
        for candidate in (("environments", env, *path), path):
            if self.document.has(candidate):
                return self.document.locate(candidate)
        return Location(str(self.spec_path), 1, 1)

    def build_dir(self, env: str, instance: str | None = None) -> str:
        """The directory to build for `env`: one instance's overlay, or without an instance
        the environment's (in a fleet, the one that includes every instance)."""
        if instance is None and self.instances:
            self._require_environment(env)
            return self.overlay_dir(env)
        return self.target(env, instance).directory

    def build_dirs(self, env: str, instance: str | None = None) -> list[str]:
        """What to build for `build_dir(env, instance)`, one kustomize run each: in a fleet,
        an environment is its instances' overlays. kustomize builds an environment of 500
        instances as one tree many times slower than the 500 overlays one by one, and Argo
        CD's ApplicationSet syncs each instance's overlay on its own anyway."""
        if instance is None and self.instances:
            self._require_environment(env)
            return [target.directory for target in self.targets_of(env)]
        return [self.build_dir(env, instance)]

    def _require_environment(self, env: str) -> None:
        if env not in self.environments:
            known = ", ".join(self.environments) or "none"
            hint = did_you_mean(env, list(self.environments)) or f" (environments: {known})"
            raise MoltgenError(Problem(f"no environment {env!r} in the spec{hint}",
                                       Location(str(self.spec_path))))

    def target(self, env: str, instance: str | None = None) -> Target:
        """The overlay of `env` (and `instance`, in a fleet); MoltgenError naming the choices."""
        self._require_environment(env)
        names = [i.name for i in self.instances]
        if names and instance is None:
            raise MoltgenError(Problem(f"{env} has one overlay per instance: name one with "
                                       f"--instance ({', '.join(names)})", Location(str(self.spec_path))))
        if instance is not None and instance not in names:
            hint = did_you_mean(instance, names) or f" (instances: {', '.join(names) or 'none'})"
            raise MoltgenError(Problem(f"no instance {instance!r} in the spec{hint}",
                                       Location(str(self.spec_path))))
        directory = self.overlay_dir(env, instance)
        return next(t for t in self.targets if t.directory == directory)


# A merge layer: where its overrides are written in the file, and the overrides.
Layer = tuple[tuple[Any, ...], dict[str, Any]]


def parse_project(path: str | Path = "moltgen.yaml", *, text: str | None = None) -> Project:
    """Read and validate a spec file (or `text`, as if it were that file) as data: its layers
    merged, each overlay's Spec typed; MoltgenError with one located problem per mistake.
    The cross-checks that need the renderer are moltgen.project.load_project's."""
    spec_path = Path(path)
    display = str(path)
    # A link planted as moltgen.yaml must not make render read (and quote) a file elsewhere.
    documents = (load_documents(text, display) if text is not None
                 else load_file(spec_path, display, confine_to=spec_path.parent))
    if not documents:
        raise MoltgenError(Problem("the spec is empty; `moltgen init` writes a starter spec",
                                   Location(display, 1, 1)))
    if len(documents) > 1:
        raise MoltgenError(Problem("the spec must be a single YAML document",
                                   documents[1].locate(())))
    document = documents[0]
    if not isinstance(document.data, dict):
        raise MoltgenError(Problem(
            f"the spec must be a mapping of keys to values, not a {_kind(document.data)}",
            document.locate(())))
    raw = document.data
    problems: list[Problem] = []
    try:
        spec_file = SpecFile.model_validate({key: raw[key] for key in ("environments", "instances")
                                             if key in raw})
    except ValidationError as error:
        problems.extend(_problems(error, document, []))
        spec_file = None
    # Like Helm values: what the file says is merged onto every default, so overriding one
    # field of a section (a memory limit) keeps the section's other defaults (the CPU limit).
    base_raw = deep_merge(spec_defaults(),
                          {k: v for k, v in raw.items() if k not in ("environments", "instances")})
    base = _validate(base_raw, document, [], problems)
    environments: dict[str, Spec] = {}
    targets: list[Target] = []
    if spec_file is not None:
        problems.extend(_instance_problems(spec_file.instances, document))
        for env, overrides in spec_file.environments.items():
            env_layer: Layer = (("environments", env), overrides or {})
            env_raw = deep_merge(_own_additions_only(base_raw), env_layer[1])
            spec = _validate(env_raw, document, [env_layer], problems)
            if spec is None:
                continue
            environments[env] = spec
            if not spec_file.instances:
                targets.append(Target(env, None, spec))
            for index, instance in enumerate(spec_file.instances):
                layer: Layer = (("instances", index, "overrides"), instance.overrides)
                instance_raw = _instance_defaults(
                    deep_merge(_own_additions_only(env_raw), instance.overrides), spec, instance)
                instance_spec = _validate(instance_raw, document, [env_layer, layer], problems)
                if instance_spec is not None:
                    targets.append(Target(env, instance, instance_spec))
        for env, spec in environments.items():
            if base is not None and spec.name != base.name:
                # Overlays patch the base's objects by name, so the name is the same everywhere.
                problems.append(Problem("cannot differ per environment (use `namespace`)",
                                        document.locate(("environments", env, "name")),
                                        f"environments.{env}.name"))
    if problems:
        raise MoltgenError(dedupe(problems))
    assert base is not None and spec_file is not None
    return Project(spec_path, document, base, environments, list(spec_file.instances), targets)


# Keys whose lists add to the layer below instead of replacing it: each layer's own objects and
# patches go into its own kustomization (moltgen.project.additions).
ADDITIVE_KEYS = ("extraResources", "patches")


def _own_additions_only(raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, **{key: [] for key in ADDITIVE_KEYS if key in raw}}


def has_additions(raw: dict[str, Any]) -> bool:
    """Whether any layer of the spec's data adds objects, patches or pod parts of its own."""
    layers = [raw, *(v for v in (raw.get("environments") or {}).values() if isinstance(v, dict)),
              *(mapping(i, "overrides") for i in raw.get("instances") or [])]
    return any(layer.get(key) for layer in layers for key in (*ADDITIVE_KEYS, "pod"))


def _instance_problems(instances: list[Instance], document: Document) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for index, instance in enumerate(instances):
        if instance.name in seen:
            problems.append(Problem(f"duplicate instance {instance.name!r}",
                                    document.locate(("instances", index, "name")),
                                    f"instances.{index}.name"))
        seen.add(instance.name)
        for fixed in ("name", "namespace"):
            if fixed in instance.overrides:
                problems.append(Problem(
                    "cannot be overridden: every instance keeps the spec's name and gets its own "
                    "namespace, <environment namespace>-<instance>",
                    document.locate(("instances", index, "overrides", fixed), key=True),
                    f"instances.{index}.overrides.{fixed}"))
    return problems


def _instance_defaults(raw: dict[str, Any], env_spec: Spec, instance: Instance) -> dict[str, Any]:
    """What makes instances independent: their own namespace and their own host name."""
    raw = dict(raw)
    raw["namespace"] = f"{env_spec.namespace}-{instance.name}"
    ingress = instance.overrides.get("ingress") or {}
    merged = raw.get("ingress") or {}
    # An override that is not a mapping (`ingress: [1]`) is left for validation to report.
    if env_spec.ingress.host and isinstance(ingress, dict) and isinstance(merged, dict) \
            and "host" not in ingress:
        raw["ingress"] = {**merged, "host": f"{instance.name}.{env_spec.ingress.host}"}
    return raw


@lru_cache(maxsize=1)
def _default_values() -> dict[str, Any]:
    required = {"name": "defaults", "namespace": "defaults"}
    values = Spec.model_validate(required).model_dump(by_alias=True)
    return {key: value for key, value in values.items() if key not in required}


def spec_defaults() -> dict[str, Any]:
    """Every default of the spec, as YAML data (a fresh copy)."""
    return copy.deepcopy(_default_values())


def deep_merge(base: Any, override: Any) -> Any:
    """`override` on top of `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


def _validate(data: dict[str, Any], document: Document, layers: list[Layer],
              problems: list[Problem]) -> Spec | None:
    try:
        return Spec.model_validate(data)
    except ValidationError as error:
        problems.extend(_problems(error, document, layers))
        return None


def _problems(error: ValidationError, document: Document, layers: list[Layer]) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if part != "[key]")
        # A problem in a merged spec is reported where its value was written: in the last
        # layer (instance, then environment) that contains it, otherwise at the top level.
        path = loc
        for prefix, overrides in reversed(layers):
            if _contains(overrides, loc):
                path = (*prefix, *loc)
                break
        problems.append(_problem(dict(item), document, path, is_key="[key]" in item["loc"]))
    return problems


def _contains(data: Any, path: tuple[Any, ...]) -> bool:
    for part in path:
        if (isinstance(data, dict) and part in data) or (
                isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)):
            data = data[part]
        else:
            return False
    return True


def _problem(item: dict[str, Any], document: Document, path: tuple[Any, ...],
             is_key: bool = False) -> Problem:
    kind = item["type"]
    field = ".".join(_field_part(p) for p in path)
    value = item.get("input")
    if kind == "extra_forbidden":
        unknown = str(path[-1])
        message = f"unknown field {unknown!r}"
        suggestion = closest(unknown, _known_keys(path[:-1]))
        if suggestion:
            message += f" (did you mean {suggestion!r}?)"
        return Problem(_brief(message, unknown), document.locate(path, key=True), field)
    if kind == "missing":
        return Problem("required field is missing", document.locate(path[:-1], key=True), field)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        message = f"expected an integer, got {_show(value)}"
    elif kind in ("bool_type", "bool_parsing"):
        message = f"expected true or false, got {_show(value)}"
    elif kind in ("string_type",):
        message = f"expected text, got {_show(value)}"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        message = f"expected a mapping, got {_show(value)}"
    elif kind == "list_type":
        message = f"expected a list, got {_show(value)}"
    elif kind == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        message = f"{_show(value)} is not one of {expected}"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        message = f"{_show(value)} is out of range: {item['msg'].lower()}"
    elif kind == "value_error":
        message = str(item.get("ctx", {}).get("error", item["msg"]))
    else:
        message = item["msg"]
    return Problem(_brief(message, value), document.locate(path, key=is_key), field)


def _field_part(part: Any) -> str:
    """One key of a field path as shown: control characters escaped, a long key cut short."""
    text = str(part)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= 80 else f"{text[:60]}..."


_LONG_QUOTED = re.compile(r"""(['"])([^'"\n]{60})[^'"\n]{20,}\1""")


def _brief(message: str, value: Any = None) -> str:
    """A message quoting a value of thousands of characters, with the value cut to its start."""
    if isinstance(value, str) and len(value) > 80:
        short = repr(value[:60])
        message = message.replace(repr(value), f"{short[:-1]}...{short[-1]}")
    message = _LONG_QUOTED.sub(lambda match: f"{match[1]}{match[2]}...{match[1]}", message)
    return message if len(message) <= 500 else f"{message[:250]}...{message[-200:]}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "scalar")


def _known_keys(path: tuple[Any, ...]) -> list[str]:
    """The camelCase keys allowed at `path` (for "did you mean")."""
    model: Any = Spec
    parts = list(path)
    if parts[:1] == ["environments"]:
        parts = parts[2:]
        if not parts and len(path) == 1:
            return []
    elif parts[:1] == ["instances"]:
        if len(parts) == 2:
            return list(Instance.model_fields)
        parts = parts[3:]
    for part in parts:
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    keys = [f.alias for f in model.model_fields.values() if f.alias]
    if model is Spec and not path:
        keys.append("environments")
    return keys


def dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    unique = []
    for problem in problems:
        text = str(problem)
        if text not in seen:
            seen.add(text)
            unique.append(problem)
    return unique
