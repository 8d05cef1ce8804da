"""Findings cached per built part (check.findingscache, Engine.check_parts): whatever was
cached and whatever changed since, a check gives exactly the findings, places and order of a
check without the cache."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moltgen.check.catalog import load_catalog
from moltgen.check.config import PolicyConfig, RuleSettings
from moltgen.check.engine import Engine
from moltgen.check.findingscache import FindingsStore, PartEntry, run_fingerprint
from moltgen.check.model import Part
from moltgen.kube.schemas import SchemaSet

from .conftest import NOW, manifests

IMAGE = "ghcr.io/openclaw/openclaw:2026.9.6"


def instance(name: str, *, memory: str = "2Gi", labels: str = "", selector: str = "",
             extra: str = "") -> str:
    """One instance's built objects, in one namespace shared with the others (as a fleet)."""
    labels = labels or f"app: bot, instance: {name}"
    selector = selector or f"app: bot, instance: {name}"
    return f"""\
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}-config, namespace: bots}}
data:
  openclaw.json: '{{"gateway": {{"port": 18789, "bind": "lan"}}}}'
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: bots}}
spec:
  replicas: 1
  selector: {{matchLabels: {{{labels}}}}}
  template:
    metadata: {{labels: {{{labels}}}}}
    spec:
      containers:
      - name: gateway
        image: {IMAGE}
        envFrom: [{{secretRef: {{name: {name}-secret}}}}]
        resources: {{limits: {{memory: {memory}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: bots}}
spec:
  selector: {{{selector}}}
  ports: [{{port: 18789, targetPort: 18789}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: {name}-secret, namespace: bots}}
stringData: {{gatewayToken: ""}}
{extra}"""


def parts_of(texts: dict[str, str]) -> list[Part]:
    """Parts whose input digest is their text's (what a build's inputs decide)."""
    def part(name: str, text: str) -> Part:
        return Part(name, hashlib.sha256(text.encode()).hexdigest(),
                    lambda: iter(manifests(text, f"overlays/dev/{name}/kustomization.yaml", "dev")))
    return [part(name, text) for name, text in texts.items()]


def engine(**kwargs) -> Engine:
    return Engine(load_catalog(), schemas=SchemaSet(), now=NOW, **kwargs)


def shown(result) -> list[tuple]:
    return [(f.rule, f.severity.value, f.message, str(f.object), f.path, str(f.location),
             f.origin, f.waived, f.waiver, f.key) for f in result.findings]


class CountingStore(FindingsStore):
    def __init__(self, directory: Path, fingerprint: str = "test"):
        super().__init__(fingerprint, directory)
        self.hits = self.puts = 0

    def get(self, key):
        found = super().get(key)
        self.hits += found is not None
        return found

    def put(self, key, entry):
        self.puts += 1
        super().put(key, entry)


def both(texts: dict[str, str], store: FindingsStore, check_engine: Engine | None = None):
    """The check with the cache, and the same check of every object in one stream without."""
    check_engine = check_engine or engine()
    parts = parts_of(texts)
    cached = check_engine.check_parts(parts, store, context=("overlays/dev", "dev"))
    plain = check_engine.check(m for part in parts for m in part.manifests())
    return cached, plain


FLEET = {name: instance(name) for name in ("alice", "bob", "carol", "dave")}


def test_a_second_check_reads_every_part_and_gives_the_same_findings(tmp_path):
    store = CountingStore(tmp_path)
    cold, plain = both(FLEET, store)
    assert shown(cold) == shown(plain) and cold.objects == plain.objects == 16
    assert (store.hits, store.puts) == (0, 4)
    warm, _ = both(FLEET, store)
    assert shown(warm) == shown(plain)
    assert (store.hits, store.puts) == (4, 4)


def test_one_changed_part_is_checked_again_and_the_rest_are_read(tmp_path):
    store = CountingStore(tmp_path)
    both(FLEET, store)
    changed = dict(FLEET, carol=instance("carol", memory="300Mi"))
    cached, plain = both(changed, store)
    assert shown(cached) == shown(plain)
    assert store.hits == 3  # all but carol


@pytest.mark.parametrize("direction", ["a finding appears", "a finding goes"])
def test_another_part_changing_a_cached_parts_verdict_across_objects(tmp_path, direction):
    """carol's Service selects pods no workload of hers has; whether dave's Deployment has
    those labels decides its finding. carol's part is cached; only dave's changes."""
    store = CountingStore(tmp_path)
    carol = instance("carol", selector="app: shared")
    without = dict(FLEET, carol=carol)
    with_labels = dict(without, dave=instance("dave", labels="app: shared, instance: dave"))
    first, then = (with_labels, without) if direction == "a finding appears" else (without, with_labels)
    both(first, store)
    cached, plain = both(then, store)
    assert shown(cached) == shown(plain)
    selects = [f for f in plain.findings if f.rule == "service-selects-pods" and f.object.name == "carol"]
    assert bool(selects) == (direction == "a finding appears")
    assert store.hits == 3  # all but dave: carol's verdict was evaluated again, not her files
    again, _ = both(then, store)  # the new verdict was kept with the new candidates
    assert shown(again) == shown(plain) and store.hits == 7


def test_a_cached_part_repeating_an_earlier_object_is_checked_again(tmp_path):
    """dave's Secret is cached; bob's part now defines one of the same name before it, so
    the duplicate is dave's, with bob's place in its message."""
    store = CountingStore(tmp_path)
    both(FLEET, store)
    twin = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: dave-secret, namespace: bots}\n"
    changed = dict(FLEET, bob=instance("bob", extra=twin))
    cached, plain = both(changed, store)
    assert shown(cached) == shown(plain)
    assert [f.object.name for f in plain.findings if f.rule == "duplicate-object"] == ["dave-secret"]


def test_an_origin_is_found_again_in_the_spec_as_it_is_now(tmp_path):
    store = CountingStore(tmp_path)
    lines = {"line": 10}
    parts = parts_of(FLEET)
    check_engine = engine()

    class Origin:
        def __init__(self, data):
            self.data = data

        def key(self, path):
            return (self.data["kind"], tuple(path))

        def __call__(self, path):
            return at(self.key(path))

    def at(key):
        from moltgen.core.errors import Location
        return Location("moltgen.yaml", lines["line"] + len(key[1]))

    def with_origins(part: Part) -> Part:
        def manifests():
            for manifest in part.manifests():
                manifest.origin = Origin(manifest.data)
                yield manifest
        return Part(part.name, part.inputs, manifests)

    def run():
        return check_engine.check_parts([with_origins(p) for p in parts], store, origin_at=at,
                                        context=("overlays/dev", "dev"))
    first = run()
    lines["line"] = 11  # a line was inserted above in the spec
    second = run()
    assert store.hits == 4
    assert [f.origin.line for f in second.findings if f.origin] == \
        [f.origin.line + 1 for f in first.findings if f.origin]


def test_a_damaged_or_planted_entry_is_checked_again_never_trusted(tmp_path):
    store = CountingStore(tmp_path)
    both(FLEET, store)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".pruned")
    assert len(files) == 4
    marker = tmp_path.parent / f"{tmp_path.name}-planted"

    class Payload:  # what a planted entry would run when unpickled
        def __reduce__(self):
            return (Path.touch, (marker,))
    planted = pickle.dumps(Payload())
    body = files[0].read_bytes().partition(b"\n")[2]
    files[0].write_bytes(files[0].read_bytes()[:-5])  # truncated: the self-hash fails
    # a well-formed entry (its hash matches) that holds something other than plain data
    files[1].write_bytes(store.cache.format + b" " + hashlib.sha256(planted).hexdigest().encode()
                         + b"\n" + planted)
    files[2].write_bytes(store.cache.format + b" " + hashlib.sha256(b"x").hexdigest().encode() + b"\nx")
    cached, plain = both(FLEET, store)
    assert shown(cached) == shown(plain)
    assert store.hits == 1 and not marker.exists()  # the one left whole
    assert body  # the truncated entry had a body to lose


@pytest.mark.parametrize("where", ["a view", "a subject's object"])
def test_a_planted_pickle_inside_a_well_formed_entry_runs_nothing(tmp_path, where):
    """An entry's own classes are restricted, and the pickled objects and views it carries
    are read back as plain data only: a planted one is refused, the parts are checked again
    (their entries replaced), and the findings are those of a check without the cache."""
    from moltgen.check.findingscache import loads

    store = CountingStore(tmp_path)
    both(FLEET, store)
    marker = tmp_path.parent / f"{tmp_path.name}-planted"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))
    for file in sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".pruned"):
        entry = loads(file.read_bytes().partition(b"\n")[2])
        if where == "a view":
            entry.views = [(kind, namespace, pickle.dumps(Payload()), digest)
                           for kind, namespace, _, digest in entry.views]
        for subject in entry.subjects:  # stale verdicts: rules run again, reading both
            if where != "a view":
                subject.data = pickle.dumps(Payload())
            subject.rules = [(rule, key, b"stale", found) for rule, key, _, found in subject.rules]
        body = pickle.dumps(entry)
        file.write_bytes(store.cache.format + b" " + hashlib.sha256(body).hexdigest().encode()
                         + b"\n" + body)
    cached, plain = both(FLEET, store)
    assert shown(cached) == shown(plain) and not marker.exists()
    again, _ = both(FLEET, store)  # the entries were replaced by sound ones
    assert shown(again) == shown(plain) and not marker.exists()


def test_the_run_fingerprint_changes_with_what_findings_depend_on(tmp_path, monkeypatch):
    base = run_fingerprint(engine(), SchemaSet())
    assert run_fingerprint(engine(), SchemaSet()) == base
    params = PolicyConfig(rules={"secret-rotation-age": RuleSettings(params={"maxAgeDays": 30})})
    disabled = PolicyConfig(rules={"image-digest": RuleSettings(enabled=False)})
    schema_dir = tmp_path / "schemas"
    schema_dir.mkdir()
    changed = [
        run_fingerprint(engine(policy=params), SchemaSet()),
        run_fingerprint(engine(policy=disabled), SchemaSet()),
        run_fingerprint(Engine(load_catalog(), schemas=SchemaSet(), now=NOW.replace(day=2)), SchemaSet()),
        run_fingerprint(engine(), SchemaSet("1.30")),
        run_fingerprint(engine(), SchemaSet(schema_dirs=(schema_dir,))),
    ]
    (schema_dir / "custom_v1.json").write_text("{}")
    changed.append(run_fingerprint(engine(), SchemaSet(schema_dirs=(schema_dir,))))
    monkeypatch.chdir(tmp_path)  # locations are shown relative to the working directory
    changed.append(run_fingerprint(engine(), SchemaSet()))
    assert len({base, *changed}) == len(changed) + 1


def test_an_entry_holds_plain_data_and_the_allowed_classes_only(tmp_path):
    store = CountingStore(tmp_path)
    both(FLEET, store)
    entry = store.get(sorted(p.name for p in tmp_path.rglob("*") if p.is_file() and p.name != ".pruned")[0])
    assert isinstance(entry, PartEntry) and entry.objects == 4


def test_configmaps_judged_by_a_release_a_later_part_names(tmp_path):
    """Images without a tag name no release until the last part's: every ConfigMap before it
    waits for it. When that release changes, the parts cached with the old one are checked
    again."""
    store = CountingStore(tmp_path)
    # `telemetry` is a key of 2026.9.6's openclaw.json, unknown to 2026.7.1-2
    untagged = {name: text.replace(IMAGE, IMAGE.split(":")[0]).replace('"bind": "lan"}', '"bind": "lan"}, "telemetry": {}')
                for name, text in FLEET.items()}
    for release in ("2026.9.6", "2026.7.1-2", "2026.7.1-2"):
        dave = untagged["dave"].replace(f"image: {IMAGE.split(':')[0]}", f"image: {IMAGE.split(':')[0]}:{release}")
        texts = dict(untagged, dave=dave)
        cached, plain = both(texts, store)
        assert shown(cached) == shown(plain)
        unknown = [f for f in plain.findings if f.rule == "moltbot-config-valid"]
        assert len(unknown) == (4 if release == "2026.7.1-2" else 0)
    # the second run read alice's, bob's and carol's entries and checked them again (their
    # ConfigMaps were judged by 2026.9.6); the third read all four
    assert store.hits == 3 + 4


EDITS = st.lists(st.tuples(st.sampled_from(sorted(FLEET)),
                           st.sampled_from(["memory", "labels", "selector", "twin", "same"])),
                 min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=EDITS)
def test_any_sequence_of_edits_gives_the_findings_of_a_check_without_the_cache(tmp_path_factory, edits):
    store = FindingsStore("property", tmp_path_factory.mktemp("cache"))
    texts = dict(FLEET)
    both(texts, store)
    for name, edit in edits:
        texts[name] = {
            "memory": instance(name, memory="100Mi"),
            "labels": instance(name, labels="app: bot, instance: alice"),
            "selector": instance(name, selector="app: bot, instance: bob"),
            "twin": instance(name, extra="---\napiVersion: v1\nkind: Secret\n"
                                         "metadata: {name: carol-secret, namespace: bots}\n"),
            "same": texts[name],
        }[edit]
        cached, plain = both(texts, store)
        assert shown(cached) == shown(plain)
