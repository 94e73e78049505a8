"""What a stack's secrets delivery costs per month in AWS Secrets Manager."""

from dataclasses import dataclass

from stacks.durations import parse_go_duration

HOURS_PER_MONTH = 730  # AWS's own billing convention
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
USD_PER_10K_CALLS = 0.05
USD_PER_SECRET_MONTH = 0.40
ASSUMPTIONS = (
    f"a month is {HOURS_PER_MONTH} hours",
    "each ExternalSecret makes one GetSecretValue call per refresh interval",
    f"API calls cost USD {USD_PER_10K_CALLS:.2f} per 10,000",
    f"each secret costs USD {USD_PER_SECRET_MONTH:.2f} per month, counted once per region and path",
    "the first sync at creation, force-syncs and the free trial are not counted",
)


@dataclass(frozen=True)
class Delivery:
    """One ExternalSecret as the estimate sees it."""

    namespace: str
    refresh_interval: str
    region: str
    secret_paths: tuple[str, ...]


def calls_per_month(refresh_interval: str) -> float:
    return SECONDS_PER_MONTH / parse_go_duration(refresh_interval)


def _usd(amount: float) -> float:
    return round(amount + 1e-9, 4)


def estimate(deliveries: list[Delivery]) -> dict:
    """Per namespace and in total: secrets stored, API calls per month and their price."""
    by_namespace: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        by_namespace.setdefault(delivery.namespace, []).append(delivery)

    def summary(items: list[Delivery]) -> dict:
        calls = sum(calls_per_month(d.refresh_interval) for d in items)
        secrets = len({(d.region, path) for d in items for path in d.secret_paths})
        api_usd = calls / 10_000 * USD_PER_10K_CALLS
        storage_usd = secrets * USD_PER_SECRET_MONTH
        return {
            "externalSecrets": len(items),
            "secrets": secrets,
            "callsPerMonth": round(calls, 1),
            "apiUsd": _usd(api_usd),
            "storageUsd": _usd(storage_usd),
            "totalUsd": _usd(api_usd + storage_usd),
        }

    return {
        "namespaces": {namespace: summary(items) for namespace, items in sorted(by_namespace.items())},
        "total": summary(deliveries),
        "assumptions": list(ASSUMPTIONS),
    }
