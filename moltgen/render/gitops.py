"""What Argo CD or Flux needs to sync the overlays: gitops/argocd/ or gitops/flux/.

Argo CD: an AppProject, and an Application per environment (an ApplicationSet with a git
directory generator per environment for a fleet, so adding an instance needs no new
Application). Flux: a GitRepository, and a Kustomization per overlay that decrypts its Secret
with SOPS (`sops-age`). moltgen stays a compiler: the controllers do the distribution.
"""

from __future__ import annotations

from typing import Any

from moltgen.render.updates import flux_image_automation
from moltgen.spec.model import GitOps, Spec
from moltgen.spec.project import Project, Target

MANUAL_BY_DEFAULT = ("prod", "production")
SOPS_KEY_SECRET = "sops-age"
WORKSPACE_LABEL = "kubesphere.io/workspace"
NAMESPACE_FILE = "namespace.yaml"
FLUX_DIR = "gitops/flux"


def namespace_labels(spec: Spec) -> dict[str, str]:
    """Labels the namespaces moltgen creates need from the platform: on KubeSphere, the
    workspace (the console lists a workspace's namespaces by this label)."""
    labels = dict(spec.labels)
    if spec.kubesphere.workspace:
        labels[WORKSPACE_LABEL] = spec.kubesphere.workspace
    return labels


def namespace_manifest(spec: Spec) -> dict[str, Any]:
    """The overlay's Namespace for Flux, which (unlike Argo CD's CreateNamespace) applies only
    what the overlay holds; Flux documents a Namespace object among the resources for this."""
    metadata: dict[str, Any] = {"name": spec.namespace}
    labels = namespace_labels(spec)
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def render_gitops(project: Project) -> dict[str, dict[str, Any]]:
    """Path → object for the configured engine (none when `gitops.engine` is none)."""
    gitops = project.base.gitops
    if gitops.engine == "argocd":
        return _argocd(project, gitops)
    if gitops.engine == "flux":
        return _flux(project, gitops)
    return {}


def is_automated(gitops: GitOps, environment: str) -> bool:
    return gitops.automated if gitops.automated is not None else environment not in MANUAL_BY_DEFAULT


def _repo_path(gitops: GitOps, directory: str) -> str:
    return f"{gitops.path}/{directory}" if gitops.path else directory


def _argocd(project: Project, gitops: GitOps) -> dict[str, dict[str, Any]]:
    namespace = gitops.namespace or "argocd"
    name = project.base.name
    files: dict[str, dict[str, Any]] = {}
    destinations = []
    for spec in project.environments.values():
        # A fleet's namespaces follow one pattern, so the project need not list each instance.
        pattern = f"{spec.namespace}-*" if project.instances else spec.namespace
        destinations.append({"server": spec.gitops.destination_server, "namespace": pattern})
    files["gitops/argocd/appproject.yaml"] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "description": f"Moltbot (OpenClaw) assistant {name}, rendered by moltgen",
            "sourceRepos": [gitops.repo_url],
            "destinations": destinations,
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
        },
    }
    for env, spec in project.environments.items():
        app_spec = _argocd_app_spec(project, spec.gitops, env, name)
        if project.instances:
            template_spec = {**app_spec,
                             "source": {**app_spec["source"], "path": "{{path}}"},
                             "destination": {**app_spec["destination"],
                                             "namespace": f"{spec.namespace}-{{{{path.basename}}}}"}}
            files[f"gitops/argocd/applicationset-{env}.yaml"] = {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "ApplicationSet",
                "metadata": {"name": f"{name}-{env}", "namespace": namespace},
                "spec": {
                    "generators": [{"git": {
                        "repoURL": gitops.repo_url,
                        "revision": spec.gitops.revision,
                        "directories": [{"path": _repo_path(gitops, f"overlays/{env}/*")}],
                    }}],
                    "template": {
                        "metadata": {"name": f"{name}-{env}-{{{{path.basename}}}}"},
                        "spec": template_spec,
                    },
                },
            }
        else:
            files[f"gitops/argocd/application-{env}.yaml"] = {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": f"{name}-{env}", "namespace": namespace},
                "spec": app_spec,
            }
    return files


def _argocd_app_spec(project: Project, gitops: GitOps, env: str, name: str) -> dict[str, Any]:
    sync_policy: dict[str, Any] = {}
    if is_automated(gitops, env):
        sync_policy["automated"] = {"prune": gitops.prune, "selfHeal": gitops.self_heal}
    sync_policy["syncOptions"] = ["CreateNamespace=true", "ServerSideApply=true"]
    labels = namespace_labels(project.environments[env])
    if labels:
        # The labels Argo CD puts on the namespace it creates (CreateNamespace=true).
        sync_policy["managedNamespaceMetadata"] = {"labels": labels}
    return {
        "project": name,
        "source": {"repoURL": gitops.repo_url, "targetRevision": gitops.revision,
                   "path": _repo_path(gitops, project.overlay_dir(env))},
        "destination": {"server": gitops.destination_server,
                        "namespace": project.environments[env].namespace},
        "syncPolicy": sync_policy,
    }


def _flux(project: Project, gitops: GitOps) -> dict[str, dict[str, Any]]:
    namespace = gitops.namespace or "flux-system"
    name = project.base.name
    files: dict[str, dict[str, Any]] = {
        "gitops/flux/gitrepository.yaml": {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "1m", "url": gitops.repo_url, "ref": {"branch": gitops.revision}},
        },
    }
    for target in project.targets:
        files[f"{FLUX_DIR}/{target.label}.yaml"] = _flux_kustomization(project, target, namespace, name)
    files.update(flux_image_automation(project))
    # One Kustomization that syncs this folder itself, as `flux bootstrap` does: after one
    # `kubectl apply -k gitops/flux/`, a new instance's Kustomization arrives through Git.
    files[f"{FLUX_DIR}/sync.yaml"] = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": f"{name}-gitops", "namespace": namespace},
        "spec": {"interval": gitops.interval, "path": "./" + _repo_path(gitops, FLUX_DIR),
                 "prune": gitops.prune, "sourceRef": {"kind": "GitRepository", "name": name}},
    }
    files[f"{FLUX_DIR}/kustomization.yaml"] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": sorted(path.removeprefix(f"{FLUX_DIR}/") for path in files)}
    return files


def _flux_kustomization(project: Project, target: Target, namespace: str,
                        source: str) -> dict[str, Any]:
    gitops = target.spec.gitops
    name = f"{source}-{target.label.replace('/', '-')}"
    spec: dict[str, Any] = {
        "interval": gitops.interval,
        "path": "./" + _repo_path(gitops, target.directory),
        "prune": gitops.prune,
        "sourceRef": {"kind": "GitRepository", "name": source},
        "decryption": {"provider": "sops", "secretRef": {"name": SOPS_KEY_SECRET}},
        "wait": True,
        "timeout": "5m",
    }
    if gitops.automated is False:
        # Flux has no manual sync: a suspended Kustomization applies on `flux reconcile`.
        spec["suspend"] = True
    if gitops.depends_on:
        spec["dependsOn"] = [{"name": dependency} for dependency in gitops.depends_on]
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}
