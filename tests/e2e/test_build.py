"""The end-to-end build's cache keys, pins and step order, checked without building anything."""

import re
import threading
import time
from pathlib import Path

import pytest

from e2e import build
from e2e.build import Step

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def _pin(package: str) -> tuple[int, ...]:
    text = (PROJECT_ROOT / "requirements.txt").read_text()
    (version,) = re.findall(rf"^{re.escape(package)}==([0-9.]+)$", text, re.MULTILINE)
    return _numbers(version)


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.removeprefix("v").split("."))


def test_every_binary_is_cached_under_a_path_naming_its_version(tmp_path, monkeypatch):
    monkeypatch.setenv(build.CACHE_OVERRIDE, str(tmp_path))
    for step in build.STEPS:
        path = build.binary(step.name)
        assert path.is_relative_to(tmp_path)
        assert step.version in str(path.relative_to(tmp_path)), step.name


def test_the_existing_control_plane_binaries_keep_their_paths(tmp_path, monkeypatch):
    monkeypatch.setenv(build.CACHE_OVERRIDE, str(tmp_path))
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "helm", "external-secrets"):
        assert build.binary(name) == build.bin_dir() / name


def test_promtool_built_with_tags_is_not_mistaken_for_one_built_without():
    (step,) = (step for step in build.STEPS if step.name == "promtool")
    assert all(tag in step.path for tag in build.PROMTOOL_TAGS)
    assert not step.path.startswith(f"{build.PROMTOOL_VERSION}/")


def test_the_pulumi_cli_is_at_least_the_sdk_pin():
    assert _numbers(build.PULUMI_VERSION) >= _pin("pulumi")


def test_the_pulumi_wrapper_module_requires_the_built_version():
    go_mod = (build.GO_WRAPPERS / "pulumi" / "go.mod").read_text()
    assert f"github.com/pulumi/pulumi/pkg/v3 {build.PULUMI_VERSION}\n" in go_mod


def test_the_kubernetes_provider_is_the_sdk_pin():
    assert _numbers(build.PULUMI_KUBERNETES_VERSION) == _pin("pulumi-kubernetes")


def test_the_provider_is_installed_into_the_harness_pulumi_home(tmp_path, monkeypatch):
    monkeypatch.setenv(build.CACHE_OVERRIDE, str(tmp_path))
    plugin = build.binary("pulumi-plugin-kubernetes")
    assert plugin.parent == build.pulumi_home() / "plugins" / f"resource-kubernetes-v{build.PULUMI_KUBERNETES_VERSION}"
    assert build.pulumi_environment() == {"PULUMI_HOME": str(tmp_path / "pulumi-home"), "PULUMI_SKIP_UPDATE_CHECK": "true"}


def test_kwok_stages_are_distinct_files_beside_kwok(tmp_path, monkeypatch):
    monkeypatch.setenv(build.CACHE_OVERRIDE, str(tmp_path))
    stages = build.kwok_stages()
    assert len(set(stages)) == len(build.KWOK_STAGES)
    assert all(stage.parent.parent == build.binary("kwok").parent.parent for stage in stages)


def test_the_provider_go_mod_loses_only_its_sdk_replace():
    go_mod = f"module m\n\ngo 1.24.7\n\n{build.PROVIDER_SDK_REPLACE}\n\nrequire x v1\n"
    assert build.without_sdk_replace(go_mod) == "module m\n\ngo 1.24.7\n\n\nrequire x v1\n"
    with pytest.raises(ValueError):
        build.without_sdk_replace("module m\n")


def test_every_step_comes_after_the_steps_it_waits_for():
    seen: set[str] = set()
    for step in build.STEPS:
        assert set(step.after) <= seen, step.name
        seen.add(step.name)


def test_steps_run_in_parallel_after_their_dependencies_and_cached_ones_are_reused(tmp_path, monkeypatch):
    monkeypatch.setenv(build.CACHE_OVERRIDE, str(tmp_path))
    lock = threading.Lock()
    events: list[str] = []
    concurrent = [0, 0]

    def fake(name: str):
        def run(_commands, output: Path) -> None:
            with lock:
                events.append(f"start {name}")
                concurrent[0] += 1
                concurrent[1] = max(concurrent[1], concurrent[0])
            time.sleep(0.2)
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(name)
            with lock:
                concurrent[0] -= 1
                events.append(f"end {name}")

        return run

    steps = (
        Step("slow", "v1", "slow-v1/bin/slow", fake("slow")),
        Step("base", "v1", "base-v1/bin/base", fake("base")),
        Step("cached", "v1", "cached-v1/bin/cached", fake("cached")),
        Step("derived", "v1", "base-v1/bin/derived", fake("derived"), after=("base",)),
    )
    monkeypatch.setattr(build, "STEPS", steps)
    cached = tmp_path / "cached-v1" / "bin" / "cached"
    cached.parent.mkdir(parents=True)
    cached.write_text("old")
    lines: list[str] = []

    built = build.build_all(lines.append)

    assert built == {step.name: tmp_path / step.path for step in steps}
    assert cached.read_text() == "old"
    assert events.index("end base") < events.index("start derived")
    assert concurrent[1] == build.PARALLEL_BUILDS
    assert "[e2e build] cached v1: cached at" in "\n".join(lines)
    assert sum(line.endswith(": started") for line in lines) == 3
    assert sum(": built in " in line for line in lines) == 3
