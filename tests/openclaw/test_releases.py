"""The order of OpenClaw releases (the registry's publish order, not semver's) and which
shipped schema judges an image tag."""

from __future__ import annotations

import random

import pytest

from moltgen.openclaw.releases import is_stable, ordered, release_key, release_of_tag, stable_between
from moltgen.openclaw.schema import select_release, shipped_releases

# As the registry published them: 2026.7.1 on 2026-07-15, its correction 2026.7.1-2 on
# 2026-07-18; betas before their release.
PUBLISH_ORDER = ["2026.7.1-beta.1", "2026.7.1-beta.6", "2026.7.1", "2026.7.1-1", "2026.7.1-2",
                 "2026.7.2-beta.1", "2026.7.2-rc.1", "2026.7.10", "2026.8.1-beta.1", "2026.8.1"]


def test_corrections_after_their_release_and_prereleases_before():
    shuffled = PUBLISH_ORDER[:]
    random.Random(7).shuffle(shuffled)
    assert ordered(shuffled) == PUBLISH_ORDER


def test_a_variant_names_the_same_release():
    for release in ("2026.7.1-2", "2026.9.6", "2026.8.1-beta.3"):
        assert release_of_tag(f"{release}-slim") == release
        assert release_key(f"{release}-slim") == release_key(release)
    assert release_of_tag("v2026.9.6") == "2026.9.6"
    assert release_key("latest") is None and release_of_tag("main") is None


def test_stable_means_no_prerelease_label():
    assert [v for v in PUBLISH_ORDER if is_stable(v)] == [
        "2026.7.1", "2026.7.1-1", "2026.7.1-2", "2026.7.10", "2026.8.1"]
    assert stable_between(PUBLISH_ORDER + ["0.0.1", "2026.9.1"], "2026.7.1-2", "2026.8.1") == [
        "2026.7.1-2", "2026.7.10", "2026.8.1"]


def between(release: str) -> str:
    """A tag after `release` and before any later one: its next correction (`-N+50`)."""
    base, _, fix = release.partition("-")
    return f"{base}-{int(fix or 0) + 50}-slim"


@pytest.mark.parametrize("release", shipped_releases())
def test_a_shipped_release_is_used_as_it_is(release):
    for tag in (release, f"{release}-slim", f"v{release}"):
        assert select_release(tag).release == release
        assert select_release(tag).warning is None


def test_an_unshipped_release_gets_the_newest_one_before_it_with_a_warning():
    releases = shipped_releases()
    for index, release in enumerate(releases):
        selection = select_release(between(release))
        assert selection.release == release, between(release)
        assert selection.warning and f"validated against {release}" in selection.warning
        if index and "-" not in release:
            # a prerelease of a shipped release is judged by the one before
            assert select_release(f"{release}-beta.1").release == releases[index - 1]


def test_a_tag_older_than_every_shipped_schema_is_an_error():
    oldest = shipped_releases()[0]
    base = oldest.partition("-")[0]
    for tag in (f"{int(base.split('.')[0]) - 1}.12.31", f"{base}-beta.1", f"{base}-beta.1-slim"):
        selection = select_release(tag)
        assert selection.release is None and selection.error
        assert f"the oldest is {oldest}" in selection.error


@pytest.mark.parametrize("tag", ["latest", "main", None])
def test_a_tag_without_a_version_gets_the_newest_silently(tag):
    assert select_release(tag).release == shipped_releases()[-1]
    assert select_release(tag).warning is None
