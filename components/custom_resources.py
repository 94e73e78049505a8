"""Kubernetes objects of kinds the SDK has no types for, registered from their manifests."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def custom_resource(name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )
