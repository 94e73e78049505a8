"""The stand-in provider's `aws:eks/podIdentityAssociation:PodIdentityAssociation`, over gRPC,
against the front (moto has no Pod Identity): the harness's arrangement, AWS_ENDPOINT_URL at
the front. Expected rules from terraform-provider-aws internal/service/eks/
pod_identity_association.go, written here independently of the plugin's table."""

import boto3
import grpc
import pulumi_aws
import pytest

from e2e.aws_front import AwsFront
from e2e.aws_provider.wire import UNKNOWN
from tests.e2e.test_aws_provider import check, create, delete, diff, pulumi_names, read, update
from tests.e2e.servers import aws_endpoint, moto_server, provider_stub

ACCOUNT = "123456789012"
CLUSTER = "e2e-cluster"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/eso-controller"
NEXT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eso-controller-next"


@pytest.fixture(scope="module")
def front():
    with moto_server() as moto_url:
        started = AwsFront(moto_url, lambda: {"keys": []}).start()
        started.add_cluster(CLUSTER, "us-east-1", "https://127.0.0.1:6443", "Q0E=", "https://issuer.example", "1.31")
        with aws_endpoint(started.url):
            yield started
        started.stop()


@pytest.fixture(scope="module")
def stub(front):
    with provider_stub() as stub:
        yield stub


@pytest.fixture()
def eks(front):
    return boto3.client("eks", region_name="us-east-1")


def _associate(stub, namespace="external-secrets", preview=False, **extra):
    return create(stub, POD_IDENTITY, f"eso-{namespace}", {
        "clusterName": CLUSTER, "namespace": namespace, "serviceAccount": "external-secrets", "roleArn": ROLE, **extra},
        preview=preview)


def test_check_requires_the_terraform_required_inputs_and_valid_arns(stub):
    _, failures = check(stub, POD_IDENTITY, "p", {"clusterName": CLUSTER})
    assert sorted(failures) == [f"Missing required property '{name}'" for name in ("namespace", "roleArn", "serviceAccount")]
    _, failures = check(stub, POD_IDENTITY, "p", {"clusterName": CLUSTER, "namespace": "n", "serviceAccount": "s",
                                                  "roleArn": "eso-controller"})
    assert len(failures) == 1 and "role_arn" in failures[0]


def test_create_reaches_the_front_and_answers_pulumi_aws_outputs(stub, front):
    association_id, outputs, _ = _associate(stub, "create", tags={"team": "platform"})
    assert set(outputs) == pulumi_names(pulumi_aws.eks.pod_identity_association._PodIdentityAssociationState) | {"id"}
    # Create: data.ID = data.AssociationID.
    assert association_id == outputs["id"] == outputs["associationId"]
    found = front.pod_identity.find(CLUSTER, "create", "external-secrets")
    assert (found["associationId"], found["roleArn"], found["tags"]) == (association_id, ROLE, {"team": "platform"})
    assert (outputs["associationArn"], outputs["disableSessionTags"], outputs["region"]) == (
        found["associationArn"], False, "us-east-1")
    assert outputs["tags"] == outputs["tagsAll"] == {"team": "platform"}
    assert outputs["targetRoleArn"] is None and outputs["externalId"] is None


def test_a_create_preview_touches_nothing(stub, front):
    resource_id, outputs, _ = _associate(stub, "preview", preview=True)
    assert resource_id == ""
    assert all(outputs[key] == UNKNOWN for key in ("associationArn", "associationId", "externalId", "id"))
    assert outputs["region"] == "us-east-1" and outputs["tagsAll"] == {}
    assert front.pod_identity.find(CLUSTER, "preview", "external-secrets") is None


def test_a_second_association_for_the_service_account_fails_the_create(stub):
    _associate(stub, "twice")
    with pytest.raises(grpc.RpcError) as refused:
        _associate(stub, "twice")
    assert "creating EKS Pod Identity Association" in refused.value.details()
    assert "ResourceInUseException" in refused.value.details()


def test_a_new_role_is_an_update_in_place_and_a_new_namespace_a_replacement(stub, front, eks):
    association_id, state, inputs = _associate(stub, "update")
    news = {**inputs, "roleArn": NEXT_ROLE}
    response = diff(stub, POD_IDENTITY, state, news)
    assert list(response.replaces) == [] and "roleArn" in response.diffs
    outputs = update(stub, POD_IDENTITY, association_id, state, news)
    assert outputs["roleArn"] == NEXT_ROLE and outputs["id"] == association_id
    assert front.pod_identity.find(CLUSTER, "update", "external-secrets")["roleArn"] == NEXT_ROLE
    moved = diff(stub, POD_IDENTITY, outputs, {**news, "namespace": "elsewhere"})
    assert list(moved.replaces) == ["namespace"] and not moved.deleteBeforeReplace


def test_a_tag_change_tags_and_untags_without_an_update_call(stub, front):
    association_id, state, inputs = _associate(stub, "tags", tags={"old": "x", "team": "a"})
    mark = front.log.calls_mark()
    outputs = update(stub, POD_IDENTITY, association_id, state, {**inputs, "tags": {"team": "b"}})
    assert outputs["tags"] == outputs["tagsAll"] == {"team": "b"}
    operations = [call.operation for call in front.log.calls_since(mark)]
    assert operations == ["UntagResource", "TagResource", "DescribePodIdentityAssociation"]
    assert front.pod_identity.find(CLUSTER, "tags", "external-secrets")["tags"] == {"team": "b"}


def test_read_refreshes_drift_and_drops_a_deleted_association(stub, eks):
    association_id, state, inputs = _associate(stub, "drift")
    eks.update_pod_identity_association(clusterName=CLUSTER, associationId=association_id, roleArn=NEXT_ROLE)
    found_id, outputs, refreshed = read(stub, POD_IDENTITY, association_id, state, inputs)
    assert found_id == association_id and outputs["roleArn"] == NEXT_ROLE and refreshed["roleArn"] == NEXT_ROLE
    eks.delete_pod_identity_association(clusterName=CLUSTER, associationId=association_id)
    found_id, properties, _ = read(stub, POD_IDENTITY, association_id, outputs)
    assert found_id == "" and properties == {}


def test_import_reads_by_cluster_and_association_id(stub):
    association_id, _, _ = _associate(stub, "import")
    found_id, outputs, inputs = read(stub, POD_IDENTITY, f"{CLUSTER},{association_id}", {})
    # ImportState: id and association_id are the second part.
    assert found_id == association_id and outputs["clusterName"] == CLUSTER
    assert inputs == {"clusterName": CLUSTER, "namespace": "import", "region": "us-east-1", "roleArn": ROLE,
                      "serviceAccount": "external-secrets", "__defaults": []}
    with pytest.raises(grpc.RpcError) as refused:
        read(stub, POD_IDENTITY, association_id, {})
    assert "cluster-name,association-id" in refused.value.details()


def test_delete_removes_the_association_and_tolerates_one_already_gone(stub, front):
    association_id, state, _ = _associate(stub, "delete")
    delete(stub, POD_IDENTITY, association_id, state)
    assert front.pod_identity.find(CLUSTER, "delete", "external-secrets") is None
    delete(stub, POD_IDENTITY, association_id, state)
