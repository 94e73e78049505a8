"""Namespaces the platform uses but never owns outright."""

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.labels import project_labels


def adopted_namespace(
    resource_name: str,
    namespace: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    parent: pulumi.Resource,
    adopting_provider: Optional[pulumi.ProviderResource],
    labelled_by_namespace: bool = False,
) -> pulumi.Output[str]:
    """The namespace, created if absent and adopted if present (through `adopting_provider`),
    and the project's labels and annotations on it. Returns its name once they are applied.

    It holds workloads the platform does not manage, so removing it from the stack only
    forgets it: it is never deleted. The labels are a Patch of their own, which gives back
    exactly its fields when it leaves the stack: a destroyed stack leaves no claim, and a field
    another manager also set stays. It never forces: a label another manager set to another
    value stops the update, naming the field and that manager.

    `labelled_by_namespace`: the last deployment set the labels on the Namespace resource itself
    (releases before the Patch). The Patch then applies first, so that the labels are never
    missing while the Namespace resource gives them up.
    """
    def labelled(name: pulumi.Input[str]) -> k8s.core.v1.NamespacePatch:
        return k8s.core.v1.NamespacePatch(
            f"{resource_name}-labels",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(name=name, labels=project_labels(labels), annotations=annotations),
            opts=pulumi.ResourceOptions(parent=parent),
        )

    if labelled_by_namespace:
        patch = labelled(namespace)
        k8s.core.v1.Namespace(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace),
            opts=pulumi.ResourceOptions(
                parent=parent, provider=adopting_provider, retain_on_delete=True, depends_on=[patch]
            ),
        )
        return patch.metadata.name
    created = k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace),
        opts=pulumi.ResourceOptions(parent=parent, provider=adopting_provider, retain_on_delete=True),
    )
    return labelled(created.metadata.name).metadata.name
