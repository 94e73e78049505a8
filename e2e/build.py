"""Builds the end-to-end binaries once into a cache outside the repository.

`python -m e2e.build` prints a line when a step starts and one when it ends, with its duration
and the peak memory of its largest process. A binary already in the cache is reused; each
binary's cache path is keyed by every pinned version it is built from. A step's go output goes
to `<cache>/logs/<step>.log`, printed when the step fails.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

REPOSITORY = Path(__file__).resolve().parent.parent
GO_WRAPPERS = Path(__file__).resolve().parent / "gobuild"

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.8"
HELM_VERSION = "v3.22.0"
ESO_VERSION = "v2.9.0"
ESO_CHART_VERSION = "2.9.0"
PROMTOOL_VERSION = "v0.316.0"
# Prometheus' own tag for leaving out the optional service discoveries, which promtool only
# needs for `check config` of cloud SD blocks; `check rules` and `test rules` keep working.
PROMTOOL_TAGS = ("remove_all_sd",)
# requirements.txt pins the SDK at pulumi==3.272.0, but the Go module proxy refuses
# github.com/pulumi/pulumi/pkg/v3 v3.272.0 and v3.273.0 (403): v3.274.0 is the nearest newer
# version it serves, and it builds without a `replace`.
PULUMI_VERSION = "v3.274.0"
PULUMI_KUBERNETES_VERSION = "4.34.2"
PULUMI_KUBERNETES_PROVIDER = "github.com/pulumi/pulumi-kubernetes/provider/v4"
# The proxy serves no tagged provider/v4 version, only this pseudo-version; stamped with
# PULUMI_KUBERNETES_VERSION it reports itself as the pinned pulumi-kubernetes.
PULUMI_KUBERNETES_SOURCE = "v4.0.0-20260115033456-f47bc2d6f199"
KWOK_VERSION = "v0.8.0"
# kwokctl's defaults, relative to the module's kustomize/stage: a node turns Ready and keeps its
# heartbeat, a pod turns Running and Ready, a Job's pod completes, a deleted pod goes away.
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
ESO_UPSTREAM = "https://github.com/external-secrets/external-secrets"

SHARED_ESO = REPOSITORY.parent / "shared" / "upstream" / f"external-secrets-{ESO_CHART_VERSION}"
SOURCE_OVERRIDE = "ESO_PLATFORM_ESO_SOURCE"
CHART_OVERRIDE = "ESO_PLATFORM_ESO_CHART"
CACHE_OVERRIDE = "ESO_PLATFORM_E2E_CACHE"

# Two go builds at once use both cores through their serial link phases while keeping memory
# bounded: the kubernetes provider's link alone peaks near 5 GB.
PARALLEL_BUILDS = 2
CONTROL_PLANE = f"k8s-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_helm-{HELM_VERSION}_eso-{ESO_VERSION}"
PULUMI_HOME = "pulumi-home"
PULUMI_PLUGIN = f"{PULUMI_HOME}/plugins/resource-kubernetes-v{PULUMI_KUBERNETES_VERSION}"
PROVIDER_COMMAND = "cmd/pulumi-resource-kubernetes"
PROVIDER_SDK_REPLACE = "replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => ../sdk"
GENERATED_EMBEDS = ("schema-embed.json", "terraform-mapping-embed.json")


def cache_root() -> Path:
    default = Path.home() / ".cache" / "eso-platform" / "e2e"
    return Path(os.environ.get(CACHE_OVERRIDE, default))


def bin_dir() -> Path:
    return cache_root() / CONTROL_PLANE / "bin"


def pulumi_home() -> Path:
    """The PULUMI_HOME of every pulumi the harness runs, never the user's ~/.pulumi."""
    return cache_root() / PULUMI_HOME


def pulumi_environment() -> dict[str, str]:
    """What every pulumi invocation needs: the harness's home, where the kubernetes provider is
    installed, and no update check against pulumi.com."""
    return {"PULUMI_HOME": str(pulumi_home()), "PULUMI_SKIP_UPDATE_CHECK": "true"}


def kwok_stages() -> list[Path]:
    """kwok starts only with stages; pass each with its own `--config`."""
    return [cache_root() / f"kwok-{KWOK_VERSION}" / "stages" / Path(stage).name for stage in KWOK_STAGES]


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


@dataclass
class Commands:
    """Runs a step's commands into its log, keeping the peak resident memory of the largest
    process each one started (`wait4` counts a command's waited-for descendants, such as the
    compiler and linker under `go build`)."""

    log: Path
    peak_bytes: int = 0

    def __call__(self, args: list[str], cwd: Optional[Path] = None, **env: str) -> None:
        started = time.monotonic()
        with self.log.open("a") as sink:
            sink.write(f"$ {' '.join(args)}\n")
            sink.flush()
            process = subprocess.Popen(args, cwd=cwd, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            peak = usage.ru_maxrss * 1024
            sink.write(f"$ done in {time.monotonic() - started:.1f} s, peak {_gigabytes(peak)}\n")
        self.peak_bytes = max(self.peak_bytes, peak)
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, args)


def _gigabytes(size: int) -> str:
    return f"{size / 1e9:.1f} GB"


def _go_build(
    run: Commands, package_dir: Path, output: Path, *extra: str, ldflags: str = "", package: str = ".", goflags: str = ""
) -> None:
    temporary = output.with_name(f"{output.name}.partial")
    temporary.parent.mkdir(parents=True, exist_ok=True)
    run(
        ["go", "build", "-trimpath", f"-ldflags=-s -w {ldflags}", *extra, "-o", str(temporary), package],
        cwd=package_dir,
        CGO_ENABLED="0",
        GOFLAGS=f"-buildvcs=false {goflags}".strip(),
    )
    temporary.replace(output)


def _go_install(run: Commands, module: str, output: Path, *extra: str) -> None:
    staging = output.parent / f".{output.name}-gobin"
    staging.mkdir(parents=True, exist_ok=True)
    run(["go", "install", "-trimpath", "-ldflags=-s -w", *extra, module], CGO_ENABLED="0", GOBIN=str(staging))
    (staging / output.name).replace(output)
    shutil.rmtree(staging, ignore_errors=True)


def _module_dir(module: str, version: str) -> Path:
    """The module's read-only folder in the Go module cache, downloaded if needed."""
    listed = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True)
    found = json.loads(listed.stdout or "{}")
    if "Dir" not in found:
        # The proxy's refusal (such as a 403 for a version it does not serve) is in the JSON.
        raise OSError(found.get("Error") or listed.stderr)
    return Path(found["Dir"])


def _writable_copy(source: Path, target: Path) -> None:
    """The module cache's files and folders are read-only; the copy must take generated files."""
    for folder, _, files in os.walk(source):
        destination = target / Path(folder).relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copyfile(Path(folder) / name, destination / name)


def _kubernetes_build(run: Commands, command: str, output: Path) -> None:
    # What upstream's release build stamps, so /version answers as a v1.36.3 server does.
    major, minor = KUBERNETES_VERSION.removeprefix("v").split(".")[:2]
    stamp = " ".join(
        f"-X k8s.io/component-base/version.{key}={value}"
        for key, value in (("gitVersion", KUBERNETES_VERSION), ("gitMajor", major), ("gitMinor", minor))
    )
    _go_build(run, GO_WRAPPERS / command, output, ldflags=stamp)


def _kubernetes_step(command: str, after: tuple[str, ...] = ()) -> "Step":
    return Step(
        command, KUBERNETES_VERSION, f"{CONTROL_PLANE}/bin/{command}",
        lambda run, out: _kubernetes_build(run, command, out), after=after,
    )


def _pulumi(run: Commands, output: Path) -> None:
    _go_build(
        run,
        GO_WRAPPERS / "pulumi",
        output,
        ldflags=f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={PULUMI_VERSION}",
        package="github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
    )


def without_sdk_replace(go_mod: str) -> str:
    """The provider's go.mod points its SDK at ../sdk, a sibling folder the module zip lacks; the
    required SDK version from the proxy builds the same provider."""
    lines = go_mod.splitlines(keepends=True)
    kept = [line for line in lines if line.strip() != PROVIDER_SDK_REPLACE]
    if len(kept) != len(lines) - 1:
        raise ValueError(f"expected exactly one `{PROVIDER_SDK_REPLACE}` in the provider's go.mod")
    return "".join(kept)


def _provider_source(run: Commands) -> Path:
    """The provider's module with the go:embed files its zip lacks, generated as upstream's
    Makefile does."""
    target = cache_root() / "src" / f"pulumi-kubernetes-provider-{PULUMI_KUBERNETES_SOURCE}"
    command = target / PROVIDER_COMMAND
    if all((command / name).exists() for name in GENERATED_EMBEDS):
        return target
    shutil.rmtree(target, ignore_errors=True)
    _writable_copy(_module_dir(PULUMI_KUBERNETES_PROVIDER, PULUMI_KUBERNETES_SOURCE), target)
    go_mod = target / "go.mod"
    go_mod.write_text(without_sdk_replace(go_mod.read_text()))
    run(["go", "run", "-mod=mod", "./generate.go"], cwd=command, VERSION=PULUMI_KUBERNETES_VERSION)
    return target


def _kubernetes_provider(run: Commands, output: Path) -> None:
    _go_build(
        run,
        _provider_source(run),
        output,
        ldflags=f"-X {PULUMI_KUBERNETES_PROVIDER}/pkg/version.Version={PULUMI_KUBERNETES_VERSION}",
        package=f"./{PROVIDER_COMMAND}",
        goflags="-mod=mod",
    )


def _install_provider(run: Commands, output: Path) -> None:
    # Without its binary, whatever a plugin folder holds is an interrupted install, which pulumi
    # would otherwise take for an installed plugin.
    run(
        [
            str(binary("pulumi")),
            "plugin",
            "install",
            "--reinstall",
            "resource",
            "kubernetes",
            PULUMI_KUBERNETES_VERSION,
            "--file",
            str(binary("pulumi-resource-kubernetes")),
        ],
        **pulumi_environment(),
    )
    if not output.is_file():
        raise FileNotFoundError(f"pulumi plugin install left no {output}")


def _kwok(run: Commands, output: Path) -> None:
    stages = _module_dir("sigs.k8s.io/kwok", KWOK_VERSION) / "kustomize" / "stage"
    for relative, copy in zip(KWOK_STAGES, kwok_stages()):
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stages / relative, copy)
    _go_install(run, f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}", output)


@dataclass(frozen=True)
class Step:
    name: str
    version: str
    path: str
    """The binary's path under the cache root, naming every version it is built from."""
    build: Callable[[Commands, Path], None]
    after: tuple[str, ...] = ()
    """Earlier steps this one needs, or whose compiled packages it reuses."""


# Longest first, so the two slowest builds overlap with everything else.
STEPS = (
    Step(
        "pulumi-resource-kubernetes",
        PULUMI_KUBERNETES_VERSION,
        f"pulumi-kubernetes-{PULUMI_KUBERNETES_VERSION}_{PULUMI_KUBERNETES_SOURCE}/bin/pulumi-resource-kubernetes",
        _kubernetes_provider,
    ),
    Step("pulumi", PULUMI_VERSION, f"pulumi-{PULUMI_VERSION}/bin/pulumi", _pulumi),
    Step("etcd", ETCD_VERSION, f"{CONTROL_PLANE}/bin/etcd", lambda run, out: _go_build(run, GO_WRAPPERS / "etcd", out)),
    _kubernetes_step("kube-apiserver"),
    # After the API server: they share most of its packages, built once into the Go cache.
    _kubernetes_step("kube-controller-manager", after=("kube-apiserver",)),
    _kubernetes_step("kube-scheduler", after=("kube-apiserver",)),
    Step(
        "external-secrets",
        ESO_VERSION,
        f"{CONTROL_PLANE}/bin/external-secrets",
        lambda run, out: _go_build(run, eso_source(), out, "-tags", "aws"),
    ),
    Step(
        "helm",
        HELM_VERSION,
        f"{CONTROL_PLANE}/bin/helm",
        lambda run, out: _go_install(run, f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}", out),
    ),
    Step(
        "promtool",
        PROMTOOL_VERSION,
        f"promtool-{PROMTOOL_VERSION}_tags-{'+'.join(PROMTOOL_TAGS)}/bin/promtool",
        lambda run, out: _go_install(
            run, f"github.com/prometheus/prometheus/cmd/promtool@{PROMTOOL_VERSION}", out, "-tags", ",".join(PROMTOOL_TAGS)
        ),
    ),
    Step("kwok", KWOK_VERSION, f"kwok-{KWOK_VERSION}/bin/kwok", _kwok),
    Step(
        "pulumi-plugin-kubernetes",
        PULUMI_KUBERNETES_VERSION,
        f"{PULUMI_PLUGIN}/pulumi-resource-kubernetes",
        _install_provider,
        after=("pulumi", "pulumi-resource-kubernetes"),
    ),
)


def binary(name: str) -> Path:
    return cache_root() / {step.name: step for step in STEPS}[name].path


@dataclass(frozen=True)
class Built:
    seconds: float
    peak_bytes: int


def _build(step: Step) -> Built:
    started = time.monotonic()
    log = _log_path(step)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    run = Commands(log)
    step.build(run, binary(step.name))
    return Built(time.monotonic() - started, run.peak_bytes)


def _log_path(step: Step) -> Path:
    return cache_root() / "logs" / f"{step.name}.log"


def _tail(log: Path, lines: int = 40) -> str:
    return "".join(log.read_text().splitlines(keepends=True)[-lines:])


def build_all(log: Callable[[str], None] = print) -> dict[str, Path]:
    """Every step's binary, building those missing, at most PARALLEL_BUILDS at once, each after
    the steps it names in `after`. STEPS lists every `after` before its step, so whenever
    nothing runs, the first pending step is ready."""
    done: set[str] = set()
    pending = list(STEPS)
    running: dict[Future, tuple[Step, float]] = {}
    with ThreadPoolExecutor(PARALLEL_BUILDS) as pool:
        while pending or running:
            for step in list(pending):
                if not set(step.after) <= done:
                    continue
                started = time.monotonic()
                if binary(step.name).exists():
                    pending.remove(step)
                    done.add(step.name)
                    log(f"[e2e build] {step.name} {step.version}: cached at {binary(step.name)} ({time.monotonic() - started:.1f} s)")
                elif len(running) < PARALLEL_BUILDS:
                    pending.remove(step)
                    running[pool.submit(_build, step)] = (step, started)
                    log(f"[e2e build] {step.name} {step.version}: started")
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                step, started = running.pop(future)
                if future.exception() is not None:
                    log(
                        f"[e2e build] {step.name} {step.version}: failed after {time.monotonic() - started:.1f} s; "
                        f"the end of {_log_path(step)}:\n{_tail(_log_path(step))}"
                    )
                    raise future.exception()
                done.add(step.name)
                built = future.result()
                log(f"[e2e build] {step.name} {step.version}: built in {built.seconds:.1f} s, peak {_gigabytes(built.peak_bytes)}")
    return {step.name: binary(step.name) for step in STEPS}


def main() -> int:
    try:
        build_all(lambda line: print(line, flush=True))
    except (subprocess.CalledProcessError, OSError, ValueError) as error:
        print(f"[e2e build] failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
