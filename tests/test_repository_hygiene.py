"""No secret in the repository: detect-secrets over every tracked file, against the audited baseline."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

BASELINE = PROJECT_ROOT / ".secrets.baseline"
DETECT_SECRETS = Path(sys.executable).parent / "detect-secrets"


def findings(baseline: dict) -> set[tuple[str, str, str]]:
    return {(path, item["type"], item["hashed_secret"]) for path, items in baseline["results"].items() for item in items}


def test_every_finding_in_the_baseline_was_audited_as_not_a_secret():
    baseline = json.loads(BASELINE.read_text())
    unaudited = [
        f"{path}:{item['line_number']} {item['type']}"
        for path, items in baseline["results"].items()
        for item in items
        if item.get("is_secret") is not False
    ]
    assert not unaudited, f"audit these with `venv/bin/detect-secrets audit .secrets.baseline`: {unaudited}"


def test_tracked_files_hold_no_secret_beyond_the_audited_baseline(tmp_path):
    rescan = tmp_path / "baseline.json"
    shutil.copy(BASELINE, rescan)
    subprocess.run(
        [str(DETECT_SECRETS), "scan", "--baseline", str(rescan)], cwd=PROJECT_ROOT, check=True, timeout=60
    )
    current = json.loads(rescan.read_text())
    new = findings(current) - findings(json.loads(BASELINE.read_text()))
    where = sorted(
        f"{path}:{item['line_number']} {item['type']}"
        for path, items in current["results"].items()
        for item in items
        if (path, item["type"], item["hashed_secret"]) in new
    )
    assert not where, (
        "possible secrets (remove them; if they are not secrets, run `make secrets-baseline` "
        f"and audit): {where}"
    )


def test_the_scan_catches_a_leaked_key(tmp_path):
    # Built at run time so this file itself holds no key-shaped string.
    key_id = "AKIA" + "Z" * 4 + "2QJ7EXAMPLE1"
    (tmp_path / "settings.env").write_text(f"AWS_ACCESS_KEY_ID={key_id}\n")
    result = subprocess.run(
        [str(DETECT_SECRETS), "scan", "--all-files", "."], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    types = {item["type"] for items in json.loads(result.stdout)["results"].values() for item in items}
    assert "AWS Access Key" in types
