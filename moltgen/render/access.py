"""How to reach one rendered overlay (`moltgen access`): the URLs users open, how to read the
gateway token without showing it, the device-pairing commands and a port-forward fallback,
all named as render names them (namespace, Deployment, container, Secret and key).

Pure like the rest of render: built from the spec alone. The token itself is never read here,
and nothing here can read it: the commands read it when the operator runs them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from moltgen.render import SECRET_FILE
from moltgen.render.objects import CONTAINER_NAME
from moltgen.spec.project import Project, Target
from moltgen.spec.secret_keys import AUTH_KEYS

# What the commands put where the token goes. Both releases warn that `?token=` query
# parameters are deprecated ("Use URL fragment instead: #token=<token>"): a fragment never
# reaches the server, its logs or the proxy's.
TOKEN_PLACEHOLDER = "<token>"
REQUEST_PLACEHOLDER = "<requestId>"
# The image's entry point (shared/MOLTBOT.md), for a gateway command that names no `gateway`
# subcommand (a wrapper script): its CLI is the same program.
DEFAULT_CLI = ("node", "dist/index.js")
# X11; the text output names the macOS and Wayland equivalents.
CLIPBOARD = "xclip -selection clipboard"
LOOPBACK = "127.0.0.1"
# Where the encrypted Secret holds its values (moltgen.secrets.manifest writes `stringData`;
# a test holds the two together, as render may not import secrets).
VALUES_FIELD = "stringData"


@dataclass(frozen=True)
class Access:
    """One overlay's ways in, as `moltgen access` prints them; the names are its spec's."""

    target: Target
    urls: tuple[str, ...]  # what users open, port included; the token as a placeholder
    secret_file: str | None  # the encrypted Secret in the repository, when one is rendered
    cli: tuple[str, ...]  # the gateway's own CLI, as the Deployment runs the gateway
    port_forward_url: str

    @property
    def environment(self) -> str:
        return self.target.environment

    @property
    def instance(self) -> str | None:
        return self.target.instance.name if self.target.instance else None

    @property
    def label(self) -> str:
        return self.target.label

    @property
    def namespace(self) -> str:
        return self.target.spec.namespace

    @property
    def deployment(self) -> str:
        return self.target.spec.name

    container = CONTAINER_NAME

    @property
    def secret(self) -> str:
        return self.target.spec.secret_name

    @property
    def auth(self) -> str:
        return self.target.spec.gateway.auth.mode

    @property
    def key(self) -> str:
        """gatewayToken, or gatewayPassword under auth.mode password."""
        return AUTH_KEYS[self.auth].name

    @property
    def port(self) -> int:
        return self.target.spec.gateway.port

    @property
    def control_ui(self) -> bool:
        return self.target.spec.gateway.control_ui.enabled

    @property
    def pairing(self) -> bool:
        """Device pairing is on unless dangerouslyDisableDeviceAuth switches it off."""
        return not self.target.spec.gateway.control_ui.dangerously_disable_device_auth

    @property
    def port_forward_origin(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def port_forward_allowed(self) -> bool:
        """Whether the port-forward's origin is in controlUi.allowedOrigins."""
        return self.port_forward_origin in self.target.spec.allowed_origins

    def exec_command(self, *args: str) -> str:
        return self._kubectl("exec", f"deploy/{self.deployment}", "-c", self.container, "--",
                             *self.cli, *args)

    def devices_list(self) -> str:
        return self.exec_command("devices", "list", "--json")

    def devices_approve(self) -> str:
        return self.exec_command("devices", "approve", REQUEST_PLACEHOLDER, "--json")

    def port_forward(self) -> str:
        return self._kubectl("port-forward", f"deploy/{self.deployment}", f"{self.port}:{self.port}")

    def read_from_cluster(self) -> str:
        """Prints the value on stdout: only ever run inside `to_clipboard`'s substitution."""
        jsonpath = f"jsonpath={{.data.{self.key}}}"
        return f"{self._kubectl('get', 'secret', self.secret, '-o', jsonpath)} | base64 -d"

    def read_from_repository(self) -> str | None:
        if self.secret_file is None:
            return None
        extract = f'["{VALUES_FIELD}"]["{self.key}"]'
        return shlex.join(["sops", "-d", "--extract", extract, self.secret_file])

    def to_clipboard(self, read: str, url: str | None) -> str:
        """`read`'s output, inside `url` in place of the token, straight into the clipboard.
        `printf` is a shell builtin and `$(...)` captures the output, so the value is never
        on the terminal nor in any process's arguments; the pipe carries it to the clipboard."""
        prefix = url.removesuffix(TOKEN_PLACEHOLDER) if url and self.auth == "token" else ""
        return f"printf '%s' \"{_double_quoted(prefix)}$({read})\" | {CLIPBOARD}"

    def _kubectl(self, *args: str) -> str:
        return shlex.join(["kubectl", "-n", self.namespace, *args])


def _double_quoted(text: str) -> str:
    """`text` safe inside a double-quoted shell word (a URL has no quotes, but be sure)."""
    return "".join(f"\\{c}" if c in '"$`\\' else c for c in text)


def gateway_cli(command: list[str]) -> tuple[str, ...]:
    """The program the gateway's command runs, without its `gateway` subcommand and flags:
    `node dist/index.js gateway` → `node dist/index.js`, `openclaw gateway` → `openclaw`. The
    relative `dist/index.js` resolves in the image's working directory, which `kubectl exec`
    starts in too (the Deployment sets no workingDir)."""
    if "gateway" not in command:
        return DEFAULT_CLI
    return tuple(command[:len(command) - 1 - command[::-1].index("gateway")])


def access_of(project: Project, target: Target) -> Access:
    spec = target.spec
    control_ui = spec.gateway.control_ui
    base_path = "/" + (control_ui.base_path or "").strip("/")
    path = base_path if base_path == "/" else base_path + "/"
    origins = spec.public_origins
    # An origin with a public port comes first: those ports exist because users open the host
    # there (a NodePort router); the scheme's own port is still allowed and listed after it.
    ordered = [*origins[1:], *origins[:1]]
    # The Control UI takes a token from the fragment; a password is typed into its login.
    fragment = f"#token={TOKEN_PLACEHOLDER}" if spec.gateway.auth.mode == "token" else ""
    secret_file = None
    if spec.sops.age_recipients:  # render writes the encrypted Secret only then
        secret_file = (project.root / target.directory / SECRET_FILE).as_posix()
    return Access(
        target=target,
        urls=tuple(f"{origin}{path}{fragment}" for origin in ordered) if control_ui.enabled else (),
        secret_file=secret_file,
        cli=gateway_cli(spec.gateway.command),
        port_forward_url=f"http://{LOOPBACK}:{spec.gateway.port}{path}{fragment}",
    )


def access(project: Project, env: str, instance: str | None = None) -> list[Access]:
    """Every overlay `env` (and `instance`) names; MoltgenError naming the choices otherwise."""
    return [access_of(project, target) for target in project.targets_for(env, instance)]
