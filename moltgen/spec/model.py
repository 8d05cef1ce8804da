"""The spec's sections as pydantic models: `Spec` is the effective configuration of one
deployment (the base, an environment or an instance); `SpecFile` is the whole file."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from moltgen.core.quantity import parse_quantity
from moltgen.spec.secret_keys import AUTH_KEYS, CHANNEL_KEYS, PROVIDER_KEYS, SecretKey
from moltgen.spec.types import (
    AGE_RECIPIENT,
    DIGEST,
    IMAGE_REPOSITORY,
    IMAGE_TAG,
    Cidr,
    DnsLabel,
    Hostname,
    Model,
    Owner,
    Port,
    Quantity,
    UserAnnotations,
)


class Image(Model):
    repository: str = "ghcr.io/openclaw/openclaw"
    tag: str | None = Field(None, description="Image tag; prefer an immutable release tag.")
    digest: str | None = Field(None, description="sha256 digest; pins the image exactly. An "
                               "override that changes the tag or repository sets its own digest, "
                               "or null to drop the inherited one.")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not IMAGE_REPOSITORY.fullmatch(value):
            raise ValueError(f"{value!r} is not an image repository (like ghcr.io/openclaw/openclaw)")
        return value

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is not None and not IMAGE_TAG.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid image tag")
        return value

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value == "":
            # Null is the one way to drop a digest: an empty one is more likely a lost value.
            raise ValueError("is empty; write `digest: null` to drop the digest")
        if value is not None and not DIGEST.fullmatch(value):
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
            if not AGE_RECIPIENT.fullmatch(value):
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


# GitHub's environment names allow more; this set needs no quoting in the workflow's YAML.
GITHUB_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")


class Ci(Model):
    """The CI files render writes (top level only: one repository has one set of workflows)."""

    github: bool = Field(
        True, description="Write the GitHub Actions workflows .github/workflows/moltgen-pull-request.yml "
                          "(the pull-request gate) and moltgen-rotate-gateway-token.yml (the scheduled "
                          "gateway-token rotation), pinned to the moltgen that rendered them. Written "
                          "only for a project at its repository's root (gitops.path empty).")
    rotation_environment: str = Field(
        "moltgen-rotation", description="The protected GitHub environment (Settings > Environments) "
                                        "whose secret SOPS_AGE_KEY the rotation job reads.")
    moltgen_repository: str | None = Field(
        None, description="owner/name of the moltgen repository you trust on GitHub (upstream or "
                          "your fork): where the pre-commit config installs the hooks from.")
    pre_commit: bool = Field(
        False, description="Write .pre-commit-config.yaml with moltgen's hooks (render --check and "
                           "check) from moltgenRepository, pinned to the release that rendered it. "
                           "Off by default: a repository often has a pre-commit config of its own.")

    @field_validator("rotation_environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        if not GITHUB_ENVIRONMENT.fullmatch(value):
            raise ValueError("a GitHub environment name: letters, digits, '.', '_' and '-', "
                             "at most 100, starting with a letter or digit")
        return value

    @field_validator("moltgen_repository")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        if value is not None and not GITHUB_REPOSITORY.fullmatch(value):
            raise ValueError("owner/name of a GitHub repository")
        return value

    @field_validator("pre_commit")
    @classmethod
    def _pre_commit_source(cls, value: bool, info: ValidationInfo) -> bool:
        # absent from info.data when it failed its own check, which is then the one message
        if value and "moltgen_repository" in info.data and not info.data["moltgen_repository"]:
            raise ValueError("needs ci.moltgenRepository: the owner/name of the moltgen repository "
                             "the hooks come from")
        return value


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
    ci: Ci = Ci()
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
    owner: Owner | None = Field(None, description="Who the assistant belongs to: an email, a team, "
                                "any text. Kept verbatim in the moltgen.dev/owner annotation; the "
                                "moltgen.dev/owner label holds a label-safe form of it.")
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
