"""EKS Pod Identity associations and add-ons as the front plays them, through boto3's EKS client
(so the paths, bodies and error shapes are botocore's own)."""

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from e2e.aws_front import AwsFront
from tests.e2e.servers import moto_server

ACCOUNT = "123456789012"
CLUSTER = "e2e-cluster"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/eso-controller"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eso-controller-next"
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def moto_url():
    with moto_server() as url:
        yield url


@pytest.fixture()
def front(moto_url):
    started = AwsFront(moto_url, lambda: {"keys": []}).start()
    started.add_cluster(CLUSTER, "us-east-1", "https://127.0.0.1:6443", "Q0E=", "https://issuer.example", "1.31")
    yield started
    started.stop()


@pytest.fixture()
def eks(front):
    return boto3.client("eks", region_name="us-east-1", endpoint_url=front.url, config=NO_RETRIES,
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # pragma: allowlist secret


def _error(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["ResponseMetadata"]["HTTPStatusCode"], raised.value.response["Error"]["Code"]


def _create(eks, namespace="external-secrets", service_account="external-secrets", **extra) -> dict:
    return eks.create_pod_identity_association(
        clusterName=CLUSTER, namespace=namespace, serviceAccount=service_account, roleArn=ROLE, **extra
    )["association"]


def test_an_association_is_created_described_and_found(front, eks):
    created = _create(eks, tags={"team": "platform"})
    assert created["associationId"].startswith("a-") and len(created["associationId"]) == 19
    assert created["associationArn"] == f"arn:aws:eks:us-east-1:{ACCOUNT}:podidentityassociation/{CLUSTER}/{created['associationId']}"
    described = eks.describe_pod_identity_association(clusterName=CLUSTER, associationId=created["associationId"])["association"]
    assert (described["roleArn"], described["tags"], described["disableSessionTags"]) == (ROLE, {"team": "platform"}, False)
    found = front.pod_identity.find(CLUSTER, "external-secrets", "external-secrets")
    assert found["associationId"] == created["associationId"] and found["roleArn"] == ROLE
    assert front.pod_identity.find(CLUSTER, "external-secrets", "other") is None
    assert front.log.calls[-1].operation == "DescribePodIdentityAssociation"
    assert front.log.decisions[-1].resource == created["associationArn"]


def test_a_second_association_for_the_same_service_account_is_refused(eks):
    first = _create(eks)
    with pytest.raises(ClientError) as raised:
        _create(eks)
    assert raised.value.response["Error"]["Code"] == "ResourceInUseException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert raised.value.response["Error"]["Message"] == f"Association already exists: {first['associationId']}"


def test_listing_filters_by_namespace_and_service_account_and_pages(eks):
    for namespace, service_account in (("a", "x"), ("a", "y"), ("b", "x")):
        _create(eks, namespace, service_account)
    listed = lambda **filters: sorted(  # noqa: E731
        (s["namespace"], s["serviceAccount"]) for s in eks.list_pod_identity_associations(clusterName=CLUSTER, **filters)["associations"])
    assert listed(namespace="a") == [("a", "x"), ("a", "y")]
    assert listed(serviceAccount="x") == [("a", "x"), ("b", "x")]
    assert listed(namespace="b", serviceAccount="y") == []
    first = eks.list_pod_identity_associations(clusterName=CLUSTER, maxResults=2)
    second = eks.list_pod_identity_associations(clusterName=CLUSTER, maxResults=2, nextToken=first["nextToken"])
    assert len(first["associations"]) == 2 and len(second["associations"]) == 1 and "nextToken" not in second
    assert set(first["associations"][0]) == {"clusterName", "namespace", "serviceAccount", "associationArn", "associationId"}
    paged = eks.get_paginator("list_pod_identity_associations").paginate(clusterName=CLUSTER, PaginationConfig={"PageSize": 1})
    assert sum(len(page["associations"]) for page in paged) == 3


def test_an_update_changes_the_role_and_nothing_else_and_needs_a_change(eks):
    created = _create(eks)
    updated = eks.update_pod_identity_association(clusterName=CLUSTER, associationId=created["associationId"],
                                                  roleArn=OTHER_ROLE)["association"]
    assert (updated["roleArn"], updated["namespace"], updated["associationArn"]) == (OTHER_ROLE, "external-secrets", created["associationArn"])
    assert updated["modifiedAt"] >= created["modifiedAt"]
    assert _error(lambda: eks.update_pod_identity_association(clusterName=CLUSTER, associationId=created["associationId"])) == (
        400, "InvalidParameterException")


def test_a_target_role_gets_an_external_id_and_a_policy_needs_session_tags_disabled(eks):
    created = _create(eks, targetRoleArn=OTHER_ROLE)
    assert created["targetRoleArn"] == OTHER_ROLE and created["externalId"]
    assert _error(lambda: eks.update_pod_identity_association(
        clusterName=CLUSTER, associationId=created["associationId"], policy='{"Version": "2012-10-17"}')) == (400, "InvalidParameterException")
    updated = eks.update_pod_identity_association(clusterName=CLUSTER, associationId=created["associationId"],
                                                  disableSessionTags=True, policy='{"Version": "2012-10-17"}')["association"]
    assert updated["disableSessionTags"] is True and updated["policy"] == '{"Version": "2012-10-17"}'


def test_tags_of_an_association_are_changed_in_place(eks):
    arn = _create(eks, tags={"a": "1"})["associationArn"]
    eks.tag_resource(resourceArn=arn, tags={"b": "2"})
    eks.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    missing = arn.rsplit("/", 1)[0] + "/a-00000000000000000"
    assert _error(lambda: eks.list_tags_for_resource(resourceArn=missing)) == (404, "NotFoundException")


def test_a_deleted_association_is_gone(front, eks):
    created = _create(eks)
    deleted = eks.delete_pod_identity_association(clusterName=CLUSTER, associationId=created["associationId"])["association"]
    assert deleted["associationId"] == created["associationId"]
    assert _error(lambda: eks.describe_pod_identity_association(clusterName=CLUSTER, associationId=created["associationId"])) == (
        404, "ResourceNotFoundException")
    assert _error(lambda: eks.delete_pod_identity_association(clusterName=CLUSTER, associationId=created["associationId"])) == (
        404, "ResourceNotFoundException")
    assert front.pod_identity.find(CLUSTER, "external-secrets", "external-secrets") is None
    _create(eks)


def test_an_unknown_cluster_is_refused_and_the_refusal_logged(front, eks):
    call = lambda: eks.create_pod_identity_association(  # noqa: E731
        clusterName="nowhere", namespace="n", serviceAccount="s", roleArn=ROLE)
    assert _error(call) == (404, "ResourceNotFoundException")
    assert _error(lambda: eks.list_pod_identity_associations(clusterName="nowhere")) == (404, "ResourceNotFoundException")
    decision = front.log.decisions[-1]
    assert not decision.allowed and decision.reason.startswith("ListPodIdentityAssociations: ResourceNotFoundException")


def test_an_addon_is_described_when_the_harness_set_it_and_not_found_otherwise(front, eks):
    front.pod_identity.set_addon(CLUSTER, "eks-pod-identity-agent", "v1.3.4-eksbuild.1")
    addon = eks.describe_addon(clusterName=CLUSTER, addonName="eks-pod-identity-agent")["addon"]
    assert (addon["status"], addon["addonVersion"], addon["clusterName"]) == ("ACTIVE", "v1.3.4-eksbuild.1", CLUSTER)
    assert eks.list_addons(clusterName=CLUSTER)["addons"] == ["eks-pod-identity-agent"]
    front.pod_identity.set_addon(CLUSTER, "eks-pod-identity-agent", "v1.3.4-eksbuild.1", status="DEGRADED")
    assert eks.describe_addon(clusterName=CLUSTER, addonName="eks-pod-identity-agent")["addon"]["status"] == "DEGRADED"
    assert _error(lambda: eks.describe_addon(clusterName=CLUSTER, addonName="vpc-cni")) == (404, "ResourceNotFoundException")
    assert _error(lambda: eks.describe_addon(clusterName="nowhere", addonName="vpc-cni")) == (404, "ResourceNotFoundException")


def test_other_eks_calls_still_reach_moto(front, eks):
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["name"] == CLUSTER
    assert eks.list_clusters()["clusters"] == []
