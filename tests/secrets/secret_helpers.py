"""Helpers for the secrets tests (a module name that no other test directory uses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from moltgen.core.errors import Location, MoltgenError

# Stand-ins with the attributes of moltgen.spec's Project and Spec that the secrets code reads.

@dataclass(frozen=True)
class Key:
    name: str
    env_var: str
    generated: bool = False


@dataclass
class SopsSettings:
    age_recipients: list[str]


@dataclass
class StandInSpec:
    name: str
    namespace: str
    sops: SopsSettings
    keys: list[Key] = field(default_factory=lambda: [
        Key("anthropicApiKey", "ANTHROPIC_API_KEY"),
        Key("discordBotToken", "DISCORD_BOT_TOKEN"),
        Key("gatewayToken", "OPENCLAW_GATEWAY_TOKEN", generated=True),
    ])
    secret_name_override: str | None = None

    @property
    def secret_name(self) -> str:
        return self.secret_name_override or self.name

    def secret_keys(self) -> list[Key]:
        return list(self.keys)


@dataclass
class StandInProject:
    spec_path: Path
    environments: dict[str, StandInSpec]
    instances: list = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.spec_path.parent

    def overlay_dir(self, env: str) -> str:
        return f"overlays/{env}"

    def target(self, env: str, instance: str | None = None) -> StandInTarget:
        if env not in self.environments:
            raise MoltgenError(f"no environment {env!r} in the spec (environments: "
                               f"{', '.join(self.environments)})")
        return StandInTarget(env, self.environments[env])

    def locate_setting(self, env: str, path: tuple[str, ...]) -> Location:
        return Location(str(self.spec_path), 1, 1)

    @property
    def targets(self) -> list[StandInTarget]:
        # Recomputed on each access, so a test that edits a spec sees the edit.
        return [StandInTarget(env, spec) for env, spec in self.environments.items()]


@dataclass
class StandInTarget:
    environment: str
    spec: StandInSpec
    instance: None = None  # stand-in projects are not fleets

    @property
    def directory(self) -> str:
        return f"overlays/{self.environment}"

    @property
    def label(self) -> str:
        return self.environment



def write_files(root: Path, files: dict[str, bytes]) -> None:
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)


def value_lines(content: bytes) -> dict[str, str]:
    """The `key: value` lines under stringData, as text (ciphertext or "")."""
    lines = content.decode().splitlines()
    start = lines.index("stringData:") + 1
    values = {}
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        key, _, value = line.strip().partition(": ")
        values[key] = value
    return values
