"""Builds the end-to-end binaries once into a cache outside the repository.

`python -m e2e.build` prints one progress line per step with its duration. A binary already
in the cache is reused; the cache folder is keyed by every pinned version.
"""

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPOSITORY = Path(__file__).resolve().parent.parent
GO_WRAPPERS = Path(__file__).resolve().parent / "gobuild"

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.8"
HELM_VERSION = "v3.22.0"
ESO_VERSION = "v2.9.0"
ESO_CHART_VERSION = "2.9.0"
PROMTOOL_VERSION = "v0.316.0"
ESO_UPSTREAM = "https://github.com/external-secrets/external-secrets"

SHARED_ESO = REPOSITORY.parent / "shared" / "upstream" / f"external-secrets-{ESO_CHART_VERSION}"
SOURCE_OVERRIDE = "ESO_PLATFORM_ESO_SOURCE"
CHART_OVERRIDE = "ESO_PLATFORM_ESO_CHART"
CACHE_OVERRIDE = "ESO_PLATFORM_E2E_CACHE"


def cache_root() -> Path:
    default = Path.home() / ".cache" / "eso-platform" / "e2e"
    return Path(os.environ.get(CACHE_OVERRIDE, default))


def bin_dir() -> Path:
    return cache_root() / f"k8s-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_helm-{HELM_VERSION}_eso-{ESO_VERSION}" / "bin"


def binary(name: str) -> Path:
    if name == "promtool":
        return cache_root() / PROMTOOL_VERSION / "bin" / name
    return bin_dir() / name


def _clone() -> Path:
    """Upstream at the pinned tag, for a checkout without ../shared."""
    target = cache_root() / "src" / f"external-secrets-{ESO_VERSION}"
    if not (target / "go.mod").exists():
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", "--branch", ESO_VERSION, ESO_UPSTREAM, str(target)],
            check=True,
        )
    return target


def eso_source() -> Path:
    if os.environ.get(SOURCE_OVERRIDE):
        return Path(os.environ[SOURCE_OVERRIDE])
    shared = SHARED_ESO / "source"
    return shared if (shared / "go.mod").exists() else _clone()


def eso_chart() -> Path:
    """The chart folder. Upstream's git tree keeps it under deploy/charts, without the CRD
    templates that its release generates; `crd_bundle` covers that case."""
    if os.environ.get(CHART_OVERRIDE):
        return Path(os.environ[CHART_OVERRIDE])
    shared = SHARED_ESO / "chart" / "external-secrets"
    return shared if (shared / "Chart.yaml").exists() else _clone() / "deploy" / "charts" / "external-secrets"


def crd_bundle() -> Path:
    """Upstream's CRD bundle, used when the chart folder carries no CRD templates."""
    return _clone() / "deploy" / "crds" / "bundle.yaml"


def _go_build(package_dir: Path, output: Path, *extra: str, ldflags: str = "") -> None:
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    temporary = output.with_suffix(".partial")
    subprocess.run(
        ["go", "build", "-trimpath", f"-ldflags=-s -w {ldflags}", *extra, "-o", str(temporary), "."],
        cwd=package_dir,
        env=env,
        check=True,
    )
    temporary.replace(output)


def _go_install(module: str, output: Path) -> None:
    staging = output.parent / f".{output.name}-gobin"
    env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(staging)}
    subprocess.run(["go", "install", "-trimpath", "-ldflags=-s -w", module], env=env, check=True)
    (staging / output.name).replace(output)
    shutil.rmtree(staging, ignore_errors=True)


def _kubernetes_build(command: str, output: Path) -> None:
    # What upstream's release build stamps, so /version answers as a v1.36.3 server does.
    major, minor = KUBERNETES_VERSION.removeprefix("v").split(".")[:2]
    stamp = " ".join(
        f"-X k8s.io/component-base/version.{key}={value}"
        for key, value in (("gitVersion", KUBERNETES_VERSION), ("gitMajor", major), ("gitMinor", minor))
    )
    _go_build(GO_WRAPPERS / command, output, ldflags=stamp)


@dataclass(frozen=True)
class Step:
    name: str
    version: str
    build: Callable[[Path], None]


STEPS = (
    Step("etcd", ETCD_VERSION, lambda out: _go_build(GO_WRAPPERS / "etcd", out)),
    Step("kube-apiserver", KUBERNETES_VERSION, lambda out: _kubernetes_build("kube-apiserver", out)),
    Step("kube-controller-manager", KUBERNETES_VERSION, lambda out: _kubernetes_build("kube-controller-manager", out)),
    Step("helm", HELM_VERSION, lambda out: _go_install(f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}", out)),
    Step("external-secrets", ESO_VERSION, lambda out: _go_build(eso_source(), out, "-tags", "aws")),
    Step(
        "promtool",
        PROMTOOL_VERSION,
        lambda out: _go_install(f"github.com/prometheus/prometheus/cmd/promtool@{PROMTOOL_VERSION}", out),
    ),
)


def build_all(log: Callable[[str], None] = print) -> dict[str, Path]:
    built = {}
    for step in STEPS:
        output = binary(step.name)
        output.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        if output.exists():
            log(f"[e2e build] {step.name} {step.version}: cached at {output} ({time.monotonic() - started:.1f} s)")
        else:
            step.build(output)
            log(f"[e2e build] {step.name} {step.version}: built in {time.monotonic() - started:.1f} s")
        built[step.name] = output
    return built


def main() -> int:
    try:
        build_all(lambda line: print(line, flush=True))
    except (subprocess.CalledProcessError, OSError) as error:
        print(f"[e2e build] failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
