"""The resolved stack: what the program builds, every default applied and every name rendered."""

from dataclasses import dataclass
from typing import Optional

from components.kubeconfig import DeployingIdentity
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
    # The ExternalSecret's name: renamedFrom, or the service's name.
    external_secret_name: str
    on_remove: str
    adopt: bool
    # Pulumi's protect on the ExternalSecret: the engine refuses to delete it.
    protect: bool = False


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
    # Who the AWS provider runs as: the kubeconfig reaches the cluster as the same identity.
    deploying_identity: DeployingIdentity = DeployingIdentity()
    # The secret paths any service of the stack may have: the template with `*` for namespace and service.
    secret_path_pattern: str = "*"
    # "irsa" or "podIdentity": see StackConfig.identity.
    identity: str = "irsa"
    # A tenant stack's platform stack, as its config names it; None for a stack of its own.
    platform: Optional[str] = None

    @property
    def pod_identity(self) -> bool:
        return self.identity == "podIdentity"

    def namespaces(self) -> dict[str, list[Service]]:
        grouped: dict[str, list[Service]] = {}
        for service in sorted(self.services, key=lambda s: (s.namespace, s.name)):
            grouped.setdefault(service.namespace, []).append(service)
        return grouped
