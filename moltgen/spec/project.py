"""A loaded spec: the `Project` (base, environments, instances) and its `Target`s, the
overlays that get rendered and synced."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moltgen.core.errors import Location, MoltgenError, Problem, did_you_mean
from moltgen.core.yamlio.document import Document
from moltgen.spec.model import Instance, Spec
from moltgen.spec.types import label_safe

ENVIRONMENT_LABEL = "moltgen.dev/environment"
INSTANCE_LABEL = "moltgen.dev/instance"
OWNER_LABEL = "moltgen.dev/owner"  # the owner's label-safe form, to select by
OWNER_ANNOTATION = "moltgen.dev/owner"  # the owner as written: an email, a team's name


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
                labels[OWNER_LABEL] = label_safe(self.instance.owner)
        return labels

    @property
    def overlay_annotations(self) -> dict[str, str]:
        """Annotations the overlay's `commonAnnotations` add to every object and template."""
        if self.instance and self.instance.owner:
            return {OWNER_ANNOTATION: self.instance.owner}
        return {}


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
    # found while loading, not wrong: render prints them (a schema standing in for a release)
    warnings: list[Problem] = field(default_factory=list)

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
        return [target.directory for target in self.targets_for(env, instance)]

    def targets_for(self, env: str, instance: str | None = None) -> list[Target]:
        """The overlays `env` (and `instance`) names: one, or in a fleet without an instance
        every instance's; MoltgenError naming the choices for an unknown one."""
        if instance is None and self.instances:
            self._require_environment(env)
            return self.targets_of(env)
        return [self.target(env, instance)]

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
