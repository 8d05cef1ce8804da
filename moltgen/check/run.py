"""`moltgen check` end to end: targets -> schema + rules -> waivers -> one result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moltgen.check.catalog import Catalog, load_catalog
from moltgen.check.config import PolicyConfig, load_policy
from moltgen.check.engine import Engine
from moltgen.check.findingscache import FindingsStore, run_fingerprint
from moltgen.check.limits import memory_cap
from moltgen.check.model import CheckResult
from moltgen.check.targets import Reach, load_targets
from moltgen.core.errors import MoltgenError
from moltgen.core.progress import SILENT, Progress
from moltgen.kube.schemas import SchemaSet


@dataclass(slots=True)
class CheckOptions:
    targets: list[str]
    envs: list[str]
    spec: Path | None = None
    policy: Path | None = None
    kubernetes_version: str | None = None
    schema_dirs: tuple[Path, ...] = ()
    strict: bool = True
    base_policy: str | None = None  # a git revision to read the policy from (base_policy.py)
    allow_remote: bool = False  # let kustomize fetch remote bases (moltgen.kustomize.confine)
    timeout: float | None = None  # seconds for the whole check: builds and rules
    changed_since: str | None = None  # git revision: check only the overlays changed since
    # or the changed files themselves (moltgen.review.base: a base revision exported from git)
    changed: set[Path] | None = None
    shard: Any = None  # check.shard.Shard: only its slice of the project's overlays


def run_check(options: CheckOptions, *, stdin: Any = None,
              progress: Progress = SILENT) -> tuple[CheckResult, Catalog]:
    policy, catalog = policy_and_catalog(options)
    unknown = policy.unknown_rule_problems(list(catalog.rules))
    if unknown:
        raise MoltgenError(unknown)
    schemas = SchemaSet(options.kubernetes_version, options.schema_dirs, strict=options.strict)
    engine = Engine(catalog, policy, schemas=schemas)
    if options.shard is not None:
        from moltgen.check.shard import refuse_wide_rules

        refuse_wide_rules([r.rule.id for r in engine.evaluator.cross_rules() if not r.rule.same_namespace])
    total = CheckResult(objects=0)
    store: FindingsStore | None = None  # made for the first target built in parts
    from moltgen.kustomize.engine import BUILD_TIMEOUT_SECONDS, Deadline

    deadline = Deadline(options.timeout or BUILD_TIMEOUT_SECONDS)
    changed = _changed_inputs(options, policy)
    targets = load_targets(options.targets, options.envs, spec=options.spec, stdin=stdin,
                           progress=progress, reach=Reach(options.allow_remote, deadline),
                           changed=changed, shard=options.shard)
    with progress.step("checking objects", sum(t.estimate for t in targets)) as step, \
            memory_cap():
        for target in targets:
            def in_budget(name: str = target.name) -> None:
                deadline.remaining(name, "check")  # between objects: no rule runs unbounded

            def on_object() -> None:
                step.advance()
                in_budget()

            if target.parts is not None and store is None:
                store = FindingsStore(run_fingerprint(engine, schemas))
            if target.parts is not None and store is not None and store.enabled:
                result = engine.check_parts(target.parts, store, on_object, in_budget,
                                            target.origin_at, (target.name, target.env))
            else:
                result = engine.check(target.stream(), on_object=on_object, between=in_budget)
            # files that did not parse are known once the stream has been read
            total.findings.extend(engine.unreadable(target.unreadable, target.env))
            total.objects += result.objects
            total.findings.extend(result.findings)
            total.instances.update(target.instances)
    from moltgen.check.report.common import canonical

    total.findings.sort(key=canonical)
    return total, catalog


def _changed_inputs(options: CheckOptions, policy: PolicyConfig) -> set[Path] | None:
    """The files changed since --changed-since; None (check everything) without the option, or
    when the policy or a custom rule changed, since that can change any overlay's findings."""
    if options.changed_since is None:
        return options.changed
    from moltgen.core.changes import changed_paths
    from moltgen.core.errors import MoltgenError, Problem

    if options.targets:
        raise MoltgenError(Problem("checks the project's overlays: give no TARGET with it",
                                   field="--changed-since"))
    spec = (options.spec or Path("moltgen.yaml")).resolve()
    changed = changed_paths(options.changed_since, spec.parent)
    from moltgen.check.config import DEFAULT_POLICY

    policy_inputs = [Path(p).resolve() for p in (options.policy, policy.source, DEFAULT_POLICY) if p]
    rule_dirs = [Path(d).resolve() for d in policy.custom_rule_dirs]
    if any(path in policy_inputs or any(d in path.parents for d in rule_dirs) for path in changed):
        return None
    return changed


def policy_and_catalog(options: CheckOptions) -> tuple[PolicyConfig, Catalog]:
    """--policy, else the policy beside the spec (`-f break/moltgen.yaml` reads
    break/policies/policy.yaml, from any working directory); with --base-policy, that file as
    it is at the base revision."""
    root = options.spec.parent if options.spec is not None else Path()
    if options.base_policy is None:
        policy = load_policy(options.policy, root=root)
        return policy, load_catalog(policy.custom_rule_dirs)
    from moltgen.check.base_policy import policy_at
    from moltgen.check.config import DEFAULT_POLICY

    with policy_at(options.base_policy, options.policy or root / DEFAULT_POLICY) as found:
        if found is None:  # the base has no policy: the defaults, never the pull request's
            return PolicyConfig(source=f"{options.base_policy} (none)"), load_catalog(())
        policy = load_policy(*found)
        return policy, load_catalog(policy.custom_rule_dirs)  # read before the copy goes
