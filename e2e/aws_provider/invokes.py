"""The data sources the program invokes, with pulumi-aws 7.51.1's result shapes.

Result property names are those of `pulumi_aws.eks.GetClusterResult`,
`pulumi_aws.iam.GetOpenIdConnectProviderResult` and `pulumi_aws.GetCallerIdentityResult` (camelCase
on the wire); the lookups follow terraform-provider-aws internal/service/eks/cluster_data_source.go
(`dataSourceClusterRead`), internal/service/iam/openid_connect_provider_data_source.go
(`dataSourceOpenIDConnectProviderRead`, `findOpenIDConnectProviderByURL`) and
internal/service/sts/caller_identity_data_source.go (`callerIdentityDataSource.Read`).
"""

from typing import Any, Callable

from botocore.exceptions import ClientError

from e2e.aws_provider.model import ProviderError, ProviderSettings, rfc3339


class InvokeFailure(Exception):
    """A failure of the invoke's arguments (returned in InvokeResponse.failures, as the bridge
    returns data-source validation errors)."""

    def __init__(self, property: str, reason: str):
        super().__init__(reason)
        self.property, self.reason = property, reason


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _list(value: Any) -> list:
    return list(value or [])


def get_cluster(aws, settings: ProviderSettings, args: dict) -> dict:
    name = args.get("name")
    if not name:
        raise InvokeFailure("name", "Missing required argument: The argument \"name\" is required, but no definition was found.")
    region = args.get("region") or settings.region
    try:
        cluster = aws.client("eks").describe_cluster(name=name)["cluster"]
    except ClientError as error:
        if _code(error) == "ResourceNotFoundException":
            raise ProviderError(f"reading EKS Cluster ({name}): couldn't find resource") from error
        raise ProviderError(f"reading EKS Cluster ({name}): {error}") from error
    identity = cluster.get("identity") or {}
    oidc = identity.get("oidc")
    vpc = cluster.get("resourcesVpcConfig") or {}
    network = cluster.get("kubernetesNetworkConfig")
    access = cluster.get("accessConfig")
    logging = cluster.get("logging") or {}
    enabled_logs = sorted(
        log_type
        for setup in logging.get("clusterLogging") or []
        if setup.get("enabled")
        for log_type in setup.get("types") or []
    )
    return {
        "accessConfigs": [{
            "authenticationMode": access.get("authenticationMode", ""),
            "bootstrapClusterCreatorAdminPermissions": bool(access.get("bootstrapClusterCreatorAdminPermissions", False)),
        }] if access else [],
        "arn": cluster.get("arn", ""),
        "certificateAuthorities": [{"data": (cluster.get("certificateAuthority") or {}).get("data", "")}],
        # cluster_id is only set for clusters on Outposts (cluster_data_source.go).
        "clusterId": cluster.get("id", "") if cluster.get("outpostConfig") else "",
        "computeConfigs": [],
        "controlPlaneScalingConfigs": [],
        "createdAt": rfc3339(cluster.get("createdAt")) if cluster.get("createdAt") else "",
        "deletionProtection": bool(cluster.get("deletionProtection", False)),
        "enabledClusterLogTypes": enabled_logs,
        "endpoint": cluster.get("endpoint", ""),
        "id": cluster.get("name", name),
        "identities": [{"oidcs": [{"issuer": oidc.get("issuer", "")}] if oidc else []}] if identity else [],
        "kubeApiServerConfigs": [],
        "kubeControllerManagerConfigs": [],
        "kubeSchedulerConfigs": [],
        "kubernetesNetworkConfigs": [{
            "elasticLoadBalancings": [],
            "ipFamily": network.get("ipFamily", ""),
            "serviceIpv4Cidr": network.get("serviceIpv4Cidr", ""),
            "serviceIpv6Cidr": network.get("serviceIpv6Cidr", ""),
        }] if network else [],
        "name": cluster.get("name", name),
        "outpostConfigs": [],
        "platformVersion": cluster.get("platformVersion", ""),
        "region": region,
        "remoteNetworkConfigs": [],
        "roleArn": cluster.get("roleArn", ""),
        "status": cluster.get("status", ""),
        "storageConfigs": [],
        "tags": dict(cluster.get("tags") or {}),
        "upgradePolicies": [{"supportType": cluster["upgradePolicy"].get("supportType", "")}]
        if cluster.get("upgradePolicy") else [],
        "version": cluster.get("version", ""),
        # MaxItemsOne in pulumi-aws: one object, not a list.
        "vpcConfig": {
            "clusterSecurityGroupId": vpc.get("clusterSecurityGroupId", ""),
            "controlPlaneEgressMode": vpc.get("controlPlaneEgressMode", ""),
            "endpointPrivateAccess": bool(vpc.get("endpointPrivateAccess", False)),
            "endpointPublicAccess": bool(vpc.get("endpointPublicAccess", False)),
            "publicAccessCidrs": _list(vpc.get("publicAccessCidrs")),
            "securityGroupIds": _list(vpc.get("securityGroupIds")),
            "subnetIds": _list(vpc.get("subnetIds")),
            "vpcId": vpc.get("vpcId", ""),
        },
        "zonalShiftConfigs": [],
    }


def get_open_id_connect_provider(aws, settings: ProviderSettings, args: dict) -> dict:
    arn, url = args.get("arn"), args.get("url")
    # Schema: arn and url are ExactlyOneOf.
    if bool(arn) == bool(url):
        raise InvokeFailure("", "only one of `arn,url` can be specified, and one must be specified")
    iam = aws.client("iam")
    if not arn:
        # findOpenIDConnectProviderByURL: the part of each provider ARN after "oidc-provider/"
        # against the url with a leading "https://" trimmed (nothing else is normalized).
        wanted = url[len("https://"):] if url.startswith("https://") else url
        try:
            entries = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        except ClientError as error:
            raise ProviderError(f"reading IAM OIDC Provider ({url}): {error}") from error
        for entry in entries:
            parts = entry["Arn"].split("/", 1)
            if len(parts) != 2:
                raise ProviderError("reading OpenID Connect Provider expected the arn to be like: "
                                    f"arn:PARTITION:iam::ACCOUNT:oidc-provider/URL but got: {entry['Arn']}")
            if parts[1] == wanted:
                arn = entry["Arn"]
                break
        else:
            raise ProviderError(f"reading IAM OIDC Provider ({url}): couldn't find resource")
    try:
        found = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    except ClientError as error:
        if _code(error) in ("NoSuchEntity", "NoSuchEntityException"):
            raise ProviderError(f"reading IAM OIDC Provider: couldn't find resource ({error})") from error
        raise ProviderError(f"reading IAM OIDC Provider: {error}") from error
    tags = {tag["Key"]: tag["Value"] for tag in found.get("Tags") or [] if not tag["Key"].startswith("aws:")}
    return {
        "arn": arn,
        "clientIdLists": _list(found.get("ClientIDList")),
        "id": arn,
        "tags": tags,
        "thumbprintLists": _list(found.get("ThumbprintList")),
        "url": found.get("Url", ""),
    }


def get_caller_identity(aws, settings: ProviderSettings, args: dict) -> dict:
    # callerIdentityDataSource.Read: GetCallerIdentity; `id` is the account id whatever the
    # program passed (the schema's `id` is Optional+Computed and Read overwrites it).
    try:
        found = aws.client("sts").get_caller_identity()
    except ClientError as error:
        raise ProviderError(f"reading STS Caller Identity: {error}") from error
    return {"accountId": found["Account"], "arn": found["Arn"], "id": found["Account"], "userId": found["UserId"]}


Invoke = Callable[[Any, ProviderSettings, dict], dict]
