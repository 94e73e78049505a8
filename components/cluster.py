"""Access to the EKS cluster in one of three forms: looked up, from another stack, or created."""

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.iam_documents import AwsAccount, AwsIdentity, partition_of_region
from components.kubeconfig import DeployingIdentity, eks_cluster_arn, exec_kubeconfig, with_deploying_identity

# The EKS add-on that serves Pod Identity credentials on every node (EKS User Guide, "Set up the
# Amazon EKS Pod Identity Agent").
POD_IDENTITY_AGENT = "eks-pod-identity-agent"


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
    # ESO gets EKS Pod Identity credentials: no IAM OIDC provider is looked up or created, and a
    # new cluster gets the Pod Identity Agent.
    pod_identity: bool = False


class ClusterAccess(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]
    # None under Pod Identity.
    oidc_provider_arn: Optional[pulumi.Output[str]]
    # What the Kubernetes providers are pinned to: they are replaced only when it changes.
    cluster_arn: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    # What ESO's controller waits for before it starts: the Pod Identity Agent of a new cluster.
    ready: list[pulumi.Resource]
    provider: k8s.Provider
    # Creating a namespace that already exists adopts it instead of failing. Only
    # namespaces use it, always with retain_on_delete, so adopting never leads to deleting.
    namespace_provider: k8s.Provider

    def __init__(self, name: str, args: ClusterAccessArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:cluster:ClusterAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.oidc_provider_arn = None
        self.ready = []
        if args.existing_cluster_name is not None:
            cluster = aws.eks.get_cluster_output(name=args.existing_cluster_name, opts=pulumi.InvokeOutputOptions(parent=self))
            if not args.pod_identity:
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
            kubeconfig = reference.require_output("kubeconfig").apply(
                lambda found: with_deploying_identity(found, args.identity, args.region)
            )
            if not args.pod_identity:
                self.oidc_provider_arn = reference.require_output("oidcProviderArn")
            cluster_arn = self._arn_of(kubeconfig, args)
        else:
            new = args.new_cluster
            cluster = eks.Cluster(
                f"{name}-eks",
                version=new.version,
                instance_type=new.instance_type,
                desired_capacity=new.desired_capacity,
                min_size=1,
                max_size=max(new.desired_capacity, 2),
                create_oidc_provider=not args.pod_identity,
                # pulumi-eks reaches the new cluster through this kubeconfig itself.
                provider_credential_opts=eks.KubeconfigOptionsArgs(
                    profile_name=args.identity.profile, role_arn=args.identity.role_arn
                )
                if args.identity.get_token_args()
                else None,
                opts=child,
            )
            kubeconfig = cluster.kubeconfig_json.apply(lambda found: with_deploying_identity(found, args.identity, args.region))
            if not args.pod_identity:
                self.oidc_provider_arn = cluster.oidc_provider_arn
            cluster_arn = self._arn_of(kubeconfig, args)
        # It names no credential, but it is the way into the cluster: kept out of plain outputs.
        self.kubeconfig = pulumi.Output.secret(kubeconfig)
        # pulumi-kubernetes otherwise replaces a provider, and every object it manages, when the
        # kubeconfig's active cluster entry changes (a new endpoint name, another tool's
        # kubeconfig) or is unknown at preview; with an identifier it replaces only when that changes.
        self.cluster_arn = cluster_arn
        self.cluster_name = cluster_arn.apply(lambda arn: arn.split(":cluster/", 1)[1])
        if args.new_cluster is not None and args.pod_identity:
            self.ready.append(
                aws.eks.Addon(f"{name}-pod-identity-agent", cluster_name=self.cluster_name, addon_name=POD_IDENTITY_AGENT, opts=child)
            )
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, cluster_identifier=cluster_arn, opts=child)
        self.namespace_provider = k8s.Provider(
            f"{name}-k8s-namespaces", kubeconfig=self.kubeconfig, cluster_identifier=cluster_arn,
            upsert_existing_objects=True, opts=child,
        )
        self.register_outputs({"oidcProviderArn": self.oidc_provider_arn, "clusterArn": self.cluster_arn})

    def _arn_of(self, kubeconfig: pulumi.Output, args: ClusterAccessArgs) -> pulumi.Output[str]:
        """The cluster's ARN, read off `kubeconfig`, in the account of its IAM OIDC provider or,
        under Pod Identity (no provider), of the deploying identity, where the roles go too."""
        if self.oidc_provider_arn is not None:
            account = self.oidc_provider_arn.apply(AwsIdentity.from_oidc_provider_arn)
        else:
            caller = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
            account = caller.account_id.apply(lambda found: AwsAccount(partition_of_region(args.region), found))
        return pulumi.Output.all(kubeconfig, account).apply(lambda parts: eks_cluster_arn(*parts))
