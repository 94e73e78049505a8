"""Namespaces the platform uses but never owns outright."""

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.labels import project_labels


def adopted_namespace(
    resource_name: str,
    namespace: str,
    labels: dict[str, str],
    parent: pulumi.Resource,
    adopting_provider: Optional[pulumi.ProviderResource],
) -> k8s.core.v1.Namespace:
    """The namespace, created if absent and adopted if present (through `adopting_provider`).

    It holds workloads the platform does not manage, so removing it from the stack only
    forgets it: it is never deleted, and it carries only the project's own label keys.
    """
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace, labels=project_labels(labels)),
        opts=pulumi.ResourceOptions(parent=parent, provider=adopting_provider, retain_on_delete=True),
    )
