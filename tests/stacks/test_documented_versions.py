"""The README's version tables and defaults say what the stack model accepts."""

import re

from stacks.model import DEFAULT_CHART_VERSION, SUPPORTED_CHART_VERSIONS, ClusterCreate, EsoConfig
from tests.conftest import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()


def _section(title: str) -> str:
    return README.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]


def test_the_chart_versions_table_lists_exactly_the_supported_versions():
    rows = re.findall(r"^\| `([0-9.]+)` \|", _section("Chart versions"), flags=re.MULTILINE)
    assert rows == list(SUPPORTED_CHART_VERSIONS)
    assert DEFAULT_CHART_VERSION in SUPPORTED_CHART_VERSIONS


def test_the_configuration_table_gives_the_models_defaults():
    assert f"| `eso.chartVersion` | `{EsoConfig().chart_version}` |" in README
    assert f'create: {{version: "{ClusterCreate().version}"' in README
