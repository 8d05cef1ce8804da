"""The encrypted Secret of each environment and `.sops.yaml`, as files for the rendered tree.

Rendering a Secret is not pure like the rest of render: it reads the committed file, because
its values exist nowhere else, and it runs sops. It stays byte-stable: a file that already
matches the spec is returned as it is, without calling sops or needing a key.
"""

from __future__ import annotations

import contextvars
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from moltgen.core.errors import Location, MoltgenError, Problem
from moltgen.core.progress import SILENT, Progress
from moltgen.core.yamlio.dump import dump_yaml
from moltgen.secrets import reconcile, sops
from moltgen.secrets.age import is_recipient
from moltgen.secrets.facts import read_secret_facts
from moltgen.secrets.manifest import SECRET_FILE, DesiredSecret, header_lines
from moltgen.spec.project import Project, Target
from moltgen.tree import header

SOPS_CONFIG_FILE = ".sops.yaml"


@dataclass
class SecretPlan:
    files: dict[str, bytes] = field(default_factory=dict)  # path relative to the root -> bytes
    pending: list[str] = field(default_factory=list)  # changes left undone (render --check)
    warnings: list[str] = field(default_factory=list)  # overlays rendered without a Secret
    carried: set[str] = field(default_factory=set)  # old Secrets whose set values moved over


def secret_file(target: Target) -> str:
    return f"{target.directory}/{SECRET_FILE}"


def desired_secret(project: Project, target: Target) -> DesiredSecret:
    """The Secret `target` must have, from the spec; MoltgenError when it has no usable recipient."""
    spec = target.spec
    recipients = tuple(spec.sops.age_recipients)
    setting = ("sops", "ageRecipients")
    location = project.locate_setting(target.environment, setting)
    where = f"environments.{target.environment}.{'.'.join(setting)}"
    if not recipients:
        raise MoltgenError(Problem(
            "no age recipient, so its Secret cannot be encrypted: run `moltgen secrets keygen` "
            "and add the printed age1... key here", location, where))
    invalid = [r for r in recipients if not is_recipient(r)]
    if invalid:
        raise MoltgenError([Problem(f"{r!r} is not a valid age public key (bad checksum?)",
                                    location, where) for r in invalid])
    keys = spec.secret_keys()
    return DesiredSecret(
        file=secret_file(target),
        name=spec.secret_name,
        namespace=spec.namespace,
        keys=tuple(key.name for key in keys),
        generated=frozenset(key.name for key in keys if key.generated),
        recipients=recipients,
        header=header_lines(project.spec_path.name),
    )


def plan_secret_files(project: Project, *, encrypt: bool, progress: Progress = SILENT,
                      discard: bool = False, edited: dict[str, bytes] | None = None) -> SecretPlan:
    """Each overlay's `secret.enc.yaml`, as it must now be; `edited` holds Secret files changed
    in this run but not yet written (`moltgen secrets set`), read instead of the disk.

    encrypt=False (render --check): nothing that needs sops is done; such files keep their current
    bytes (or are left out when absent) and each undone change becomes a line in `pending`.
    The overlays are independent, so their sops calls run in parallel, as many as there are
    cores; results are gathered in target order, so the plan does not depend on timing.
    """
    plan = SecretPlan()
    with_recipients = []
    for target in project.targets:
        if target.spec.sops.age_recipients:
            with_recipients.append(target)
        else:
            # A first render (a starter spec) still works; the overlay has no Secret until a
            # recipient is added, and `moltgen check` reports the Secret as missing.
            plan.warnings.append(
                f"{target.directory}: no Secret rendered, sops.ageRecipients is empty; run "
                "`moltgen secrets keygen` and add the printed age1... key to the spec")
    desired = [desired_secret(project, target) for target in with_recipients]
    root = Path(project.root)
    problems = []
    workers = max(1, min(len(desired), os.cpu_count() or 1))
    with progress.step("Secrets", len(desired)) as step, ThreadPoolExecutor(workers) as pool:
        # Each in a copy of this context: sops's scratch area (sops.scratch_in) goes along.
        futures = [pool.submit(contextvars.copy_context().run, _plan_secret, root, secret, encrypt,
                               replaced_secrets(project, target, root), discard,
                               (edited or {}).get(secret.file))
                   for target, secret in zip(with_recipients, desired, strict=True)]
        for secret, future in zip(desired, futures, strict=True):
            try:
                content, pending, carried = future.result()
            except MoltgenError as error:  # gather every Secret's problem, not just the first
                problems.extend(error.problems)
                continue
            finally:
                step.advance()
            if content is not None:
                plan.files[secret.file] = content
            plan.pending.extend(pending)
            plan.carried |= carried
    if problems:
        raise MoltgenError(problems)
    return plan


def _plan_secret(root: Path, desired: DesiredSecret, encrypt: bool, replaced: dict[str, bytes],
                 discard: bool, edited: bytes | None = None) -> tuple[bytes | None, list[str], set[str]]:
    """The Secret's file as it must be (None: left out), the changes left undone, and the
    replaced Secrets whose set values it took over."""
    pending: list[str] = []
    current = edited if edited is not None else read_current(root / desired.file, desired.file)
    if current is None and replaced:
        if encrypt:
            content, carried = _inherit(desired, replaced, discard)
            return content, pending, carried
        pending.append(f"{desired.file}: does not exist yet; `moltgen render` creates it with "
                       f"the values set in {', '.join(replaced)} (it needs the private key)")
        return None, pending, set()
    if current is None:
        if encrypt:
            return reconcile.create(desired), pending, set()
        pending.append(f"{desired.file}: does not exist yet; `moltgen render` creates it "
                       "(public keys only)")
        return None, pending, set()
    if encrypt:
        return reconcile_file(current, desired), pending, set()
    return _keyless_part(current, desired, pending), pending, set()


def replaced_secrets(project: Project, target: Target, root: Path) -> dict[str, bytes]:
    """The Secrets on disk of the overlays `target` replaces, which no target keeps: its
    environment's when the project became a fleet, the instances' when it stopped being one."""
    env_dir = root / project.overlay_dir(target.environment)
    if target.instance:
        candidates = [env_dir / SECRET_FILE]
    elif env_dir.is_dir():
        candidates = sorted(env_dir.glob(f"*/{SECRET_FILE}"))
    else:
        candidates = []
    kept = {secret_file(t) for t in project.targets}
    found = {}
    for path in candidates:
        name = path.relative_to(root).as_posix()
        content = None if name in kept else read_current(path, name)
        if content is not None:
            found[name] = content
    return found


def _inherit(desired: DesiredSecret, replaced: dict[str, bytes], discard: bool) -> tuple[bytes, set[str]]:
    try:
        return reconcile.inherit(desired, replaced)
    except sops.SopsError as error:
        if error.failure is not sops.SopsFailure.NO_KEY_CAN_DECRYPT:
            raise
        if discard:
            return reconcile.create(desired), set()
        raise MoltgenError(Problem(
            f"takes over the values set in {', '.join(replaced)}, which needs the private key, "
            f"and none available can decrypt them: {sops.key_hint()}; or render with "
            "--discard-values to start it with empty values", Location(desired.file))) from None


def refuse_losing_values(removed: dict[str, bytes], carried: set[str]) -> None:
    """Render removes an encrypted Secret that holds set values (its environment or instance
    left the spec) only when asked to: the values exist nowhere else but in git history."""
    problems = []
    for path, content in sorted(removed.items()):
        if path.rsplit("/", 1)[-1] != SECRET_FILE or path in carried:
            continue
        try:
            lost = reconcile.set_keys(read_secret_facts(content, path))
        except MoltgenError:
            continue  # not a Secret moltgen can read; tree.py removes only generated files
        if lost:
            problems.append(Problem(
                f"holds values set with `moltgen secrets set` ({', '.join(lost)}) that no "
                "overlay of the spec takes over; render deletes it only with --discard-values",
                Location(path)))
    if problems:
        raise MoltgenError(problems)


def reconcile_file(current: bytes, desired: DesiredSecret) -> bytes:
    """`current` with every needed change made; a clear MoltgenError when the key is missing,
    or when the spec's recipients differ from the file's (only `updatekeys` changes those)."""
    changes = reconcile.changes_needed(current, desired)
    refuse_new_recipients(current, desired)
    try:
        return reconcile.apply(current, changes)
    except sops.SopsError as error:
        if error.failure is not sops.SopsFailure.NO_KEY_CAN_DECRYPT:
            raise
        reasons = "; ".join(c.reason for c in changes if c.needs_key)
        raise MoltgenError(Problem(
            f"must change ({reasons}), which needs the private key, and none available can "
            f"decrypt it: {sops.key_hint()}; then rerun `moltgen render`",
            Location(desired.file))) from None


def recipient_changes(current: bytes, desired: DesiredSecret) -> tuple[list[str], list[str]]:
    """The recipients the spec adds to the file's, and those it removes."""
    present = read_secret_facts(current, desired.file).recipients
    return ([r for r in desired.recipients if r not in present],
            [r for r in present if r not in desired.recipients])


def _recipients_message(added: list[str], removed: list[str]) -> str:
    parts = [f"adds {', '.join(added)}"] if added else []
    parts += [f"removes {', '.join(removed)}"] if removed else []
    return (f"the spec's age recipients differ from the file's ({' and '.join(parts)}); "
            "re-encrypting a Secret to other keys is an explicit step: review the change, then "
            "run `moltgen secrets updatekeys` (it needs a private key that decrypts the file)")


def refuse_new_recipients(current: bytes, desired: DesiredSecret) -> None:
    """A render never re-encrypts to other recipients on its own: a pull request that adds an
    age key would otherwise have every value encrypted to it by the next person who renders."""
    added, removed = recipient_changes(current, desired)
    if added or removed:
        raise MoltgenError(Problem(_recipients_message(added, removed), Location(desired.file)))


def _keyless_part(current: bytes, desired: DesiredSecret, pending: list[str]) -> bytes:
    added, removed = recipient_changes(current, desired)
    if added or removed:
        pending.append(f"{desired.file}: {_recipients_message(added, removed)}")
        # The other changes are judged against the recipients the file keeps until then.
        desired = replace(desired, recipients=tuple(r for r in desired.recipients if r not in added)
                          + tuple(removed))
    changes = reconcile.changes_needed(current, desired)
    keyless = [c for c in changes if not c.needs_key]
    keyed = [c for c in changes if c.needs_key]
    if keyed:
        pending.append(f"{desired.file}: " + "; ".join(c.reason for c in keyed)
                       + "; `moltgen render` makes these changes (it needs the private key)")
    # Keyless changes (the header) are deterministic, so the diff shows them as they will be.
    return reconcile.apply(current, keyless)


def read_current(path: Path, display: str) -> bytes | None:
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise MoltgenError(Problem("expected a regular file", Location(display)))
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MoltgenError(Problem(f"cannot read: {exc.strerror}", Location(display))) from None


def sops_config(project: Project) -> bytes:
    """`.sops.yaml`: one creation rule per overlay, so `sops edit` by hand encrypts the same way.

    moltgen itself passes every setting on the sops command line and ignores this file. sops
    matches path_regex against the file's path made relative to this file's directory, or as
    given when outside it, so the overlay path may follow a `/` instead of the start. Recipients are one
    comma-separated string, the form every sops version reads.
    """
    rules = []
    for target in project.targets:
        if not target.spec.sops.age_recipients:
            continue
        desired = desired_secret(project, target)
        rules.append({
            "path_regex": f"(^|/){re.escape(target.directory)}/[^/]+\\.enc\\.yaml$",
            "encrypted_regex": sops.ENCRYPTED_REGEX,
            "age": ",".join(desired.recipients),
        })
    return (header(project.spec_path.name) + dump_yaml({"creation_rules": rules})).encode("utf-8")
