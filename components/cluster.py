"""Access to the EKS cluster in one of three forms: looked up, from another stack, or created."""

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.kubeconfig import DeployingIdentity, eks_cluster_arn, exec_kubeconfig, with_deploying_identity


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
    identity: DeployingIdentity = DeployingIdentity()


class ClusterAccess(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    # What the Kubernetes providers are pinned to: they are replaced only when it changes.
    cluster_arn: pulumi.Output[str]
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
            kubeconfig = pulumi.Output.all(cluster.endpoint, cluster.certificate_authorities).apply(
                lambda parts: exec_kubeconfig(
                    args.existing_cluster_name, args.region, parts[0], parts[1][0]["data"], args.identity
                )
            )
            cluster_arn = cluster.arn
        elif args.stack_reference is not None:
            reference = pulumi.StackReference(f"{name}-stack", stack_name=args.stack_reference, opts=child)
            self.oidc_provider_arn = reference.require_output("oidcProviderArn")
            kubeconfig = reference.require_output("kubeconfig").apply(
                lambda found: with_deploying_identity(found, args.identity, args.region)
            )
            cluster_arn = pulumi.Output.all(kubeconfig, self.oidc_provider_arn).apply(lambda parts: eks_cluster_arn(*parts))
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
                # pulumi-eks reaches the new cluster through this kubeconfig itself.
                provider_credential_opts=eks.KubeconfigOptionsArgs(
                    profile_name=args.identity.profile, role_arn=args.identity.role_arn
                )
                if args.identity.get_token_args()
                else None,
                opts=child,
            )
            self.oidc_provider_arn = cluster.oidc_provider_arn
            kubeconfig = cluster.kubeconfig_json.apply(lambda found: with_deploying_identity(found, args.identity, args.region))
            cluster_arn = pulumi.Output.all(kubeconfig, self.oidc_provider_arn).apply(lambda parts: eks_cluster_arn(*parts))
        # It names no credential, but it is the way into the cluster: kept out of plain outputs.
        self.kubeconfig = pulumi.Output.secret(kubeconfig)
        # pulumi-kubernetes otherwise replaces a provider, and every object it manages, when the
        # kubeconfig's active cluster entry changes (a new endpoint name, another tool's
        # kubeconfig) or is unknown at preview; with an identifier it replaces only when that changes.
        self.cluster_arn = cluster_arn
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, cluster_identifier=cluster_arn, opts=child)
        self.namespace_provider = k8s.Provider(
            f"{name}-k8s-namespaces", kubeconfig=self.kubeconfig, cluster_identifier=cluster_arn,
            upsert_existing_objects=True, opts=child,
        )
        self.register_outputs({"oidcProviderArn": self.oidc_provider_arn})
