"""Resource identities the real engine would refuse, named by the stack config entries behind them."""

from typing import Any

from tools.plan.engine import Registration

SERVICE_LABEL = "eso-platform/service"


def _entry(resource: Registration, services: list[Any]) -> str:
    metadata = resource.inputs.get("metadata") if isinstance(resource.inputs.get("metadata"), dict) else {}
    service, namespace = (metadata.get("labels") or {}).get(SERVICE_LABEL), metadata.get("namespace")
    for index, entry in enumerate(services):
        if isinstance(entry, dict) and (entry.get("name"), entry.get("namespace")) == (service, namespace):
            return f"services[{index}] (name {service}, namespace {namespace})"
    kind = resource.type.rsplit(":", 1)[-1]
    where = f" {namespace}/{metadata.get('name')}" if namespace else ""
    return f"{kind}{where} (resource {resource.name!r})"


def clash_problems(clashes: dict[str, list[Registration]], services: list[Any]) -> list[str]:
    """One line per URN claimed twice, naming the entries that claim it."""
    return [
        f"{urn} is claimed by {' and '.join(sorted(_entry(resource, services) for resource in claimants))}"
        for urn, claimants in clashes.items()
    ]
