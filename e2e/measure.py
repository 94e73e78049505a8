"""`python -m e2e.measure`: numbers from the real engine and the real controller, printed as a
table and written as JSON.

These are measurements, not assertions:
- the engine: `pulumi up` from nothing and `preview` of the dev stack, of 100 services and of
  1,000 services in 100 namespaces (the 1,000 with `PULUMI_SKIP_CHECKPOINTS=true` unless
  `--checkpointed-fleet`); `preview` and `up` of a one-service change on the 1,000;
  the 100 from nothing with and without checkpoints and their destroy; CPU seconds per process
  (the engine, each provider plugin, the program) and peak memory of all of them together;
  the mock-engine plan of the same stacks beside them;
- the controller: dev from nothing to every ExternalSecret Ready, force-sync latency of one
  ExternalSecret, a force-sync of all 1,000 at the program's sizing,
  with CPU seconds per process, the controller's peak RSS and the AWS calls at the front.

A force-sync here is the annotation the program's `forceSync` sets, written straight onto the
ExternalSecrets (as `kubectl annotate` would), so that it measures the controller rather than
another `pulumi up`.
"""

import argparse
import datetime
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from components.manifests import FORCE_SYNC_ANNOTATION as FORCE_SYNC
from e2e.engine import EngineStack
from e2e.harness import CLUSTER, ORGANIZATION, REGION, Harness, condition
from e2e.processes import cpu_seconds, descendants, wait_until
from e2e.world import ESO_API, put_secret, secret_value, seed_secrets
from tools.plan.engine import PlaceholderCloud, run_program

BIG, BIG_NAMESPACES = 1000, 100
SPLIT_TENANTS = 10
APPLY_THREADS = 16


def fleet(environment: str, services: int, namespaces: int) -> dict[str, Any]:
    return {
        "aws:region": REGION,
        "environment": environment,
        "cluster": {"name": CLUSTER},
        "services": [
            {"name": f"svc-{index:04d}", "namespace": f"{environment}-ns-{index % namespaces:03d}"}
            for index in range(services)
        ],
    }


class ProcessSampler:
    """CPU seconds and resident memory of process trees (of stacks run at once), sampled twice
    a second: a process's last sample is its total, so the sum by name says where the time went."""

    def __init__(self, *roots: int):
        # Stacks run by a pool add theirs as they start.
        self.roots = list(roots)
        self.cpu: dict[int, tuple[str, float]] = {}
        self.peak_rss_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(0.5):
            total = 0
            for pid in [pid for root in self.roots for pid in (root, *descendants(root))]:
                try:
                    name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    label = _label([part.decode(errors="replace") for part in name if part])
                    # An exited process's last sample has no command line: it keeps its name.
                    label = self.cpu[pid][0] if label == "?" and pid in self.cpu else label
                    self.cpu[pid] = (label, cpu_seconds(pid))
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
                except (OSError, IndexError, ValueError):
                    continue
            self.peak_rss_bytes = max(self.peak_rss_bytes, total)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def by_name(self) -> dict[str, float]:
        summed: dict[str, float] = {}
        for label, seconds in self.cpu.values():
            summed[label] = round(summed.get(label, 0.0) + seconds, 1)
        return dict(sorted(summed.items()))


def _label(argv: list[str]) -> str:
    if not argv:
        return "?"
    command = Path(argv[0]).name
    if command.startswith("python"):
        if "e2e.aws_provider" in argv:
            return "aws provider (stand-in)"
        return "program (runner)" if any(a.endswith("engine_run.py") for a in argv) else "python"
    return {"pulumi": "engine", "pulumi-resource-kubernetes": "kubernetes provider"}.get(command, command)


def engine_run(stack: EngineStack, operation: str, config: Optional[dict] = None, env: Optional[dict] = None) -> dict[str, Any]:
    running = stack.start(operation, config, env)
    with ProcessSampler(running.process.pid) as sampler:
        result = running.wait().checked()
    return {
        "operation": operation,
        "seconds": round(result.seconds, 1),
        "steps": dict(result.ops()),
        "cpuSeconds": sampler.by_name(),
        "peakRssMiB": round(sampler.peak_rss_bytes / 2**20),
    }


def engine_runs(
    runs: list[tuple[EngineStack, str, Optional[dict]]], parallel: int, env: Optional[dict] = None
) -> dict[str, Any]:
    """The operations, `parallel` at a time, one engine each: the wall time until the last is done."""
    started = time.monotonic()
    with ProcessSampler() as sampler:

        def run(found: tuple[EngineStack, str, Optional[dict]]):
            stack, operation, config = found
            running = stack.start(operation, config, env)
            sampler.roots.append(running.process.pid)
            return running.wait().checked()

        with ThreadPoolExecutor(parallel) as pool:
            results = list(pool.map(run, runs))
    return {
        "operation": f"{len(runs)} x {runs[0][1]}, {parallel} at a time",
        "seconds": round(time.monotonic() - started, 1),
        "slowestStackSeconds": round(max(r.seconds for r in results), 1),
        "steps": dict(sum((r.ops() for r in results), Counter())),
        "cpuSeconds": sampler.by_name(),
        "peakRssMiB": round(sampler.peak_rss_bytes / 2**20),
    }


def one_service_added(harness: Harness, stack: EngineStack, plan, environment: str) -> dict[str, Any]:
    """`preview` and `up` of one service added to the fleet's first namespace."""
    changed = json.loads(json.dumps(plan.config))
    changed["eso-platform:services"].append({"name": "svc-extra", "namespace": f"{environment}-ns-000"})
    # As onboarding goes: the secret is in Secrets Manager before the service is deployed.
    put_secret(harness.moto_url, REGION, f"{environment}/app/svc-extra", {"token": f"e2e-{secrets.token_hex(6)}"})
    return {"oneServicePreview": engine_run(stack, "preview", changed), "oneServiceUp": engine_run(stack, "up", changed)}


def split_fleet(
    harness: Harness, tenants: int, parallel: int, services: int = BIG, namespaces: int = BIG_NAMESPACES
) -> dict[str, Any]:
    """The fleet as a platform stack and `tenants` tenant stacks of an equal share of the
    namespaces each, deployed from nothing with checkpoints (the platform, then every tenant at
    `parallel` at a time), and a one-service change in one tenant. The last measurement: what it
    deploys stays until the harness stops."""
    platform, platform_plan = _deployed(harness, "split-platform", fleet("split", 0, 1))
    per_tenant = namespaces // tenants
    stacks = []
    for index in range(tenants):
        owned = [s for s in fleet("split", services, namespaces)["services"] if int(s["namespace"].rsplit("-", 1)[1]) // per_tenant == index]
        stack = harness.stack(f"measure-split-team-{index:02d}")
        config = {"aws:region": REGION, "environment": "split", "platform": f"{ORGANIZATION}/{stack.project}/{platform.name}", "services": owned}
        plan = harness.planned(stack.name, config)
        seed_secrets(plan, harness.moto_url)
        stacks.append((stack, plan))
    row: dict[str, Any] = {
        "stack": f"platform + {tenants} tenants", "services": sum(len(p.deliveries()) for _, p in stacks),
        "resources": len(platform_plan.resources) + sum(len(p.resources) for _, p in stacks),
    }
    row["platformUp"] = engine_run(platform, "up", platform_plan.config)
    row["tenantsUp"] = engine_runs([(stack, "up", plan.config) for stack, plan in stacks], parallel)
    row["fleetFromNothingSeconds"] = round(row["platformUp"]["seconds"] + row["tenantsUp"]["seconds"], 1)
    team, team_plan = stacks[0]
    row["tenantPreviewUnchanged"] = engine_run(team, "preview")
    row.update(one_service_added(harness, team, team_plan, "split"))
    print(f"  engine {row['stack']}: fleet from nothing {row['fleetFromNothingSeconds']} s, one-service preview "
          f"{row['oneServicePreview']['seconds']} s, up {row['oneServiceUp']['seconds']} s", file=sys.stderr, flush=True)
    return row


def mock_plan_seconds(config: dict[str, Any], stack: str) -> float:
    started = time.monotonic()
    run_program({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}, stack, PlaceholderCloud(REGION))
    return round(time.monotonic() - started, 1)


SKIP_CHECKPOINTS = {"PULUMI_SKIP_CHECKPOINTS": "true"}


def _deployed(harness: Harness, name: str, config: dict[str, Any]) -> tuple[EngineStack, Any]:
    stack = harness.stack(f"measure-{name}")
    plan = harness.planned(stack.name, config)
    harness.claim(stack)
    seed_secrets(plan, harness.moto_url)
    return stack, plan


def _row(name: str, plan, stack: EngineStack) -> dict[str, Any]:
    return {
        "stack": name,
        "services": len(plan.deliveries()),
        "resources": len(plan.resources),
        "resourcesPerService": round(len(plan.resources) / max(1, len(plan.deliveries())), 2),
        "mockPlanSeconds": mock_plan_seconds(plan.config, stack.name),
    }


def engine_measurements(
    harness: Harness, dev_up: dict[str, Any], checkpointed_fleet: bool, split_parallel: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    dev = harness.stack("measure-cold")
    rows = [{**_row("dev", harness.planned(dev.name, harness.committed_config("dev")), dev), "upFromNothing": dev_up,
             "previewUnchanged": engine_run(dev, "preview")}]
    stack, plan = _deployed(harness, "fleet-100", fleet("hundred", 100, 10))
    row = _row("fleet-100", plan, stack)
    # Without checkpoints first, then destroyed and from nothing again with them: the state the
    # file backend rewrites after every step is what the difference costs.
    row["upFromNothingSkippingCheckpoints"] = engine_run(stack, "up", plan.config, env=SKIP_CHECKPOINTS)
    row["destroySkippingCheckpoints"] = engine_run(stack, "destroy", env=SKIP_CHECKPOINTS)
    harness.remove_what_destroy_keeps()
    row["upFromNothing"] = engine_run(stack, "up", plan.config)
    row["previewUnchanged"] = engine_run(stack, "preview")
    rows.append(row)
    stack, plan = _deployed(harness, "fleet-1000", fleet("thousand", BIG, BIG_NAMESPACES))
    row = _row("fleet-1000", plan, stack)
    if checkpointed_fleet:
        row["upFromNothing"] = engine_run(stack, "up", plan.config)
    else:
        row["upFromNothingSkippingCheckpoints"] = engine_run(stack, "up", plan.config, env=SKIP_CHECKPOINTS)
    row["previewUnchanged"] = engine_run(stack, "preview")
    row.update(one_service_added(harness, stack, plan, "thousand"))
    bulk = bulk_force_sync(harness)
    rows.append(row)
    # A destroy of the 1,000 takes minutes (the provider awaits each deletion); the split fleet
    # needs only the cluster without their operator and ExternalSecrets.
    harness.abandon(stack, {f"thousand-ns-{index:03d}" for index in range(BIG_NAMESPACES)})
    split = split_fleet(harness, SPLIT_TENANTS, split_parallel)
    for found in rows:
        up = found.get("upFromNothing") or found["upFromNothingSkippingCheckpoints"]
        print(f"  engine {found['stack']}: up {up['seconds']} s, preview {found['previewUnchanged']['seconds']} s", file=sys.stderr, flush=True)
    return rows + [split], bulk


def _parse_time(text: Optional[str]) -> float:
    if not text:
        return 0.0
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _external_secrets(harness: Harness, environment: str) -> list[dict[str, Any]]:
    return harness.admin.list(ESO_API, "ExternalSecret", selector=f"eso-platform/environment={environment}")


def _force_sync_all(harness: Harness, found: list[dict[str, Any]], value: str) -> float:
    started = time.monotonic()
    patch = {"metadata": {"annotations": {FORCE_SYNC: value}}}

    def annotate(es):
        harness.admin.merge_patch(ESO_API, "ExternalSecret", es["metadata"]["name"], patch, es["metadata"]["namespace"])

    with ThreadPoolExecutor(APPLY_THREADS) as pool:
        list(pool.map(annotate, found))
    return time.monotonic() - started


def cold_start_dev(harness: Harness) -> tuple[dict[str, float], dict[str, Any], Any]:
    """The dev stack from nothing to every ExternalSecret Ready; also the engine's `up` of it."""
    stack, plan = _deployed(harness, "cold", harness.committed_config("dev"))
    started = time.monotonic()
    up = engine_run(stack, "up", plan.config)
    harness.wait_for_controller()
    harness.wait_ready([(d.namespace, d.name) for d in plan.deliveries()], timeout=600)
    measured = {
        "externalSecrets": len(plan.deliveries()),
        "upSeconds": up["seconds"],
        "upToAllReadySeconds": round(time.monotonic() - started, 1),
    }
    return measured, up, plan


def single_force_sync(harness: Harness, plan, runs: int) -> dict[str, float]:
    delivery = plan.deliveries()[0]
    latencies = []
    for run in range(runs):
        value = secret_value(delivery)
        put_secret(harness.moto_url, delivery.region, delivery.secret_path, value)
        started = time.monotonic()
        harness.admin.merge_patch(ESO_API, "ExternalSecret", delivery.name, {"metadata": {"annotations": {FORCE_SYNC: f"measure-{run}"}}}, delivery.namespace)
        harness.wait_for_data(delivery.namespace, delivery.secret_name, value, timeout=60)
        latencies.append(time.monotonic() - started)
    ordered = sorted(latencies)
    return {
        "runs": runs,
        "p50Seconds": statistics.median(ordered),
        "p95Seconds": ordered[max(0, round(0.95 * len(ordered)) - 1)],
        "maxSeconds": ordered[-1],
    }


def bulk_force_sync(harness: Harness) -> dict[str, Any]:
    """A force-sync of every ExternalSecret of the deployed fleet, at the program's sizing."""
    harness.wait_for_controller()
    found = _external_secrets(harness, "thousand")
    wait_until(lambda: all((condition(es) or {}).get("status") == "True" for es in _external_secrets(harness, "thousand")), 600, "controller caught up", interval=2)
    counts_before = harness.front.log.counts()
    cpu_before = _cpu(harness)
    since = time.time()
    applied = _force_sync_all(harness, found, "bulk")
    last: dict[str, float] = {}

    def all_refreshed() -> bool:
        times = [_parse_time(es.get("status", {}).get("refreshTime")) for es in _external_secrets(harness, "thousand")]
        if len(times) < len(found) or min(times) < int(since):
            return False
        last["at"] = max(times)
        return True

    wait_until(all_refreshed, 900, f"{len(found)} ExternalSecrets refreshed", interval=1)
    counts = harness.front.log.counts() - counts_before
    measured = {
        "what": "force-sync all, program-sized",
        "concurrent": _concurrent(harness),
        "clientArgs": " ".join(a for a in harness.controller.args if a.startswith("--client-")),
        "externalSecrets": len(found),
        "annotateSeconds": round(applied, 1),
        "toLastRefreshedSeconds": round(last["at"] - since, 1),
        "stsCalls": counts[("sts", "allowed")] + counts[("sts", "denied")],
        "secretsManagerCalls": counts[("secretsmanager", "allowed")] + counts[("secretsmanager", "denied")],
        "cpuSeconds": {name: round(used - cpu_before[name], 1) for name, used in _cpu(harness).items()},
    }
    print(f"  {measured['what']}: {measured['toLastRefreshedSeconds']} s", file=sys.stderr, flush=True)
    return measured


def _cpu(harness: Harness) -> dict[str, float]:
    """CPU seconds used so far by each process of the run; the harness's own process holds the
    IAM front (and the polling), so it stands for the front."""
    processes = {
        "controller": harness.controller.process,
        "kube-apiserver": harness.plane.apiserver,
        "etcd": harness.plane.etcd,
        "moto": harness.moto,
    }
    used = {name: cpu_seconds(process.pid) for name, process in processes.items()}
    used["front and harness"] = sum(os.times()[:2])
    return used


def _concurrent(harness: Harness) -> int:
    for arg in harness.controller.args:
        if arg.startswith("--concurrent="):
            return int(arg.split("=", 1)[1])
    return 1


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.measure", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("e2e-measurements.json"))
    parser.add_argument("--runs", type=int, default=20, help="force-syncs of one ExternalSecret")
    parser.add_argument(
        "--checkpointed-fleet", action="store_true",
        help="deploy the 1,000-service stack from nothing with checkpoints, as a first `pulumi up` does "
        "(about 12 minutes here, the square of the stack); by default it deploys with "
        "PULUMI_SKIP_CHECKPOINTS=true (about a minute), which keeps `make e2e` within CI's budget, "
        "and the 100-service stack shows what checkpoints cost",
    )
    parser.add_argument(
        "--tenants-parallel", type=int, default=SPLIT_TENANTS,
        help="tenant stacks of the split fleet deployed at a time (default: all of them, as deploy.yml's "
        "tenant jobs run; 2 at a time took 133 s here against 109 s for all 10)",
    )
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="eso-platform-measure-"))
    harness = Harness.start(directory / "world")
    try:
        result: dict[str, Any] = {"machine": {"cores": os.cpu_count()}}
        result["coldStartDev"], dev_up, plan = cold_start_dev(harness)
        result["singleForceSync"] = single_force_sync(harness, plan, args.runs)
        result["engine"], result["bulkForceSync"] = engine_measurements(harness, dev_up, args.checkpointed_fleet, args.tenants_parallel)
        result["controllerPeakRssMiB"] = (harness.controller.peak_rss_kib() or 0) / 1024
        counts = harness.front.log.counts()
        result["awsCallsTotal"] = {f"{call} {outcome}": n for (call, outcome), n in sorted(counts.items())}
    finally:
        harness.stop()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(_table(result))
    print(f"wrote {args.out}")
    return 0


def _engine_row(name: str, run: dict[str, Any]) -> str:
    cpu = ", ".join(f"{k} {v:.0f}" for k, v in run["cpuSeconds"].items() if v >= 0.5)
    return f"    {name:<44} {run['seconds']:>8.1f} s  peak {run['peakRssMiB']:>5} MiB  CPU s: {cpu}"


def _table(result: dict[str, Any]) -> str:
    cold, single = result["coldStartDev"], result["singleForceSync"]
    lines = [
        "eso-platform end-to-end measurements (real engine, kube-apiserver and ESO controller; moto behind the IAM front)",
        f"  dev from nothing ({cold['externalSecrets']} ExternalSecrets): pulumi up {cold['upSeconds']:.1f} s, to all Ready {cold['upToAllReadySeconds']:.1f} s",
        f"  force-sync of one ExternalSecret over {single['runs']} runs: p50 {single['p50Seconds']:.2f} s, "
        f"p95 {single['p95Seconds']:.2f} s, max {single['maxSeconds']:.2f} s",
        "  the engine:",
    ]
    for row in result["engine"]:
        if "fleetFromNothingSeconds" in row:
            lines.append(f"  {row['stack']}: {row['services']} services, {row['resources']} resources, "
                         f"from nothing (checkpointed) in {row['fleetFromNothingSeconds']:.1f} s")
        else:
            lines.append(
                f"  {row['stack']}: {row['services']} services, {row['resources']} resources ({row['resourcesPerService']} a service), "
                f"mock-engine plan {row['mockPlanSeconds']:.1f} s"
            )
        for key, label in (
            ("platformUp", "the platform stack: up from nothing"), ("tenantsUp", "the tenant stacks: up from nothing, in parallel"),
            ("tenantPreviewUnchanged", "one tenant: preview, nothing changed"), 
            ("upFromNothing", "up from nothing"), ("previewUnchanged", "preview, nothing changed"),
            ("oneServicePreview", "preview of one service added"), ("oneServiceUp", "up of one service added"),
            ("destroySkippingCheckpoints", "destroy, PULUMI_SKIP_CHECKPOINTS=true"),
            ("upFromNothingSkippingCheckpoints", "up from nothing, PULUMI_SKIP_CHECKPOINTS=true"),
        ):
            if key in row:
                lines.append(_engine_row(label, row[key]))
    lines.append(f"  {'force-sync of all':<34} {'concurrent':>10} {'ES':>6} {'seconds':>10} {'STS':>8} {'SM':>8}")
    run = result["bulkForceSync"]
    lines.append(
        f"  {run['what']:<34} {run['concurrent']:>10} {run['externalSecrets']:>6} {run['toLastRefreshedSeconds']:>10.1f} "
        f"{run['stsCalls']:>8} {run['secretsManagerCalls']:>8}"
    )
    lines.append("    CPU seconds: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in run["cpuSeconds"].items()))
    lines.append(f"  controller peak RSS: {result['controllerPeakRssMiB']:.0f} MiB")
    lines.append("  AWS calls at the front, whole run: " + ", ".join(f"{k}: {v}" for k, v in result["awsCallsTotal"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
