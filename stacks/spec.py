"""The resolved stack: what the program builds, every default applied and every name rendered."""

from dataclasses import dataclass
from typing import Optional

from stacks.model import AdmissionConfig, ClusterConfig, EsoConfig, IrsaConfig


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    sensitivity_class: str
    secret_path: str
    secret_name: str
    refresh_interval: str
    region: str
    keys: Optional[tuple[str, ...]]


@dataclass(frozen=True)
class Stack:
    """A validated stack: what the program builds, with every default applied."""

    environment: str
    region: str
    cluster: ClusterConfig
    eso: EsoConfig
    irsa: IrsaConfig
    admission: AdmissionConfig
    force_sync: str
    services: tuple[Service, ...]

    def namespaces(self) -> dict[str, list[Service]]:
        grouped: dict[str, list[Service]] = {}
        for service in sorted(self.services, key=lambda s: (s.namespace, s.name)):
            grouped.setdefault(service.namespace, []).append(service)
        return grouped
