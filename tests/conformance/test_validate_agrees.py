"""moltgen's verdict on an openclaw.json (the shipped schema) agrees with the real
`openclaw config validate` of each release, on configs other projects wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from moltgen.check.openclaw import loads_json5
from moltgen.openclaw.schema import config_problems

from .conftest import RELEASES

pytestmark = pytest.mark.conformance  # installs and runs the real OpenClaw (make test-fast skips it)

CONFIGS = yaml.safe_load((Path(__file__).parent / "data" / "third_party_configs.yaml").read_text())


@pytest.mark.parametrize("release", RELEASES)
def test_schema_verdict_matches_openclaw_config_validate(runtimes, release, tmp_path):
    disagreements = []
    for index, item in enumerate(CONFIGS):
        path = tmp_path / f"config-{index}.json"
        path.write_text(item["text"])
        home = tmp_path / f"home-{index}"
        home.mkdir()
        result = runtimes[release].run("config", "validate", home=home, timeout=300,
                                       extra_env={"OPENCLAW_CONFIG_PATH": str(path)})
        real_valid = result.returncode == 0
        problems = config_problems(loads_json5(item["text"]), release)
        if real_valid != (not problems):
            disagreements.append((item["source"], result.stdout[-500:], problems))
    assert disagreements == []
