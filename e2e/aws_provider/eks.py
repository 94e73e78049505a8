"""EKS Pod Identity associations, as terraform-provider-aws implements them.

Source: hashicorp/terraform-provider-aws internal/service/eks/pod_identity_association.go (the
Plugin Framework resource, commit 00a35305): `Schema`, `Create`, `Read`, `Update`, `Delete`,
`ImportState`, `findPodIdentityAssociationByTwoPartKey`. Pulumi names and the input list are
pulumi-aws 7.51.1's `pulumi_aws.eks.PodIdentityAssociation`.

* Schema: cluster_name, namespace and service_account are Required with RequiresReplace;
  role_arn Required (fwtypes.ARN), target_role_arn Optional (fwtypes.ARN);
  disable_session_tags Optional+Computed, `booldefault.StaticBool(false)`; association_arn,
  association_id, external_id Computed; tags/tags_all the transparent-tagging pair
  (`@Tags(identifierAttribute="association_arn")`: TagResource/UntagResource on the ARN,
  removed keys first). `policy` is in pulumi-aws 7.51.1 but newer than that commit: it is taken
  as an Optional string that the update sends like the other updatable attributes.
  `region` is the v6 per-resource Region (Enhanced Region Support guide: changing it replaces
  the resource); this stand-in serves the provider's Region only.
* Create: CreatePodIdentityAssociation with the plan's fields, `tags` = tags_all, then
  `id` = `association_id` (`data.ID = data.AssociationID`); no read afterwards.
* Read: DescribePodIdentityAssociation(association_id, cluster_name); ResourceNotFoundException
  removes the resource; otherwise the association flattened over the state.
* Update: UpdatePodIdentityAssociation only when disable_session_tags, role_arn or
  target_role_arn changed (here policy too), sending the new values (a null one is left out
  by `fwflex.Expand`, so removing target_role_arn sends nothing for it); tags go separately.
* Delete: DeletePodIdentityAssociation; ResourceNotFoundException is success.
* ImportState: the id `<cluster-name>,<association-id>`.
"""

from typing import Any

from botocore.exceptions import ClientError

from components.resource_types import POD_IDENTITY_ASSOCIATION
from e2e.aws_provider.iam import valid_arn
from e2e.aws_provider.model import Field, ProviderError, ResourceType, read_tags, tags_all, with_force_new

# pod_identity_association.go Schema: RequiresReplace on cluster_name, namespace,
# service_account; the Enhanced Region Support guide's replacement on a region change.
POD_IDENTITY_ASSOCIATION_FORCE_NEW = ("clusterName", "namespace", "region", "serviceAccount")
# Update's condition (`!new.X.Equal(old.X)`), policy added as said above.
_UPDATED_BY_CALL = frozenset({"disableSessionTags", "policy", "roleArn", "targetRoleArn"})


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class PodIdentityAssociation(ResourceType):
    token = POD_IDENTITY_ASSOCIATION
    tf_type = "aws_eks_pod_identity_association"
    fields = with_force_new(POD_IDENTITY_ASSOCIATION_FORCE_NEW, (
        Field("clusterName", "cluster_name", "string", required=True),
        Field("disableSessionTags", "disable_session_tags", "bool", default=False),
        Field("namespace", "namespace", "string", required=True),
        Field("policy", "policy", "string"),
        Field("region", "region", "string", computed=True),
        Field("roleArn", "role_arn", "string", required=True, validate=valid_arn),
        Field("serviceAccount", "service_account", "string", required=True),
        Field("tags", "tags", "map"),
        Field("targetRoleArn", "target_role_arn", "string", validate=valid_arn),
    ))
    computed_outputs = ("associationArn", "associationId", "externalId")
    tagged = True

    def preview_outputs(self, inputs, settings):
        # The provider's Region is known when planning (its ModifyPlan fills it in).
        outputs = super().preview_outputs(inputs, settings)
        outputs["region"] = inputs.get("region") or settings.region
        return outputs

    @staticmethod
    def _region(settings, inputs: dict) -> str:
        region = inputs.get("region") or settings.region
        if region != settings.region:
            raise ProviderError(f"aws stand-in provider: region {region} differs from the provider's {settings.region}; "
                                "only the provider's Region is served")
        return region

    @staticmethod
    def _flatten(settings, association: dict, region: str) -> dict:
        tags, everything = read_tags(settings, [{"Key": k, "Value": v} for k, v in (association.get("tags") or {}).items()])
        return {
            "associationArn": association["associationArn"],
            "associationId": association["associationId"],
            "clusterName": association["clusterName"],
            "disableSessionTags": bool(association.get("disableSessionTags", False)),
            "externalId": association.get("externalId"),
            "id": association["associationId"],
            "namespace": association["namespace"],
            "policy": association.get("policy"),
            "region": region,
            "roleArn": association["roleArn"],
            "serviceAccount": association["serviceAccount"],
            "tags": tags,
            "tagsAll": everything,
            "targetRoleArn": association.get("targetRoleArn"),
        }

    def create(self, aws, settings, inputs):
        region = self._region(settings, inputs)
        request: dict[str, Any] = {
            "clusterName": inputs["clusterName"],
            "namespace": inputs["namespace"],
            "serviceAccount": inputs["serviceAccount"],
            "roleArn": inputs["roleArn"],
            "disableSessionTags": bool(inputs.get("disableSessionTags", False)),
        }
        for name in ("targetRoleArn", "policy"):
            if inputs.get(name):
                request[name] = inputs[name]
        every_tag = tags_all(settings, inputs.get("tags"))
        if every_tag:
            request["tags"] = every_tag
        try:
            association = aws.client("eks").create_pod_identity_association(**request)["association"]
        except ClientError as error:
            raise ProviderError(f"creating EKS Pod Identity Association: {error}") from error
        # Create writes the plan with the computed values set; the plan's tags are the inputs'.
        outputs = self._flatten(settings, association, region)
        outputs.update(tags=dict(inputs.get("tags") or {}), tagsAll=every_tag)
        return association["associationId"], outputs

    def read(self, aws, settings, resource_id, state):
        cluster_name, association_id = state.get("clusterName"), state.get("associationId")
        if not cluster_name or not association_id:
            cluster_name, sep, association_id = resource_id.partition(",")
            if not sep or not cluster_name or not association_id or "," in association_id:
                raise ProviderError(f"wrong format of import ID ({resource_id}), use: 'cluster-name,association-id'")
        try:
            association = aws.client("eks").describe_pod_identity_association(
                clusterName=cluster_name, associationId=association_id)["association"]
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None
            raise ProviderError(f"reading EKS Pod Identity Association ({resource_id}): {error}") from error
        return self._flatten(settings, association, state.get("region") or settings.region)

    def update(self, aws, settings, resource_id, state, planned, changed):
        eks = aws.client("eks")
        cluster_name, association_id = state["clusterName"], state["associationId"]
        if changed & _UPDATED_BY_CALL:
            request: dict[str, Any] = {"clusterName": cluster_name, "associationId": association_id,
                                       "roleArn": planned["roleArn"],
                                       "disableSessionTags": bool(planned.get("disableSessionTags"))}
            for name in ("targetRoleArn", "policy"):
                if planned.get(name) is not None:
                    request[name] = planned[name]
            try:
                eks.update_pod_identity_association(**request)
            except ClientError as error:
                raise ProviderError(f"updating EKS Pod Identity Association ({resource_id}): {error}") from error
        if "tagsAll" in changed or "tags" in changed:
            old, new = state.get("tagsAll") or {}, planned.get("tagsAll") or {}
            removed = sorted(key for key in old if key not in new)
            updated = {key: value for key, value in new.items() if old.get(key) != value}
            try:
                if removed:
                    eks.untag_resource(resourceArn=state["associationArn"], tagKeys=removed)
                if updated:
                    eks.tag_resource(resourceArn=state["associationArn"], tags=updated)
            except ClientError as error:
                raise ProviderError(f"updating tags of EKS Pod Identity Association ({resource_id}): {error}") from error
        return self.read_back(aws, settings, resource_id, state,
                              f"reading EKS Pod Identity Association ({resource_id}): not found after update")

    def delete(self, aws, settings, resource_id, state):
        try:
            aws.client("eks").delete_pod_identity_association(clusterName=state["clusterName"],
                                                              associationId=state.get("associationId") or resource_id)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise ProviderError(f"deleting EKS Pod Identity Association ({resource_id}): {error}") from error

