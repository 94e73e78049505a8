"""Access to the EKS cluster in one of three forms: looked up, from another stack, or created."""

import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class NewCluster:
    version: str
    instance_type: str
    desired_capacity: int


@dataclass(frozen=True)
class ClusterAccessArgs:
    region: str
    # Exactly one of these three.
    existing_cluster_name: Optional[str] = None
    stack_reference: Optional[str] = None
    new_cluster: Optional[NewCluster] = None


def exec_kubeconfig(cluster_name: str, region: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token`: it holds no credential."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def _as_text(kubeconfig: Any) -> str:
    return kubeconfig if isinstance(kubeconfig, str) else json.dumps(kubeconfig, sort_keys=True)


class ClusterAccess(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    provider: k8s.Provider
    # Creating a namespace that already exists adopts it instead of failing. Only
    # namespaces use it, always with retain_on_delete, so adopting never leads to deleting.
    namespace_provider: k8s.Provider

    def __init__(self, name: str, args: ClusterAccessArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:cluster:ClusterAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.existing_cluster_name is not None:
            cluster = aws.eks.get_cluster_output(name=args.existing_cluster_name, opts=pulumi.InvokeOutputOptions(parent=self))
            issuer = cluster.identities.apply(lambda ids: ids[0]["oidcs"][0]["issuer"])
            provider = aws.iam.get_open_id_connect_provider_output(url=issuer, opts=pulumi.InvokeOutputOptions(parent=self))
            self.oidc_provider_arn = provider.arn
            self.kubeconfig = pulumi.Output.all(cluster.endpoint, cluster.certificate_authorities).apply(
                lambda parts: exec_kubeconfig(args.existing_cluster_name, args.region, parts[0], parts[1][0]["data"])
            )
        elif args.stack_reference is not None:
            reference = pulumi.StackReference(f"{name}-stack", stack_name=args.stack_reference, opts=child)
            self.oidc_provider_arn = reference.require_output("oidcProviderArn")
            self.kubeconfig = pulumi.Output.secret(reference.require_output("kubeconfig").apply(_as_text))
        else:
            new = args.new_cluster
            cluster = eks.Cluster(
                f"{name}-eks",
                version=new.version,
                instance_type=new.instance_type,
                desired_capacity=new.desired_capacity,
                min_size=1,
                max_size=max(new.desired_capacity, 2),
                create_oidc_provider=True,
                opts=child,
            )
            self.oidc_provider_arn = cluster.oidc_provider_arn
            self.kubeconfig = cluster.kubeconfig_json
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=child)
        self.namespace_provider = k8s.Provider(
            f"{name}-k8s-namespaces", kubeconfig=self.kubeconfig, upsert_existing_objects=True, opts=child
        )
        self.register_outputs({"oidcProviderArn": self.oidc_provider_arn})
