"""The Secret guard: ESO may only update Secrets an ExternalSecret wrote, or that a service adopts."""

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.secret_guard_manifests import secret_guard_binding, secret_guard_policy


@dataclass(frozen=True)
class SecretGuardArgs:
    # Cluster-wide object names: one guard per stack.
    policy_name: str
    controller_username: str
    namespaces: list[str]
    # `<namespace>/<secret>` of the services with adopt: true.
    adoptable: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


class SecretGuard(pulumi.ComponentResource):
    # What ExternalSecrets wait for: before it exists nothing stops an adoption.
    binding: k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding

    def __init__(self, name: str, args: SecretGuardArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:secret_guard:SecretGuard", name, None, opts)
        manifest = secret_guard_policy(args.policy_name, args.controller_username, args.adoptable, args.labels)
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-policy",
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        binding = secret_guard_binding(args.policy_name, policy.metadata.name, args.namespaces, args.labels)
        self.binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-binding",
            metadata=binding["metadata"],
            spec=binding["spec"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"policyName": policy.metadata.name})
