"""`python -m e2e.measure`: numbers from the real controller, printed as a table and written as JSON.

These are measurements, not assertions: cold start to all Ready, force-sync latency of one
ExternalSecret, force-sync of a 1,000-service stack at several `--concurrent` values, and the
controller's peak RSS and AWS call counts (counted at the front).
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from e2e.harness import Harness, condition
from e2e.processes import cpu_seconds, wait_until
from e2e.world import FORCE_SYNC, Plan, put_secret, run_plan, secret_value, write_stack

SERVICES, NAMESPACES = 1000, 100
APPLY_THREADS = 16


def _stack(harness: Harness, directory: Path, name: str, force_sync: str) -> Plan:
    config = {
        "aws:region": "us-east-1",
        "environment": name,
        "cluster": {"name": "e2e"},
        "forceSync": force_sync,
        "services": [
            {"name": f"svc-{index:04d}", "namespace": f"{name}-ns-{index % NAMESPACES:03d}", "class": "stable"}
            for index in range(SERVICES)
        ],
    }
    return Plan(run_plan(write_stack(directory, name, config), harness.issuer))


def _parse_time(text: Optional[str]) -> float:
    if not text:
        return 0.0
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _refreshed_after(harness: Harness, since: float, count: int) -> Optional[float]:
    """The latest refresh time if every one of `count` ExternalSecrets refreshed after `since`."""
    found = harness.admin.list("external-secrets.io/v1", "ExternalSecret", selector="eso-platform/environment=big")
    times = [_parse_time(es.get("status", {}).get("refreshTime")) for es in found]
    if len(times) < count or min(times) < int(since):
        return None
    return max(times)


def _apply_all(harness: Harness, plan: Plan, kind: str) -> float:
    started = time.monotonic()
    objects = [o for o in plan.kubernetes_objects() if o["kind"] == kind]
    with ThreadPoolExecutor(APPLY_THREADS) as pool:
        list(pool.map(harness.admin.apply, objects))
    return time.monotonic() - started


def cold_start(harness: Harness, plan: Plan) -> dict[str, float]:
    started = time.monotonic()
    harness.deploy(plan)
    applied = time.monotonic() - started
    ready = harness.wait_ready([(d.namespace, d.name) for d in plan.deliveries()], timeout=600)
    return {"externalSecrets": len(plan.deliveries()), "applySeconds": applied, "applyToAllReadySeconds": applied + ready}


def single_force_sync(harness: Harness, plan: Plan, runs: int) -> dict[str, float]:
    delivery = plan.deliveries()[0]
    manifest = next(o for o in plan.kubernetes_objects() if o["kind"] == "ExternalSecret" and o["metadata"]["name"] == delivery.name)
    latencies = []
    for run in range(runs):
        value = secret_value(delivery)
        put_secret(harness.moto_url, delivery.region, delivery.secret_path, value)
        manifest["metadata"].setdefault("annotations", {})[FORCE_SYNC] = f"measure-{run}"
        started = time.monotonic()
        harness.admin.apply(manifest)
        harness.wait_for_data(delivery.namespace, delivery.secret_name, value, timeout=60)
        latencies.append(time.monotonic() - started)
    ordered = sorted(latencies)
    return {
        "runs": runs,
        "p50Seconds": statistics.median(ordered),
        "p95Seconds": ordered[max(0, round(0.95 * len(ordered)) - 1)],
        "maxSeconds": ordered[-1],
    }


def bulk_force_sync(harness: Harness, directory: Path, extra_concurrency: list[int]) -> list[dict[str, Any]]:
    results = []
    plan = _stack(harness, directory, "big", "0")
    cold = cold_start(harness, plan)
    results.append({"what": "cold start", "concurrent": _concurrent(harness), **cold})
    settings = [("chart default", {"concurrent": 1, "extraArgs": {}}), ("program-sized", {})]
    settings += [(f"concurrent {n}", {"concurrent": n}) for n in extra_concurrency]
    for index, (label, overrides) in enumerate(settings, start=1):
        harness.ensure_operator(plan, overrides)
        wait_until(lambda: _idle(harness), 300, "controller caught up after restart", interval=1)
        bumped = _stack(harness, directory, "big", str(index))
        counts_before = harness.front.log.counts()
        cpu_before = _cpu(harness)
        since = time.time()
        applied = _apply_all(harness, bumped, "ExternalSecret")
        last: dict[str, float] = {}

        def all_refreshed() -> bool:
            latest = _refreshed_after(harness, since, SERVICES)
            if latest is not None:
                last["at"] = latest
            return latest is not None

        wait_until(all_refreshed, 900, f"{SERVICES} ExternalSecrets refreshed ({label})", interval=1)
        counts = harness.front.log.counts() - counts_before
        cpu = {name: round(used - cpu_before[name], 1) for name, used in _cpu(harness).items()}
        results.append({
            "what": f"force-sync all, {label}",
            "concurrent": _concurrent(harness),
            "clientArgs": " ".join(a for a in harness.controller.args if a.startswith("--client-")),
            "externalSecrets": SERVICES,
            "applySeconds": applied,
            "toLastRefreshedSeconds": last["at"] - since,
            "stsCalls": counts[("sts", "allowed")] + counts[("sts", "denied")],
            "secretsManagerCalls": counts[("secretsmanager", "allowed")] + counts[("secretsmanager", "denied")],
            "cpuSeconds": cpu,
        })
        print(_row(results[-1]), file=sys.stderr, flush=True)
    return results


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


def _idle(harness: Harness) -> bool:
    """Every ExternalSecret Ready: a restarted controller has been through them all."""
    found = harness.admin.list("external-secrets.io/v1", "ExternalSecret", selector="eso-platform/environment=big")
    return all((condition(es) or {}).get("status") == "True" for es in found)


def _row(result: dict[str, Any]) -> str:
    seconds = result.get("toLastRefreshedSeconds", result.get("applyToAllReadySeconds"))
    return (
        f"  {result['what']:<34} {result['concurrent']:>10} {result['externalSecrets']:>6} "
        f"{seconds:>10.1f} {result.get('stsCalls', '-'):>8} {result.get('secretsManagerCalls', '-'):>8}"
    )


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.measure", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("e2e-measurements.json"))
    parser.add_argument("--runs", type=int, default=20, help="force-syncs of one ExternalSecret")
    parser.add_argument("--concurrent", type=int, nargs="*", default=[16], help="further --concurrent values to try")
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="eso-platform-measure-"))
    harness = Harness.start(directory / "world")
    try:
        dev = Plan(run_plan("dev", harness.issuer))
        result: dict[str, Any] = {"machine": {"cores": os.cpu_count()}}
        result["coldStartDev"] = cold_start(harness, dev)
        result["singleForceSync"] = single_force_sync(harness, dev, args.runs)
        result["bulkForceSync"] = bulk_force_sync(harness, directory, args.concurrent)
        result["controllerPeakRssMiB"] = (harness.controller.peak_rss_kib() or 0) / 1024
        counts = harness.front.log.counts()
        result["awsCallsTotal"] = {f"{call} {outcome}": n for (call, outcome), n in sorted(counts.items())}
    finally:
        harness.stop()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(_table(result))
    print(f"wrote {args.out}")
    return 0


def _table(result: dict[str, Any]) -> str:
    cold, single = result["coldStartDev"], result["singleForceSync"]
    lines = [
        "eso-platform end-to-end measurements (real kube-apiserver and ESO controller; moto behind the IAM front)",
        f"  cold start, dev ({cold['externalSecrets']} ExternalSecrets): apply to all Ready {cold['applyToAllReadySeconds']:.1f} s",
        f"  force-sync of one ExternalSecret over {single['runs']} runs: p50 {single['p50Seconds']:.2f} s, "
        f"p95 {single['p95Seconds']:.2f} s, max {single['maxSeconds']:.2f} s",
        f"  {'scenario':<34} {'concurrent':>10} {'ES':>6} {'seconds':>10} {'STS':>8} {'SM':>8}",
    ]
    lines += [_row(r) for r in result["bulkForceSync"]]
    lines.append("  CPU seconds per force-sync of all (where the time goes; 2 cores = 2 CPU seconds per second):")
    for run in result["bulkForceSync"][1:]:
        spent = ", ".join(f"{name} {seconds:.0f}" for name, seconds in run["cpuSeconds"].items())
        lines.append(f"    {run['what']}: {spent}")
    lines.append(f"  controller peak RSS: {result['controllerPeakRssMiB']:.0f} MiB")
    lines.append("  AWS calls at the front, whole run: " + ", ".join(f"{k}: {v}" for k, v in result["awsCallsTotal"].items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
