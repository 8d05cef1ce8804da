"""The order of OpenClaw releases, as the npm registry published them.

OpenClaw versions are dates (`2026.9.6`), with two kinds of suffix that semver orders the same
way but the registry does not:
- a correction `-N` is a stable release published after its base: 2026.7.1 on 2026-07-15,
  2026.7.1-2 on 2026-07-18. Semver reads `-2` as a prerelease and puts it first;
- a prerelease `-beta.N` (or alpha, rc) comes before its release, as in semver.
Image tags add variants after the version (`2026.7.1-2-slim`, `2026.9.6-slim`), which name
the same release. Publish dates themselves are no key: the registry also holds releases
republished months later (2026.1.29 on 2026-09-16).
"""

from __future__ import annotations

import re

# year.month.day, then a correction number or a prerelease label, then anything (a variant).
_VERSION = re.compile(
    r"^v?(?P<y>[0-9]{4})\.(?P<m>[0-9]+)\.(?P<d>[0-9]+)"
    r"(?:-(?P<fix>[0-9]+)(?![0-9A-Za-z])|-(?P<pre>alpha|beta|rc)(?:\.?(?P<n>[0-9]+))?)?"
    r"(?![0-9.])")
# A stable release as the registry names it: no label, no variant.
_STABLE = re.compile(r"^[0-9]{4}\.[0-9]+\.[0-9]+(?:-[0-9]+)?$")

Key = tuple[int, int, int, int, str, int]


def release_key(version: str) -> Key | None:
    """A sort key in publish order: `2026.7.1-beta.2` < `2026.7.1` < `2026.7.1-2` <
    `2026.7.2`; a tag's variant is ignored (`2026.7.1-2-slim` is 2026.7.1-2). None for a
    tag without a version (`latest`)."""
    match = _VERSION.match(version)
    if not match:
        return None
    date = int(match["y"]), int(match["m"]), int(match["d"])
    if match["pre"]:  # before the release; alpha < beta < rc happens to be alphabetical
        return (*date, 0, match["pre"], int(match["n"] or 0))
    return (*date, 1, "", int(match["fix"] or 0))


def release_of_tag(tag: str) -> str | None:
    """The release an image tag names, without its variant: `2026.7.1-2-slim` -> 2026.7.1-2."""
    match = _VERSION.match(tag)
    return match[0].removeprefix("v") if match else None


def is_stable(version: str) -> bool:
    return bool(_STABLE.match(version))


def ordered(versions: list[str] | tuple[str, ...]) -> list[str]:
    """`versions` that have a release key, oldest first."""
    keyed = {v: key for v in versions if (key := release_key(v)) is not None}
    return sorted(keyed, key=keyed.__getitem__)


def stable_between(versions: list[str], oldest: str, newest: str) -> list[str]:
    """The stable releases among `versions` from `oldest` to `newest` (both included)."""
    low, high = release_key(oldest), release_key(newest)
    keyed = [(v, release_key(v)) for v in ordered(versions) if is_stable(v)]
    return [v for v, key in keyed if low is not None and high is not None and key is not None
            and low <= key <= high]
