from support import REPO

from moltgen.project import load_project
from moltgen.render.objects import render_objects
from moltgen.render.origins import origin_of, spec_path_of

MEMORY = ("spec", "template", "spec", "containers", 0, "resources", "limits", "memory")


def lines_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_environment_override_is_the_origin_when_it_wrote_the_value():
    project = load_project(REPO / "moltgen.yaml")
    text = (REPO / "moltgen.yaml").read_text()
    deployment = render_objects(project.environments["dev"], overlay_labels={"moltgen.dev/environment": "dev"})["deployment.yaml"]
    origin = origin_of(project, "dev", deployment, MEMORY)
    assert origin.file == str(REPO / "moltgen.yaml")
    assert origin.line == lines_of(text, "limits: {cpu: 500m, memory: 1Gi}")


def test_top_level_value_is_the_origin_when_the_environment_did_not_override_it():
    project = load_project(REPO / "moltgen.yaml")
    text = (REPO / "moltgen.yaml").read_text()
    ingress = render_objects(project.environments["prod"], overlay_labels={"moltgen.dev/environment": "prod"})["ingress.yaml"]
    origin = origin_of(project, "prod", ingress, ("spec", "ingressClassName"))
    assert origin.line == lines_of(text, "className: kubesphere-router-cluster")
    host = origin_of(project, "prod", ingress, ("spec", "rules", 0, "host"))
    assert host.line == lines_of(text, "host: 172.31.19.4.nip.io")


def test_heap_setting_points_at_the_memory_limit_and_fixed_choices_have_no_origin():
    project = load_project(REPO / "moltgen.yaml")
    deployment = render_objects(project.base)["deployment.yaml"]
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    heap = next(i for i, e in enumerate(env) if e["name"] == "NODE_OPTIONS")
    path = ("spec", "template", "spec", "containers", 0, "env", heap, "value")
    assert spec_path_of("Deployment", path, deployment) == ("resources", "limits", "memory")
    assert origin_of(project, None, deployment, ("spec", "replicas")) is None
    assert origin_of(project, None, deployment,
                     ("spec", "template", "spec", "securityContext", "runAsUser")) is None
