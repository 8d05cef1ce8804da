"""The build cache (moltgen.kustomize.buildcache) and the chunked builds behind it (batch.build_each),
with the real kustomize engine: a cached or chunked build is the build of that directory alone,
every kind of input invalidates its entry, and a damaged or half-written entry is never used."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path

import pytest
from support import REPO, run_moltgen
from test_build import FLEET_SPEC

from moltgen.kustomize import batch, buildcache, library
from moltgen.kustomize import engine as kustomize
from moltgen.kustomize.buildcache import BuildCache, build_cached, engine_identity
from moltgen.kustomize.inputs import InputScanner

KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Two overlays on one base, reading every kind of input kustomize can read: base
    resources, a patch, a generated ConfigMap's file, a Secret manifest, a component outside
    the overlay with its patch, and a file named only by a generator's configuration."""
    (tmp_path / ".git").mkdir()  # the repository root: builds may read anything below it
    write(tmp_path / "base/kustomization.yaml", KUSTOMIZATION + "resources:\n- service.yaml\n")
    write(tmp_path / "base/service.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
          "spec:\n  ports:\n  - port: 80\n")
    write(tmp_path / "shared/label-patch.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n"
          "  name: web\n  labels:\n    shared: 'yes'\n")
    write(tmp_path / "shared/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\n"
          "kind: Component\npatches:\n- path: label-patch.yaml\n")
    for name in ("a", "b"):
        overlay = tmp_path / "overlays" / name
        write(overlay / "kustomization.yaml", KUSTOMIZATION + f"namespace: team-{name}\n"
              "resources:\n- ../../base\n- secret.enc.yaml\n"
              "components:\n- ../../shared\npatches:\n- path: patches/port.yaml\n"
              "configMapGenerator:\n- name: settings\n  files:\n  - app.json\n"
              "generators:\n- generator.yaml\n")
        write(overlay / "patches/port.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n"
              "  name: web\nspec:\n  ports:\n  - port: 8080\n")
        write(overlay / "app.json", '{"a": 1}\n')
        write(overlay / "secret.enc.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n"
              "stringData:\n  token: ENC[AES256_GCM,data:aGVsbG8=,type:str]\n")
        write(overlay / "generator.yaml", "apiVersion: builtin\nkind: ConfigMapGenerator\n"
              "metadata:\n  name: env\nenvs:\n- config/settings.env\n")
        write(overlay / "config/settings.env", "MODE=fast\n")
    return tmp_path


def digest(directory: Path, identity: str = "engine") -> str | None:
    return InputScanner(identity).inputs(directory).digest


INPUTS = {
    "base resource": "base/service.yaml",
    "base kustomization": "base/kustomization.yaml",
    "kustomization": "overlays/a/kustomization.yaml",
    "patch": "overlays/a/patches/port.yaml",
    "generated file": "overlays/a/app.json",
    "encrypted Secret": "overlays/a/secret.enc.yaml",
    "component outside the overlay": "shared/kustomization.yaml",
    "component's patch": "shared/label-patch.yaml",
    "file a plugin configuration names": "overlays/a/config/settings.env",
    "plugin configuration": "overlays/a/generator.yaml",
}


@pytest.mark.parametrize("name", INPUTS)
def test_a_change_to_any_input_is_a_new_key(tree, name):
    overlay = tree / "overlays/a"
    before = digest(overlay)
    with open(tree / INPUTS[name], "a") as handle:
        handle.write("# changed\n")
    assert digest(overlay) != before
    assert kustomize.build(overlay)  # the tree still builds: these are real inputs


def test_new_and_removed_files_in_an_overlay_count_too(tree):
    overlay = tree / "overlays/a"
    before = digest(overlay)
    write(overlay / "patches/new.yaml", "{}\n")
    assert digest(overlay) != before
    (overlay / "patches/new.yaml").unlink()
    assert digest(overlay) == before


def test_the_engine_is_part_of_the_key(tree, tmp_path, monkeypatch):
    overlay = tree / "overlays/a"
    fake = write(tmp_path / "bin/kustomize", "#!/bin/sh\n")
    first = engine_identity((str(fake), "build"))
    assert digest(overlay, first) != digest(overlay, engine_identity(("other-kustomize", "build")))
    os.utime(fake, ns=(1, 1))  # a new binary at the same path
    assert engine_identity((str(fake), "build")) != first
    monkeypatch.setenv("KUSTOMIZE_PLUGIN_HOME", str(tmp_path))
    assert engine_identity((str(fake), "build")) != engine_identity((str(fake), "build"), ("x",))


def test_another_overlay_changing_keeps_this_key(tree):
    before = digest(tree / "overlays/a")
    with open(tree / "overlays/b/patches/port.yaml", "a") as handle:
        handle.write("# b only\n")
    assert digest(tree / "overlays/a") == before


def test_remote_resources_are_never_cached(tree):
    kustomization = tree / "overlays/a/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(
        "- secret.enc.yaml\n", "- secret.enc.yaml\n- https://github.com/example/repo//deploy?ref=v1\n"))
    assert digest(tree / "overlays/a") is None
    assert BuildCache(tree / "cache").get(None) is None


def test_the_inputs_without_digests_are_the_same_paths_and_an_unknown_reach_is_always_affected(tree):
    """`check --changed-since` asks only which paths an overlay reads (no file is read to
    hash it); an overlay whose inputs cannot all be known (a remote base) counts as changed
    whatever changed, so a pull request never skips it."""
    overlay = tree / "overlays/a"
    hashed, listed = InputScanner("engine").inputs(overlay), InputScanner(digests=False).inputs(overlay)
    assert listed.digest is None and listed.complete
    assert (listed.files, listed.directories) == (hashed.files, hashed.directories)
    unrelated = {tree / "overlays/b/patches/port.yaml"}
    assert not listed.affected_by(unrelated) and listed.affected_by({tree / "base/service.yaml"})
    kustomization = overlay / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(
        "- secret.enc.yaml\n", "- secret.enc.yaml\n- https://github.com/example/repo//deploy?ref=v1\n"))
    remote = InputScanner(digests=False).inputs(overlay)
    assert not remote.complete and remote.affected_by(unrelated)


def test_chunked_builds_are_each_directory_built_alone(tree, monkeypatch):
    """The fleet path (FIFO chunk, boundaries, legacy order restored) gives kustomize's bytes."""
    extra = write(tree / "extra/kustomization.yaml", KUSTOMIZATION + "resources:\n- objects.yaml\n")
    write(extra.parent / "objects.yaml", "\n---\n".join([
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n"
        "metadata:\n  name: hook\nwebhooks: []\n",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: 'true'\n  namespace: z\n",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: \"08\"\n  namespace: a\n",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: z\n",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\n"
        "rules: []\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm # a comment\n  namespace: a\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: a\nspec:\n"
        "  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n"
        "    spec: {containers: [{name: c, image: x}]}\n",
    ]))
    directories = [tree / "overlays/a", extra.parent, tree / "overlays/b", REPO / "overlays/prod"]
    alone = [kustomize.build(d) for d in directories]
    monkeypatch.setenv(library.OPT_OUT, "off")  # kubectl's chunks (the library's need none)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # one chunk holding them all
    assert batch.build_each(directories) == alone
    assert batch.build_all(directories) == "---\n".join(alone)


def test_a_fleet_rebuilds_only_the_instance_that_changed(tmp_path, monkeypatch):
    (tmp_path / "moltgen.yaml").write_text(FLEET_SPEC)
    assert run_moltgen("render", cwd=tmp_path).code == 0
    directories = [tmp_path / "overlays/prod" / n for n in ("alice", "bob", "team-x")]
    built: list[Path] = []

    def counting(dirs, on_built=None):
        built.extend(dirs)
        return batch.build_each(dirs, on_built)

    cache = BuildCache(tmp_path.parent / f"{tmp_path.name}-cache")
    identity = engine_identity(kustomize.engine_command())
    cold = build_cached(directories, counting, identity, cache=cache)
    assert built == directories
    built.clear()
    assert build_cached(directories, counting, identity, cache=cache) == cold
    assert built == []
    spec = (tmp_path / "moltgen.yaml").read_text().replace("memory: 4Gi", "memory: 3Gi")
    (tmp_path / "moltgen.yaml").write_text(spec)
    assert run_moltgen("render", cwd=tmp_path).code == 0
    warm = build_cached(directories, counting, identity, cache=cache)
    assert built == [tmp_path / "overlays/prod/bob"]
    assert warm == [kustomize.build(d) for d in directories]


def test_environments_are_built_in_runs_of_their_own_all_at_once(tmp_path, monkeypatch):
    """A project's environments go through one set of concurrent runs (a one-instance change
    builds its dev and prod overlays side by side), but no run mixes two environments: the
    same instance in both may repeat object ids. Each output is its directory built alone."""
    (tmp_path / "moltgen.yaml").write_text(FLEET_SPEC)
    assert run_moltgen("render", cwd=tmp_path).code == 0
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path.parent / f"{tmp_path.name}-cache"))
    groups = [[tmp_path / "overlays" / env / n for n in ("alice", "bob", "team-x")]
              for env in ("dev", "prod")]
    runs: list[list[Path]] = []
    real = batch._build_together

    def recording(directories, env, deadline, offline):  # a spy: the real runs, recorded
        runs.append(list(directories))
        assert offline  # no --allow-remote: every run without a network
        return real(directories, env, deadline, offline)

    monkeypatch.setattr(batch, "_build_together", recording)
    monkeypatch.setenv(library.OPT_OUT, "off")  # kubectl's runs (the library's are one each)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # one run would hold all six if allowed
    built = batch.build_groups_keyed(groups)
    assert sorted(map(sorted, runs)) == sorted(map(sorted, groups))
    assert [[text for text, _ in group] for group in built] == \
        [[kustomize.build(d) for d in group] for group in groups]
    assert built == [batch.build_parts_keyed(group) for group in groups]  # cached: same keys


def test_the_cache_is_in_the_users_cache_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert buildcache.cache_directory() == tmp_path / "xdg/moltgen/builds"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as XDG says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert buildcache.cache_directory() == tmp_path / "home/.cache/moltgen/builds"
    monkeypatch.setenv("MOLTGEN_NO_CACHE", "1")
    assert buildcache.cache_directory() is None


def test_a_project_check_writes_nothing_into_the_repository(tmp_path, monkeypatch):
    from support import snapshot

    project = tmp_path / "project"
    project.mkdir()
    (project / "moltgen.yaml").write_text(FLEET_SPEC)
    assert run_moltgen("render", cwd=project).code == 0
    before = snapshot(project)
    cache = tmp_path / "xdg"
    first = run_moltgen("check", "--format", "json", cwd=project, env={"XDG_CACHE_HOME": str(cache)})
    assert [p for p in (cache / "moltgen/builds").rglob("*") if p.is_file() and p.name != ".pruned"]
    second = run_moltgen("check", "--format", "json", cwd=project, env={"XDG_CACHE_HOME": str(cache)})
    assert (first.code, first.stdout) == (second.code, second.stdout)
    assert snapshot(project) == before


def test_a_project_check_from_cached_findings_is_the_check_without_the_cache(tmp_path):
    """A fleet checked with both caches warm, after one instance changed and a comment was
    inserted above the spec's image (so the origin of every image finding moved, and only
    one instance's overlays did): the report is the one a check without any cache gives."""
    project = tmp_path / "project"
    project.mkdir()
    spec = FLEET_SPEC.replace("namespace: bots\n", "namespace: bots\nimage: {tag: main}\n")
    (project / "moltgen.yaml").write_text(spec)
    assert run_moltgen("render", cwd=project).code == 0
    cache = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cold = run_moltgen("check", "--format", "json", cwd=project, env=cache)
    assert [p for p in (tmp_path / "xdg/moltgen/findings").rglob("*") if p.is_file() and p.name != ".pruned"]
    spec = spec.replace("memory: 4Gi", "memory: 3Gi").replace("name: bot\n", "name: bot\n# the team's bots\n")
    (project / "moltgen.yaml").write_text(spec)
    assert run_moltgen("render", cwd=project).code == 0
    warm = run_moltgen("check", "--format", "json", cwd=project, env=cache)
    plain = run_moltgen("check", "--format", "json", cwd=project, env={"MOLTGEN_NO_CACHE": "1"})
    assert (warm.code, warm.stdout) == (plain.code, plain.stdout)

    def image_origins(run) -> set[int]:
        return {f["origin"]["line"] for f in json.loads(run.stdout)["findings"]
                if f["rule"] == "image-digest" and f["origin"]}
    assert image_origins(warm) == {line + 1 for line in image_origins(cold)} != set()


def test_concurrent_project_checks_sharing_every_cache_agree_with_a_check_without(tmp_path):
    """Three checks at once on one cold cache (builds, walks, findings), then three on the
    warm one after a change: every report is the report of a check without any cache."""
    from concurrent.futures import ThreadPoolExecutor

    project = tmp_path / "project"
    project.mkdir()
    (project / "moltgen.yaml").write_text(FLEET_SPEC.replace("namespace: bots\n", "namespace: bots\nimage: {tag: main}\n"))
    assert run_moltgen("render", cwd=project).code == 0
    cache = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    for round in range(2):
        plain = run_moltgen("check", "--format", "json", cwd=project, env={"MOLTGEN_NO_CACHE": "1"})
        with ThreadPoolExecutor(3) as pool:
            runs = list(pool.map(lambda _: run_moltgen("check", "--format", "json", cwd=project, env=cache),
                                 range(3)))
        assert {(r.code, r.stdout) for r in runs} == {(plain.code, plain.stdout)}
        spec = (project / "moltgen.yaml").read_text().replace("memory: 4Gi", "memory: 3Gi")
        (project / "moltgen.yaml").write_text(spec)
        assert run_moltgen("render", cwd=project).code == 0
    assert not list((tmp_path / "xdg").rglob(".tmp-*"))  # no temporary file left behind


# -- corruption ---------------------------------------------------------------------------------

def entries(cache: BuildCache) -> list[Path]:
    """The entries (in their two-letter folders; the `.pruned` stamp is none)."""
    return [p for p in cache.directory.rglob("*") if p.is_file() and p.parent != cache.directory]


@pytest.mark.parametrize("damage", ["truncated", "byte flipped", "empty", "garbage", "other body"])
def test_a_damaged_entry_is_rebuilt_never_trusted(tree, tmp_path, damage):
    cache = BuildCache(tmp_path / "cache")
    directories = [tree / "overlays/a"]
    identity = engine_identity(kustomize.engine_command())
    good = build_cached(directories, batch.build_each, identity, cache=cache)
    (entry,) = entries(cache)
    content = entry.read_bytes()
    header, _, body = content.partition(b"\n")
    entry.write_bytes({
        "truncated": content[: len(content) // 2],
        "byte flipped": content[:-5] + bytes([content[-5] ^ 1]) + content[-4:],
        "empty": b"",
        "garbage": os.urandom(200),
        "other body": header + b"\nkind: Smuggled\n",  # a header that belongs to another body
    }[damage])
    rebuilt: list[Path] = []

    def counting(dirs, on_built=None):
        rebuilt.extend(dirs)
        return batch.build_each(dirs, on_built)

    assert build_cached(directories, counting, identity, cache=cache) == good
    assert rebuilt == directories
    assert entries(cache)[0].read_bytes() == content  # replaced by a good entry


# -- concurrency --------------------------------------------------------------------------------

def _hammer(directory: str, digest: str, text: str, rounds: int) -> list[str]:
    cache = BuildCache(Path(directory))
    seen = []
    for _ in range(rounds):
        cache.put(digest, text)
        found = cache.get(digest)
        if found is not None:
            seen.append(found)
    return seen


def test_concurrent_writers_and_readers_never_see_a_torn_entry(tmp_path):
    """Processes and threads write two different 1 MB bodies under one key and read it back
    at the same time: every read is one whole body or a miss."""
    bodies = ["a" * 1_000_000 + "\n", "b" * 1_000_000 + "\n"]
    digest = "ab" * 32
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = [pool.apply_async(_hammer, (str(tmp_path), digest, bodies[i % 2], 30))
                   for i in range(4)]
        threads_seen: list[str] = []
        thread = threading.Thread(target=lambda: threads_seen.extend(
            _hammer(str(tmp_path), digest, bodies[0], 30)))
        thread.start()
        seen = [text for result in results for text in result.get(timeout=120)]
        thread.join(timeout=120)
    assert seen and all(text in bodies for text in seen + threads_seen)
    assert not [p for p in tmp_path.rglob(".tmp-*")]  # no temporary file left behind


def test_entries_unread_for_a_month_are_pruned_and_a_hit_keeps_an_entry(tmp_path):
    cache = BuildCache(tmp_path)
    for digest in ("aa" + "0" * 62, "bb" + "0" * 62):
        cache.put(digest, "kind: X\n")
    old = os.path.getmtime(tmp_path / "aa" / ("aa" + "0" * 62)) - 40 * 86_400
    for name in ("aa", "bb"):
        os.utime(tmp_path / name / (name + "0" * 62), (old, old))
    assert cache.get("bb" + "0" * 62) == "kind: X\n"  # read: its clock starts again
    os.utime(tmp_path / ".pruned", (old, old))  # the last pruning was long ago
    assert BuildCache(tmp_path).prune() == 1
    assert not (tmp_path / "aa" / ("aa" + "0" * 62)).exists()
    assert cache.get("bb" + "0" * 62) == "kind: X\n"
    assert BuildCache(tmp_path).prune() == 0  # once a day: the stamp is fresh now


def test_one_code_identity_covers_every_file_of_the_package(tmp_path, monkeypatch):
    """Nothing named by hand: a file added anywhere in the package is a new identity."""
    from moltgen.core import codeid

    package = tmp_path / "moltgen"
    (package / "check" / "rules").mkdir(parents=True)
    (package / "check" / "rules" / "a.yaml").write_text("id: a\n")
    monkeypatch.setattr(codeid, "PACKAGE", package)
    codeid.package_digest.cache_clear()
    first = codeid.package_digest()
    (package / "check" / "rules" / "a.yaml").write_text("id: b\n")
    codeid.package_digest.cache_clear()
    second = codeid.package_digest()
    (package / "new.py").write_text("")
    codeid.package_digest.cache_clear()
    third = codeid.package_digest()
    codeid.package_digest.cache_clear()
    assert len({first, second, third}) == 3
