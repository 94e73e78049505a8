"""The stand-in `aws` provider plugin (e2e/aws_provider), driven through real gRPC stubs.

The servicer runs in-process on a gRPC server, against moto's in-process server through
AWS_ENDPOINT_URL, as the engine would drive it; one test starts the plugin as the engine does,
through the script `install.write_plugin_executable` writes. The expected rules are written here
from the upstream sources (terraform-provider-aws internal/service/iam, pulumi-terraform-bridge
pkg/tfbridge, pulumi-aws provider/resources.go), independently of the plugin's own tables.
"""

import json
import os
import re
import subprocess

import boto3
import grpc
# The package, not its modules one by one: importing `pulumi_aws.eks.get_cluster` before the
# package leaves `pulumi_aws.eks` without the functions its __init__ defines.
import pulumi_aws
import pytest
import requests
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from e2e.aws_provider import iam as iam_types
from e2e.aws_provider.documents import normalize
from e2e.aws_provider.install import EXECUTABLE_NAME, write_plugin_executable
from e2e.aws_provider.server import AwsProvider
from e2e.aws_provider.wire import UNKNOWN, to_python, to_struct
from tests.e2e.servers import aws_endpoint, moto_server, provider_stub

ACCOUNT = "123456789012"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
GET_CLUSTER = "aws:eks/getCluster:getCluster"
GET_OIDC = "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider"
GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
KIND = dict(provider_pb2.PropertyDiff.Kind.items())
KIND_NAME = {value: name for name, value in KIND.items()}

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
OTHER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "*"}],
}
OTHER_READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["secretsmanager:DescribeSecret"], "Resource": "*"}],
}

# What terraform-provider-aws marks ForceNew (internal/service/iam/*.go schemas), in Pulumi names.
EXPECTED_FORCE_NEW = {
    ROLE: {"name", "namePrefix", "path"},
    ROLE_POLICY: {"name", "namePrefix", "role"},
    POLICY: {"description", "name", "namePrefix", "path"},
    ATTACHMENT: {"policyArn", "role"},
    # internal/service/eks/pod_identity_association.go: RequiresReplace; region per the
    # Enhanced Region Support guide.
    POD_IDENTITY: {"clusterName", "namespace", "region", "serviceAccount"},
}


# Fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto_url():
    with moto_server() as url, aws_endpoint(url):
        yield url


@pytest.fixture(scope="module")
def plugin(moto_url):
    with provider_stub() as stub:
        yield stub


@pytest.fixture()
def stub(plugin, moto_url):
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    return plugin


@pytest.fixture()
def aws(moto_url):
    def client(service):
        return boto3.client(service, region_name="us-east-1")
    return client


# Helpers ------------------------------------------------------------------------------------

def urn(token: str, name: str) -> str:
    return f"urn:pulumi:dev::eso-platform::{token}::{name}"


def check(stub, token, name, news, olds=None, seed=b"seed", autonaming=None):
    request = provider_pb2.CheckRequest(urn=urn(token, name), news=to_struct(news), randomSeed=seed)
    if olds is not None:
        request.olds.CopyFrom(to_struct(olds))
    if autonaming is not None:
        request.autonaming.CopyFrom(autonaming)
    response = stub.Check(request)
    return to_python(response.inputs), [failure.reason for failure in response.failures]


def create(stub, token, name, news, preview=False):
    inputs, failures = check(stub, token, name, news)
    assert not failures, failures
    response = stub.Create(provider_pb2.CreateRequest(urn=urn(token, name), properties=to_struct(inputs),
                                                      preview=preview))
    return response.id, to_python(response.properties, skip_nulls=False), inputs


def diff(stub, token, state, news, name="r"):
    response = stub.Diff(provider_pb2.DiffRequest(id=state.get("id", ""), urn=urn(token, name), olds=to_struct(state),
                                                  news=to_struct(news)))
    return response


def detailed(response) -> dict[str, str]:
    return {path: KIND_NAME[d.kind] for path, d in response.detailedDiff.items()}


def update(stub, token, resource_id, state, news, name="r", preview=False):
    response = stub.Update(provider_pb2.UpdateRequest(id=resource_id, urn=urn(token, name), olds=to_struct(state),
                                                      news=to_struct(news), preview=preview))
    return to_python(response.properties, skip_nulls=False)


def read(stub, token, resource_id, state, inputs=None, name="r"):
    response = stub.Read(provider_pb2.ReadRequest(id=resource_id, urn=urn(token, name), properties=to_struct(state),
                                                  inputs=to_struct(inputs or {})))
    return response.id, to_python(response.properties, skip_nulls=False), to_python(response.inputs)


def delete(stub, token, resource_id, state, name="r"):
    stub.Delete(provider_pb2.DeleteRequest(id=resource_id, urn=urn(token, name), properties=to_struct(state)))


def invoke(stub, token, args):
    response = stub.Invoke(provider_pb2.InvokeRequest(tok=token, args=to_struct(args)))
    return to_python(getattr(response, "return"), skip_nulls=False), [f.reason for f in response.failures]


def pulumi_names(cls) -> set[str]:
    """The wire (camelCase) names of a pulumi_aws output class's properties."""
    return {getattr(v.fget, "_pulumi_name") for v in vars(cls).values() if isinstance(v, property)}


def make_role(stub, name="app", **extra):
    return create(stub, ROLE, name, {"name": name, "assumeRolePolicy": json.dumps(TRUST),
                                     "description": "reads secrets", **extra})


# The process ----------------------------------------------------------------------------------

def test_the_installed_script_prints_only_its_port_and_serves_until_cancel(tmp_path, moto_url):
    script = write_plugin_executable(tmp_path / "plugin")
    assert script.name == EXECUTABLE_NAME and os.access(script, os.X_OK)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    # The engine starts a plugin in the program's folder: another release's modules there
    # (here an empty `components` package) must not shadow the plugin's own.
    program = tmp_path / "previous-release"
    (program / "components").mkdir(parents=True)
    (program / "components" / "__init__.py").write_text("")
    process = subprocess.Popen([str(script), "--logtostderr", "-v=9", "127.0.0.1:1"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=env, text=True, cwd=program)
    try:
        line = process.stdout.readline()
        assert re.fullmatch(r"\d+\n", line), line
        channel = grpc.insecure_channel(f"127.0.0.1:{line.strip()}")
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        assert stub.GetPluginInfo(empty_pb2.Empty(), timeout=10).version == "7.51.1"
        stub.Cancel(empty_pb2.Empty(), timeout=10)
        assert process.wait(timeout=15) == 0
        assert process.stdout.read() == ""
        channel.close()
    finally:
        if process.poll() is None:
            process.kill()


def test_configure_answers_what_pulumi_aws_answers(plugin):
    response = plugin.Configure(provider_pb2.ConfigureRequest(args=to_struct({"region": "us-east-1"}),
                                                              acceptSecrets=True, acceptResources=True))
    # The muxed SDKv2 + Plugin Framework bridge ANDs its servers' answers.
    assert (response.acceptSecrets, response.supportsPreview, response.acceptResources, response.acceptOutputs) == (
        False, True, False, False)
    assert response.supports_autonaming_configuration


def test_check_config_refuses_a_configuration_without_region(plugin, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    refused = plugin.CheckConfig(provider_pb2.CheckRequest(urn="urn:pulumi:dev::p::pulumi:providers:aws::default",
                                                           news=to_struct({"version": "7.51.1"})))
    assert refused.failures and refused.failures[0].property == "region"
    accepted = plugin.CheckConfig(provider_pb2.CheckRequest(news=to_struct({"region": "eu-west-1"})))
    assert not accepted.failures and to_python(accepted.inputs) == {"region": "eu-west-1"}


def test_schema_names_exactly_the_implemented_types(plugin):
    schema = json.loads(plugin.GetSchema(provider_pb2.GetSchemaRequest()).schema)
    assert (schema["name"], schema["version"]) == ("aws", "7.51.1")
    assert set(schema["resources"]) == {ROLE, ROLE_POLICY, POLICY, ATTACHMENT, POD_IDENTITY}
    assert schema["resources"][ATTACHMENT]["requiredInputs"] == ["policyArn", "role"]
    assert schema["resources"][POD_IDENTITY]["requiredInputs"] == ["clusterName", "namespace", "roleArn", "serviceAccount"]
    assert set(schema["functions"]) == {GET_CLUSTER, GET_OIDC, GET_CALLER_IDENTITY}


# Check ----------------------------------------------------------------------------------------

def test_check_applies_pulumi_aws_role_defaults_and_an_auto_name(stub):
    inputs, failures = check(stub, ROLE, "reader", {"assumeRolePolicy": json.dumps(TRUST)})
    assert not failures
    # role.go: path Default "/", max_session_duration Default 3600; force_detach_policies'
    # Default false is a falsy default the bridge leaves out (pulumi-terraform-bridge#3398).
    assert inputs["path"] == "/" and inputs["maxSessionDuration"] == 3600
    assert "forceDetachPolicies" not in inputs
    assert re.fullmatch(r"reader-[0-9a-f]{7}", inputs["name"])
    assert inputs["__defaults"] == ["maxSessionDuration", "name", "path"]
    # The same engine seed gives the same name; another seed another.
    assert check(stub, ROLE, "reader", {"assumeRolePolicy": json.dumps(TRUST)})[0]["name"] == inputs["name"]
    assert check(stub, ROLE, "reader", {"assumeRolePolicy": json.dumps(TRUST)}, seed=b"other")[0]["name"] != inputs["name"]


def test_an_auto_name_is_kept_from_olds_only_when_it_was_a_default(stub):
    news = {"assumeRolePolicy": json.dumps(TRUST)}
    kept, _ = check(stub, ROLE, "reader", news, seed=b"new",
                    olds={**news, "name": "reader-1234567", "__defaults": ["name", "path"]})
    assert kept["name"] == "reader-1234567"
    fresh, _ = check(stub, ROLE, "reader", news, seed=b"new",
                     olds={**news, "name": "chosen-by-hand", "__defaults": ["path"]})
    assert fresh["name"] != "chosen-by-hand" and fresh["name"].startswith("reader-")


def test_check_uses_the_engines_autonaming_proposal(stub):
    proposal = provider_pb2.CheckRequest.AutonamingOptions(proposed_name="dev-reader-x",
                                                          mode=provider_pb2.CheckRequest.AutonamingOptions.PROPOSE)
    inputs, _ = check(stub, ROLE, "reader", {"assumeRolePolicy": json.dumps(TRUST)}, autonaming=proposal)
    assert inputs["name"] == "dev-reader-x"


def test_check_applies_the_other_types_defaults(stub):
    policy, _ = check(stub, POLICY, "read", {"policy": json.dumps(READ)})
    assert policy["path"] == "/" and re.fullmatch(r"read-[0-9a-f]{7}", policy["name"])
    assert policy["__defaults"] == ["name", "path"]
    inline, _ = check(stub, ROLE_POLICY, "inline", {"policy": json.dumps(READ), "role": "app"})
    assert re.fullmatch(r"inline-[0-9a-f]{7}", inline["name"]) and inline["__defaults"] == ["name"]
    attachment, _ = check(stub, ATTACHMENT, "att", {"role": "app", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/p"})
    assert attachment["__defaults"] == [] and "name" not in attachment


def test_an_explicit_name_is_not_a_default(stub):
    inputs, _ = check(stub, POLICY, "read", {"name": "mine", "policy": json.dumps(READ), "path": "/eso/"})
    assert inputs["name"] == "mine" and inputs["path"] == "/eso/" and inputs["__defaults"] == []


def test_a_name_prefix_stops_the_auto_name(stub):
    inputs, failures = check(stub, ROLE, "reader", {"namePrefix": "eso-", "assumeRolePolicy": json.dumps(TRUST)})
    assert not failures and "name" not in inputs and inputs["namePrefix"] == "eso-"


@pytest.mark.parametrize("token, required", [
    (ROLE, {"assumeRolePolicy"}),
    (ROLE_POLICY, {"policy", "role"}),
    (POLICY, {"policy"}),
    (ATTACHMENT, {"policyArn", "role"}),
])
def test_check_fails_each_missing_required_input(stub, token, required):
    _, failures = check(stub, token, "x", {})
    assert sorted(failures) == sorted(f"Missing required property '{name}'" for name in required)


def test_check_validates_as_the_terraform_schema_does(stub):
    _, failures = check(stub, ROLE, "r", {"assumeRolePolicy": "not json", "maxSessionDuration": 60,
                                          "name": "a", "namePrefix": "b"})
    text = "\n".join(failures)
    assert '"assume_role_policy" contains an invalid JSON policy' in text
    assert "expected max_session_duration to be in the range (3600 - 43200), got 60" in text
    assert '"name": conflicts with name_prefix' in text
    _, failures = check(stub, POLICY, "p", {"policy": json.dumps(READ), "path": "no-slashes"})
    assert any('must begin and end with "/"' in failure for failure in failures)
    _, failures = check(stub, ATTACHMENT, "a", {"role": "r", "policyArn": "not-an-arn"})
    assert any("is an invalid ARN" in failure for failure in failures)
    _, failures = check(stub, ROLE, "r", {"assumeRolePolicy": json.dumps(TRUST), "bogus": 1})
    assert any("Invalid or unknown key" in failure for failure in failures)


def test_check_passes_unknowns_through_and_takes_documents_as_objects(stub):
    inputs, failures = check(stub, ROLE_POLICY, "inline", {"policy": UNKNOWN, "role": UNKNOWN, "name": "n"})
    assert not failures and inputs["policy"] == UNKNOWN and inputs["role"] == UNKNOWN
    inputs, failures = check(stub, POLICY, "p", {"policy": READ})
    assert not failures and json.loads(inputs["policy"]) == READ


# Diff -----------------------------------------------------------------------------------------

ROLE_STATE = {
    "arn": f"arn:aws:iam::{ACCOUNT}:role/r", "assumeRolePolicy": normalize(TRUST), "createDate": "2026-01-01T00:00:00Z",
    "description": "d", "forceDetachPolicies": False, "id": "r", "inlinePolicies": [], "managedPolicyArns": [],
    "maxSessionDuration": 3600, "name": "r", "namePrefix": "", "path": "/", "permissionsBoundary": "",
    "tags": {"team": "a"}, "tagsAll": {"team": "a"}, "uniqueId": "AROAEXAMPLE",
}
ROLE_NEWS = {"assumeRolePolicy": json.dumps(TRUST, indent=2), "description": "d", "maxSessionDuration": 3600,
             "name": "r", "path": "/", "tags": {"team": "a"}, "__defaults": ["maxSessionDuration", "path"]}
ROLE_POLICY_STATE = {"id": "r:p", "name": "p", "namePrefix": "", "policy": normalize(READ), "role": "r"}
ROLE_POLICY_NEWS = {"name": "p", "policy": json.dumps(READ), "role": "r", "__defaults": []}
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/eso/p"
POLICY_STATE = {
    "arn": POLICY_ARN, "attachmentCount": 1, "delayAfterPolicyCreationInMs": None, "description": "d",
    "id": POLICY_ARN, "name": "p", "namePrefix": "", "path": "/eso/", "policy": normalize(READ), "policyId": "ANPA",
    "tags": {}, "tagsAll": {},
}
POLICY_NEWS = {"description": "d", "name": "p", "path": "/eso/", "policy": json.dumps(READ), "__defaults": []}
ATTACHMENT_STATE = {"id": f"r/{POLICY_ARN}", "policyArn": POLICY_ARN, "role": "r"}
ATTACHMENT_NEWS = {"policyArn": POLICY_ARN, "role": "r", "__defaults": []}
ASSOCIATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eso"
POD_IDENTITY_STATE = {
    "associationArn": f"arn:aws:eks:us-east-1:{ACCOUNT}:podidentityassociation/c/a-0123456789abcdefg",
    "associationId": "a-0123456789abcdefg", "clusterName": "c", "disableSessionTags": False, "externalId": None,
    "id": "a-0123456789abcdefg", "namespace": "external-secrets", "policy": None, "region": "us-east-1",
    "roleArn": ASSOCIATION_ROLE, "serviceAccount": "external-secrets", "tags": {}, "tagsAll": {}, "targetRoleArn": None,
}
POD_IDENTITY_NEWS = {"clusterName": "c", "namespace": "external-secrets", "roleArn": ASSOCIATION_ROLE,
                     "serviceAccount": "external-secrets", "__defaults": []}
BASES = {
    ROLE: (ROLE_STATE, ROLE_NEWS),
    ROLE_POLICY: (ROLE_POLICY_STATE, ROLE_POLICY_NEWS),
    POLICY: (POLICY_STATE, POLICY_NEWS),
    ATTACHMENT: (ATTACHMENT_STATE, ATTACHMENT_NEWS),
    POD_IDENTITY: (POD_IDENTITY_STATE, POD_IDENTITY_NEWS),
}
# A different value for every input of every type.
CHANGES = {
    ROLE: {
        "assumeRolePolicy": json.dumps(OTHER_TRUST), "description": "e", "forceDetachPolicies": True,
        "inlinePolicies": [{"name": "extra", "policy": json.dumps(READ)}],
        "managedPolicyArns": [POLICY_ARN], "maxSessionDuration": 7200, "name": "r2", "namePrefix": "eso-",
        "path": "/eso/", "permissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/boundary", "tags": {"team": "b"},
    },
    ROLE_POLICY: {"name": "p2", "namePrefix": "eso-", "policy": json.dumps(OTHER_READ), "role": "r2"},
    POLICY: {"delayAfterPolicyCreationInMs": 100, "description": "e", "name": "p2", "namePrefix": "eso-",
             "path": "/other/", "policy": json.dumps(OTHER_READ), "tags": {"team": "b"}},
    ATTACHMENT: {"policyArn": f"arn:aws:iam::{ACCOUNT}:policy/other", "role": "r2"},
    POD_IDENTITY: {"clusterName": "c2", "disableSessionTags": True, "namespace": "other", "policy": json.dumps(READ),
                   "region": "eu-west-1", "roleArn": f"{ASSOCIATION_ROLE}-2", "serviceAccount": "other",
                   "tags": {"team": "b"}, "targetRoleArn": f"{ASSOCIATION_ROLE}-target"},
}
FIELD_CASES = [(token, field) for token, changes in CHANGES.items() for field in changes]


def test_every_input_of_every_type_has_a_change_case():
    for token, rt in AwsProvider().resources.items():
        assert {f.name for f in rt.fields} == set(CHANGES[token]), token


@pytest.mark.parametrize("token, field", FIELD_CASES, ids=[f"{t.split(':')[-1]}.{f}" for t, f in FIELD_CASES])
def test_a_changed_input_replaces_exactly_when_terraform_marks_it_force_new(stub, token, field):
    state, news = BASES[token]
    response = diff(stub, token, state, {**news, field: CHANGES[token][field]})
    assert response.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert field in response.diffs and response.hasDetailedDiff
    kinds = detailed(response)
    field_kinds = {kind for path, kind in kinds.items() if re.split(r"[.\[]", path)[0] == field}
    if field in EXPECTED_FORCE_NEW[token]:
        assert list(response.replaces) == [field]
        assert field_kinds and all(kind.endswith("_REPLACE") for kind in field_kinds)
        assert field not in response.stables
    else:
        assert list(response.replaces) == []
        assert field_kinds and not any(kind.endswith("_REPLACE") for kind in field_kinds)
        assert not response.deleteBeforeReplace
    assert set(response.stables) == EXPECTED_FORCE_NEW[token] - set(response.replaces)


@pytest.mark.parametrize("token", [ROLE, ROLE_POLICY, POLICY, ATTACHMENT, POD_IDENTITY])
def test_unchanged_inputs_are_no_diff(stub, token):
    state, news = BASES[token]
    response = diff(stub, token, state, news)
    assert response.changes == provider_pb2.DiffResponse.DIFF_NONE
    assert not response.replaces and not response.detailedDiff and not response.diffs


def test_an_equivalent_policy_document_is_no_diff(stub):
    reordered = {
        "Statement": [{"Resource": "*", "Action": "secretsmanager:GetSecretValue", "Effect": "Allow"}],
        "Version": "2012-10-17",
    }
    response = diff(stub, ROLE_POLICY, ROLE_POLICY_STATE, {**ROLE_POLICY_NEWS, "policy": json.dumps(reordered, indent=4)})
    assert response.changes == provider_pb2.DiffResponse.DIFF_NONE
    two = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["b:B", "a:A"], "Resource": "*"}, {"Effect": "Deny", "Action": "c:C", "Resource": "*"}]}
    swapped = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": ["c:C"], "Resource": ["*"]}, {"Effect": "Allow", "Action": ["a:A", "b:B"], "Resource": "*"}]}
    state = {**POLICY_STATE, "policy": normalize(two)}
    assert diff(stub, POLICY, state, {**POLICY_NEWS, "policy": json.dumps(swapped)}).changes == \
        provider_pb2.DiffResponse.DIFF_NONE


def test_tag_changes_are_itemized_for_tags_and_tags_all(stub):
    response = diff(stub, ROLE, ROLE_STATE, {**ROLE_NEWS, "tags": {"team": "b", "env": "dev"}})
    assert detailed(response) == {"tags.team": "UPDATE", "tags.env": "ADD", "tagsAll.team": "UPDATE", "tagsAll.env": "ADD"}
    assert list(response.diffs) == ["tags", "tagsAll"]


def test_removing_an_optional_input_is_a_delete(stub):
    news = {key: value for key, value in POLICY_NEWS.items() if key != "description"}
    response = diff(stub, POLICY, POLICY_STATE, news)
    assert detailed(response) == {"description": "DELETE_REPLACE"} and list(response.replaces) == ["description"]


def test_an_unknown_input_in_a_preview_diffs_as_an_update(stub):
    response = diff(stub, ROLE_POLICY, ROLE_POLICY_STATE, {**ROLE_POLICY_NEWS, "policy": UNKNOWN})
    assert detailed(response) == {"policy": "UPDATE"} and not response.replaces
    response = diff(stub, ROLE_POLICY, ROLE_POLICY_STATE, {**ROLE_POLICY_NEWS, "role": UNKNOWN})
    assert detailed(response) == {"role": "UPDATE_REPLACE"} and list(response.replaces) == ["role"]


def test_delete_before_replace_only_for_names_the_program_set(stub):
    changed = {**POLICY_NEWS, "description": "new"}
    # Named by the program: `name` is in the inputs but not in __defaults.
    assert diff(stub, POLICY, POLICY_STATE, changed).deleteBeforeReplace
    # Auto-named: the bridge listed `name` among the defaults.
    assert not diff(stub, POLICY, POLICY_STATE, {**changed, "__defaults": ["name"]}).deleteBeforeReplace
    # Inputs from before the __defaults list existed count as auto-named.
    legacy = {key: value for key, value in changed.items() if key != "__defaults"}
    assert not diff(stub, POLICY, POLICY_STATE, legacy).deleteBeforeReplace
    # An update is never delete-before-replace, named or not.
    assert not diff(stub, POLICY, POLICY_STATE, {**POLICY_NEWS, "policy": json.dumps(OTHER_READ)}).deleteBeforeReplace
    assert diff(stub, ROLE, ROLE_STATE, {**ROLE_NEWS, "path": "/eso/"}).deleteBeforeReplace
    auto_role = {**ROLE_NEWS, "path": "/eso/", "__defaults": ["maxSessionDuration", "name"]}
    assert not diff(stub, ROLE, ROLE_STATE, auto_role).deleteBeforeReplace
    # pulumi-aws sets DeleteBeforeReplace on the attachment type itself: always, when replacing.
    assert diff(stub, ATTACHMENT, ATTACHMENT_STATE, {**ATTACHMENT_NEWS, "role": "r2"}).deleteBeforeReplace


# Create / Read / Update / Delete -----------------------------------------------------------------------

def test_role_outputs_are_pulumi_aws_role_outputs(stub, aws):
    role_id, outputs, _ = make_role(stub, tags={"team": "platform"})
    assert set(outputs) == pulumi_names(pulumi_aws.iam.role._RoleState) | {"id"}
    assert role_id == outputs["id"] == outputs["name"] == "app"
    assert outputs["arn"] == f"arn:aws:iam::{ACCOUNT}:role/app"
    assert json.loads(outputs["assumeRolePolicy"]) == TRUST
    assert (outputs["path"], outputs["maxSessionDuration"], outputs["forceDetachPolicies"]) == ("/", 3600, False)
    assert outputs["tags"] == outputs["tagsAll"] == {"team": "platform"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", outputs["createDate"])
    role = aws("iam").get_role(RoleName="app")["Role"]
    assert role["RoleId"] == outputs["uniqueId"] and role["Description"] == "reads secrets"


def test_the_other_types_outputs_are_pulumi_aws_outputs(stub):
    make_role(stub)
    policy_id, policy, _ = create(stub, POLICY, "read", {"name": "read", "path": "/eso/", "description": "d",
                                                        "policy": json.dumps(READ)})
    assert set(policy) == pulumi_names(pulumi_aws.iam.policy._PolicyState) | {"id"}
    assert policy_id == policy["arn"] == f"arn:aws:iam::{ACCOUNT}:policy/eso/read"
    inline_id, inline, _ = create(stub, ROLE_POLICY, "inline", {"name": "read-secrets", "role": "app",
                                                               "policy": json.dumps(READ)})
    assert set(inline) == pulumi_names(pulumi_aws.iam.role_policy._RolePolicyState) | {"id"}
    assert inline_id == "app:read-secrets"
    attachment_id, attachment, _ = create(stub, ATTACHMENT, "att", {"role": "app", "policyArn": policy_id})
    assert set(attachment) == pulumi_names(pulumi_aws.iam.role_policy_attachment._RolePolicyAttachmentState) | {"id"}
    # role_policy_attachment.go Create: the id is createRolePolicyAttachmentImportID, "<role>/<policy_arn>".
    assert attachment_id == f"app/{policy_id}"


def test_a_create_preview_touches_nothing_and_leaves_computed_outputs_unknown(stub, aws):
    resource_id, outputs, _ = create(stub, ROLE, "app", {"name": "app", "assumeRolePolicy": json.dumps(TRUST)},
                                     preview=True)
    assert resource_id == ""
    assert all(outputs[key] == UNKNOWN for key in ("arn", "createDate", "uniqueId", "id"))
    assert outputs["name"] == "app" and outputs["path"] == "/" and outputs["tagsAll"] == {}
    assert aws("iam").list_roles()["Roles"] == []


def test_role_updates_reach_moto_with_terraforms_calls(stub, aws):
    role_id, state, inputs = make_role(stub, tags={"team": "a", "old": "x"})
    news = {**inputs, "assumeRolePolicy": json.dumps(OTHER_TRUST), "description": "now this",
            "maxSessionDuration": 7200, "tags": {"team": "b", "new": "y"}}
    assert update(stub, ROLE, role_id, state, news, preview=True)["description"] == "now this"
    assert aws("iam").get_role(RoleName="app")["Role"]["Description"] == "reads secrets"
    outputs = update(stub, ROLE, role_id, state, news)
    role = aws("iam").get_role(RoleName="app")["Role"]
    assert role["AssumeRolePolicyDocument"] == OTHER_TRUST
    assert role["Description"] == "now this" and role["MaxSessionDuration"] == 7200
    assert {t["Key"]: t["Value"] for t in aws("iam").list_role_tags(RoleName="app")["Tags"]} == {"team": "b", "new": "y"}
    assert outputs["tagsAll"] == {"team": "b", "new": "y"} and json.loads(outputs["assumeRolePolicy"]) == OTHER_TRUST
    delete(stub, ROLE, role_id, outputs)
    assert not aws("iam").list_roles()["Roles"]


def test_role_policy_round_trip(stub, aws):
    make_role(stub)
    policy_id, state, inputs = create(stub, ROLE_POLICY, "inline", {"name": "read", "role": "app",
                                                                   "policy": json.dumps(READ)})
    assert aws("iam").get_role_policy(RoleName="app", PolicyName="read")["PolicyDocument"] == READ
    outputs = update(stub, ROLE_POLICY, policy_id, state, {**inputs, "policy": json.dumps(OTHER_READ)})
    assert aws("iam").get_role_policy(RoleName="app", PolicyName="read")["PolicyDocument"] == OTHER_READ
    assert json.loads(outputs["policy"]) == OTHER_READ
    delete(stub, ROLE_POLICY, policy_id, outputs)
    assert aws("iam").list_role_policies(RoleName="app")["PolicyNames"] == []


def test_policy_updates_rotate_versions_at_five(stub, aws):
    arn, state, inputs = create(stub, POLICY, "p", {"name": "p", "policy": json.dumps(READ)})
    seen = []
    for number in range(1, 7):
        document = {**READ, "Statement": [{**READ["Statement"][0], "Sid": f"V{number}"}]}
        state = update(stub, POLICY, arn, state, {**inputs, "policy": json.dumps(document)})
        versions = aws("iam").list_policy_versions(PolicyArn=arn)["Versions"]
        seen.append(sorted(int(v["VersionId"][1:]) for v in versions))
        default = [v for v in versions if v["IsDefaultVersion"]][0]
        assert default["VersionId"] == f"v{number + 1}" and json.loads(state["policy"]) == document
    # Up to five versions; from then on the oldest non-default goes before a new one is created.
    assert seen == [[1, 2], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [3, 4, 5, 6, 7]]
    delete(stub, POLICY, arn, state)
    assert aws("iam").list_policies(Scope="Local")["Policies"] == []


def test_a_tag_only_policy_change_makes_no_new_version(stub, aws):
    arn, state, inputs = create(stub, POLICY, "p", {"name": "p", "policy": json.dumps(READ)})
    update(stub, POLICY, arn, state, {**inputs, "tags": {"team": "b"}})
    assert len(aws("iam").list_policy_versions(PolicyArn=arn)["Versions"]) == 1
    assert aws("iam").list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "team", "Value": "b"}]


def test_attachment_round_trip(stub, aws):
    make_role(stub)
    arn, _, _ = create(stub, POLICY, "p", {"name": "p", "policy": json.dumps(READ)})
    attachment_id, state, _ = create(stub, ATTACHMENT, "att", {"role": "app", "policyArn": arn})
    assert [p["PolicyArn"] for p in aws("iam").list_attached_role_policies(RoleName="app")["AttachedPolicies"]] == [arn]
    delete(stub, ATTACHMENT, attachment_id, state)
    assert aws("iam").list_attached_role_policies(RoleName="app")["AttachedPolicies"] == []


def test_role_delete_removes_only_what_terraform_would(stub, aws, monkeypatch):
    monkeypatch.setattr(iam_types, "DELETE_CONFLICT_RETRY_SECONDS", 0)
    arn, _, _ = create(stub, POLICY, "p", {"name": "p", "policy": json.dumps(READ)})
    # Policies put on the role outside its state: without force_detach_policies they stay,
    # and IAM refuses to delete a role that still has them.
    role_id, state, _ = make_role(stub)
    aws("iam").put_role_policy(RoleName="app", PolicyName="by-hand", PolicyDocument=json.dumps(READ))
    with pytest.raises(grpc.RpcError) as refused:
        delete(stub, ROLE, role_id, state)
    assert "DeleteConflict" in refused.value.details()
    assert aws("iam").get_role(RoleName="app")
    # A state that lists inline policies (as a refresh records them) deletes every inline one.
    _, refreshed, _ = read(stub, ROLE, role_id, state)
    assert refreshed["inlinePolicies"] == [{"name": "by-hand", "policy": normalize(READ)}]
    delete(stub, ROLE, role_id, refreshed)
    assert not aws("iam").list_roles()["Roles"]
    # force_detach_policies: managed and inline ones go, whatever the state lists.
    role_id, state, _ = make_role(stub, forceDetachPolicies=True)
    assert state["forceDetachPolicies"] is True
    aws("iam").attach_role_policy(RoleName="app", PolicyArn=arn)
    aws("iam").put_role_policy(RoleName="app", PolicyName="by-hand", PolicyDocument=json.dumps(READ))
    delete(stub, ROLE, role_id, state)
    assert not aws("iam").list_roles()["Roles"]
    assert aws("iam").get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0


# Read -------------------------------------------------------------------------------------------

def test_read_shows_drift_made_in_moto(stub, aws):
    role_id, role_state, role_inputs = make_role(stub, tags={"team": "a", "keep": "k"})
    policy_arn, policy_state, _ = create(stub, POLICY, "p", {"name": "p", "policy": json.dumps(READ)})
    inline_id, inline_state, _ = create(stub, ROLE_POLICY, "i", {"name": "read", "role": "app",
                                                                "policy": json.dumps(READ)})
    iam = aws("iam")
    iam.update_assume_role_policy(RoleName="app", PolicyDocument=json.dumps(OTHER_TRUST))
    iam.untag_role(RoleName="app", TagKeys=["team"])
    iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=json.dumps(OTHER_READ), SetAsDefault=True)
    iam.put_role_policy(RoleName="app", PolicyName="read", PolicyDocument=json.dumps(OTHER_READ))

    _, role, inputs = read(stub, ROLE, role_id, role_state, role_inputs)
    assert json.loads(role["assumeRolePolicy"]) == OTHER_TRUST
    assert role["tags"] == role["tagsAll"] == {"keep": "k"}
    # A refresh gives the inputs the refreshed values, but a document keeps its input text
    # (it has a StateFunc), and __defaults goes.
    assert inputs["tags"] == {"keep": "k"} and inputs["assumeRolePolicy"] == role_inputs["assumeRolePolicy"]
    assert "__defaults" not in inputs
    assert json.loads(read(stub, POLICY, policy_arn, policy_state)[1]["policy"]) == OTHER_READ
    assert json.loads(read(stub, ROLE_POLICY, inline_id, inline_state)[1]["policy"]) == OTHER_READ
    # The drift is then a diff against the program's inputs.
    assert "assumeRolePolicy" in diff(stub, ROLE, role, role_inputs).diffs


def test_an_equivalent_rewrite_in_moto_is_not_drift(stub, aws):
    role_id, state, _ = make_role(stub)
    reformatted = {"Statement": [{"Action": ["sts:AssumeRole"], "Principal": {"Service": "ec2.amazonaws.com"},
                                  "Effect": "Allow"}], "Version": "2012-10-17"}
    aws("iam").update_assume_role_policy(RoleName="app", PolicyDocument=json.dumps(reformatted))
    assert read(stub, ROLE, role_id, state)[1]["assumeRolePolicy"] == state["assumeRolePolicy"]


def test_reading_a_deleted_resource_returns_an_empty_id(stub, aws):
    role_id, role_state, _ = make_role(stub)
    policy_arn, policy_state, _ = create(stub, POLICY, "p", {"name": "p", "policy": json.dumps(READ)})
    inline_id, inline_state, _ = create(stub, ROLE_POLICY, "i", {"name": "read", "role": "app", "policy": json.dumps(READ)})
    attachment_id, attachment_state, _ = create(stub, ATTACHMENT, "a", {"role": "app", "policyArn": policy_arn})
    iam = aws("iam")
    iam.detach_role_policy(RoleName="app", PolicyArn=policy_arn)
    assert read(stub, ATTACHMENT, attachment_id, attachment_state)[0] == ""
    iam.delete_role_policy(RoleName="app", PolicyName="read")
    assert read(stub, ROLE_POLICY, inline_id, inline_state)[0] == ""
    iam.delete_policy(PolicyArn=policy_arn)
    assert read(stub, POLICY, policy_arn, policy_state)[0] == ""
    iam.delete_role(RoleName="app")
    found_id, properties, _ = read(stub, ROLE, role_id, role_state)
    assert found_id == "" and properties == {}


def test_import_reads_by_id_alone(stub):
    make_role(stub)
    arn, _, _ = create(stub, POLICY, "p", {"name": "p", "policy": json.dumps(READ)})
    create(stub, ATTACHMENT, "a", {"role": "app", "policyArn": arn})
    found_id, outputs, inputs = read(stub, ATTACHMENT, f"app/{arn}", {})
    assert found_id == f"app/{arn}" and outputs["role"] == "app" and outputs["policyArn"] == arn
    assert inputs == {"policyArn": arn, "role": "app", "__defaults": []}
    found_id, outputs, inputs = read(stub, ROLE, "app", {})
    assert found_id == "app" and outputs["forceDetachPolicies"] is False
    # Imported inputs leave out defaults and zero values.
    assert "path" not in inputs and "maxSessionDuration" not in inputs and inputs["name"] == "app"


# Invokes ----------------------------------------------------------------------------------------

def test_get_cluster_has_pulumi_aws_result_shape(stub, aws):
    aws("eks").create_cluster(name="dev", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
                              resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    cluster = aws("eks").describe_cluster(name="dev")["cluster"]
    result, failures = invoke(stub, GET_CLUSTER, {"name": "dev"})
    assert not failures
    assert set(result) == pulumi_names(pulumi_aws.eks.GetClusterResult)
    assert result["endpoint"] == cluster["endpoint"]
    assert result["certificateAuthorities"] == [{"data": cluster["certificateAuthority"]["data"]}]
    assert result["identities"] == [{"oidcs": [{"issuer": cluster["identity"]["oidc"]["issuer"]}]}]
    assert (result["id"], result["name"], result["region"], result["status"]) == ("dev", "dev", "us-east-1", "ACTIVE")
    assert isinstance(result["vpcConfig"], dict) and result["vpcConfig"]["subnetIds"] == ["subnet-1"]
    with pytest.raises(grpc.RpcError) as missing:
        invoke(stub, GET_CLUSTER, {"name": "nope"})
    assert "reading EKS Cluster (nope)" in missing.value.details()


def test_get_open_id_connect_provider_matches_urls_as_terraform_does(stub, aws):
    arn = aws("iam").create_open_id_connect_provider(
        Url="https://oidc.eks.us-east-1.amazonaws.com/id/ABC", ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["9" * 40], Tags=[{"Key": "team", "Value": "platform"}])["OpenIDConnectProviderArn"]
    result, failures = invoke(stub, GET_OIDC, {"url": "https://oidc.eks.us-east-1.amazonaws.com/id/ABC"})
    assert not failures
    assert set(result) == pulumi_names(pulumi_aws.iam.GetOpenIdConnectProviderResult)
    assert result == {"arn": arn, "clientIdLists": ["sts.amazonaws.com"], "id": arn, "tags": {"team": "platform"},
                      "thumbprintLists": ["9" * 40], "url": "oidc.eks.us-east-1.amazonaws.com/id/ABC"}
    # Only a leading "https://" is trimmed from the url looked for.
    assert invoke(stub, GET_OIDC, {"url": "oidc.eks.us-east-1.amazonaws.com/id/ABC"})[0]["arn"] == arn
    for other in ("http://oidc.eks.us-east-1.amazonaws.com/id/ABC", "https://oidc.eks.us-east-1.amazonaws.com/id/ABC/"):
        with pytest.raises(grpc.RpcError) as missing:
            invoke(stub, GET_OIDC, {"url": other})
        assert "couldn't find resource" in missing.value.details()
    assert invoke(stub, GET_OIDC, {"arn": arn})[0]["url"] == "oidc.eks.us-east-1.amazonaws.com/id/ABC"
    assert invoke(stub, GET_OIDC, {})[1] and invoke(stub, GET_OIDC, {"arn": arn, "url": "x"})[1]


def test_get_caller_identity_has_pulumi_aws_result_shape(stub, aws):
    result, failures = invoke(stub, GET_CALLER_IDENTITY, {})
    assert not failures
    assert set(result) == pulumi_names(pulumi_aws.GetCallerIdentityResult)
    identity = aws("sts").get_caller_identity()
    # caller_identity_data_source.go Read: the id is the account id, whatever was passed.
    assert result == {"accountId": ACCOUNT, "arn": identity["Arn"], "id": ACCOUNT, "userId": identity["UserId"]}
    assert invoke(stub, GET_CALLER_IDENTITY, {"id": "other"})[0]["id"] == ACCOUNT


# Refusals -----------------------------------------------------------------------------------------

def test_an_unimplemented_type_or_invoke_fails_naming_its_token(stub):
    bucket = "aws:s3/bucket:Bucket"
    calls = [
        lambda: stub.Check(provider_pb2.CheckRequest(urn=urn(bucket, "b"), news=to_struct({}))),
        lambda: stub.Diff(provider_pb2.DiffRequest(urn=urn(bucket, "b"))),
        lambda: stub.Create(provider_pb2.CreateRequest(urn=urn(bucket, "b"))),
        lambda: stub.Read(provider_pb2.ReadRequest(id="b", urn=urn(bucket, "b"))),
        lambda: stub.Update(provider_pb2.UpdateRequest(id="b", urn=urn(bucket, "b"))),
        lambda: stub.Delete(provider_pb2.DeleteRequest(id="b", urn=urn(bucket, "b"))),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as refused:
            call()
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED and bucket in refused.value.details()
    with pytest.raises(grpc.RpcError) as refused:
        invoke(stub, "aws:s3/getBucket:getBucket", {"bucket": "b"})
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED and "aws:s3/getBucket:getBucket" in refused.value.details()
    with pytest.raises(grpc.RpcError) as refused:
        stub.Construct(provider_pb2.ConstructRequest())
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED and "Construct" in refused.value.details()
