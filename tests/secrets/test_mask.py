"""A masked secret value says whether it is set and how long it is, never what it is."""

import secrets

from moltgen.secrets.mask import masked


def test_a_masked_value_shows_its_length_and_a_published_prefix_of_a_long_key():
    key = "sk-ant-api03-" + "x" * 40
    assert masked(key) == f"sk-ant-…({len(key)} chars)"
    assert masked("xoxb-" + "1" * 40) == "xoxb-…(45 chars)"
    assert masked("ab-" + "a" * 30) == "…(33 chars)"  # not a published prefix: hidden


def test_a_short_value_shows_its_length_only_and_an_empty_one_nothing():
    assert masked("sk-cdefg") == "…(8 chars)"
    assert masked("a") == "…(1 char)"
    assert masked("") is None


def test_a_random_token_shows_nothing_of_itself():
    for _ in range(200):
        token = secrets.token_urlsafe(32)
        if not token.startswith(("sk-", "ghp_")):
            assert masked(token) == f"…({len(token)} chars)"
