"""The end-to-end harness's AWS front, against moto's server and tokens signed here.

The documents are the program's own (`components.iam_documents`), so the front is judged on
what the program deploys.
"""

import base64
import json
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.credentials import ContainerProvider
from botocore.exceptions import ClientError, CredentialRetrievalError, EndpointConnectionError
from botocore.utils import ContainerMetadataFetcher
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from components.iam_documents import AwsIdentity, SecretGrant, permission_policy, service_account_subject, trust_policy
from e2e.aws_front import AwsFront, moto_client
from e2e.eso_controller import _pod_identity_env
from tests.e2e.servers import moto_server

ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/E2ETESTISSUER0000000000000000000"
ACCOUNT = "123456789012"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
IDENTITY = AwsIdentity.from_oidc_provider_arn(PROVIDER_ARN)
ACCOUNT_NAME = "external-secret-operator"
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    def __init__(self, kid: str):
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
            "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64(numbers.e.to_bytes(3, "big")),
        }

    def token(self, sub: str, aud="sts.amazonaws.com", iss=f"https://{ISSUER}", exp_in=600, kid=None, **extra) -> str:
        header = _b64(json.dumps({"alg": "RS256", "kid": kid or self.kid, "typ": "JWT"}).encode())
        now = int(time.time())
        claims = {"iss": iss, "sub": sub, "aud": [aud] if isinstance(aud, str) else aud, "iat": now, "exp": now + exp_in, **extra}
        payload = _b64(json.dumps(claims).encode())
        signature = self.key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64(signature)}"


@pytest.fixture(scope="module")
def moto_url():
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def signer():
    return Signer("cluster-key")


def _admin(service: str, moto_url: str, region: str = "us-east-1"):
    return moto_client(service, moto_url, region)


@pytest.fixture(scope="module")
def world(moto_url):
    """Two namespaces' roles as the program writes them, and their secrets plus a look-alike."""
    iam = _admin("iam", moto_url)
    iam.create_open_id_connect_provider(Url=f"https://{ISSUER}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["0" * 40])
    secrets = {}
    for path in ("dev/app/api", "dev/app/api-v2", "dev/app/billing"):
        secrets[path] = _admin("secretsmanager", moto_url).create_secret(Name=path, SecretString='{"k": "not-a-secret"}')["ARN"]
    granted = {"api": ["dev/app/api"], "billing": ["dev/app/billing"], "ghost": ["dev/app/ghost"]}
    for namespace, paths in granted.items():
        role = f"eso-dev.{namespace}"
        subject = service_account_subject(namespace, ACCOUNT_NAME)
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust_policy(IDENTITY, [subject])))
        policy = permission_policy(IDENTITY, [SecretGrant("us-east-1", p) for p in paths], [])
        iam.put_role_policy(RoleName=role, PolicyName="read-secrets", PolicyDocument=json.dumps(policy))
    wildcard = trust_policy(IDENTITY, [], wildcard_service_account=ACCOUNT_NAME)
    iam.create_role(RoleName="eso-dev.shared", AssumeRolePolicyDocument=json.dumps(wildcard))
    return secrets


@pytest.fixture()
def front(moto_url, signer, world):
    started = AwsFront(moto_url, lambda: {"keys": [signer.jwk()]}).start()
    yield started
    started.stop()


def _sts(front):
    return boto3.client("sts", region_name="us-east-1", endpoint_url=front.url, config=NO_RETRIES,
                        aws_access_key_id="unused", aws_secret_access_key="unused")


def _assume(front, token: str, role: str = "eso-dev.api") -> dict:
    return _sts(front).assume_role_with_web_identity(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="eso", WebIdentityToken=token
    )["Credentials"]


def _secrets_client(front, credentials: dict):
    return boto3.client(
        "secretsmanager", region_name="us-east-1", endpoint_url=front.url, config=NO_RETRIES,
        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _error(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def test_the_namespace_account_reads_exactly_its_secret(front, signer, world):
    credentials = _assume(front, signer.token(service_account_subject("api", ACCOUNT_NAME)))
    client = _secrets_client(front, credentials)
    assert json.loads(client.get_secret_value(SecretId="dev/app/api", VersionStage="AWSCURRENT")["SecretString"]) == {"k": "not-a-secret"}
    # Its own secret, but not as ESO asks for it: the read statement's conditions are judged.
    assert _error(lambda: client.get_secret_value(SecretId="dev/app/api")) == "AccessDeniedException"
    assert _error(lambda: client.get_secret_value(SecretId="dev/app/api-v2", VersionStage="AWSCURRENT")) == "AccessDeniedException"
    assert _error(lambda: client.get_secret_value(SecretId=world["dev/app/billing"], VersionStage="AWSCURRENT")) == "AccessDeniedException"
    assert _error(lambda: client.list_secrets()) == "AccessDeniedException"
    counts = front.log.counts()
    assert counts[("sts", "allowed")] == 1
    assert counts[("secretsmanager", "allowed")] == 1
    assert counts[("secretsmanager", "denied")] == 4


def test_a_missing_secret_is_not_found_only_where_its_name_is_granted(front, signer):
    credentials = _assume(front, signer.token(service_account_subject("ghost", ACCOUNT_NAME)), "eso-dev.ghost")
    client = _secrets_client(front, credentials)
    assert _error(lambda: client.get_secret_value(SecretId="dev/app/ghost", VersionStage="AWSCURRENT")) == "ResourceNotFoundException"
    assert _error(lambda: client.get_secret_value(SecretId="dev/app/never-created", VersionStage="AWSCURRENT")) == "AccessDeniedException"


@pytest.mark.parametrize(
    "token_args, code",
    [
        ({"sub": service_account_subject("billing", ACCOUNT_NAME)}, "AccessDenied"),
        ({"sub": service_account_subject("api", "default")}, "AccessDenied"),
        ({"sub": service_account_subject("api", ACCOUNT_NAME), "aud": "other-audience"}, "InvalidIdentityToken"),
        ({"sub": service_account_subject("api", ACCOUNT_NAME), "exp_in": -5}, "ExpiredTokenException"),
        ({"sub": service_account_subject("api", ACCOUNT_NAME), "iss": "https://oidc.eks.us-east-1.amazonaws.com/id/OTHER"}, "InvalidIdentityToken"),
        ({"sub": service_account_subject("api", ACCOUNT_NAME), "kid": "unknown-key"}, "InvalidIdentityToken"),
    ],
    ids=["other-namespace", "other-account", "audience", "expired", "issuer-without-provider", "unknown-key"],
)
def test_tokens_aws_would_refuse_are_refused(front, signer, token_args, code):
    token = signer.token(**token_args)
    assert _error(lambda: _assume(front, token)) == code
    assert front.log.counts()[("sts", "denied")] == 1
    assert not front.sessions


def test_a_token_signed_by_another_key_is_refused(front):
    forger = Signer("cluster-key")
    token = forger.token(service_account_subject("api", ACCOUNT_NAME))
    assert _error(lambda: _assume(front, token)) == "InvalidIdentityToken"


def test_the_wildcard_role_admits_the_account_in_any_namespace_and_no_other_account(front, signer):
    assert _assume(front, signer.token(service_account_subject("anything", ACCOUNT_NAME)), "eso-dev.shared")
    token = signer.token(service_account_subject("anything", "default"))
    assert _error(lambda: _assume(front, token, "eso-dev.shared")) == "AccessDenied"


def test_secrets_manager_refuses_callers_without_an_assumed_session(front):
    unsigned = moto_client("secretsmanager", front.url)
    assert _error(lambda: unsigned.get_secret_value(SecretId="dev/app/api")) == "UnrecognizedClientException"
    assert front.log.counts()[("secretsmanager", "denied")] == 1


def test_a_deploying_identity_may_describe_a_secret_but_never_read_it(moto_url, signer, world):
    deploying = AwsFront(moto_url, lambda: {"keys": [signer.jwk()]}, deployer_keys=("deployer",)).start()
    try:
        client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=deploying.url, config=NO_RETRIES,
                              aws_access_key_id="deployer", aws_secret_access_key="deployer")  # pragma: allowlist secret
        assert client.describe_secret(SecretId="dev/app/api")["Name"] == "dev/app/api"
        assert _error(lambda: client.get_secret_value(SecretId="dev/app/api")) == "AccessDeniedException"
        assert _error(lambda: client.batch_get_secret_value(SecretIdList=["dev/app/api"])) == "AccessDeniedException"
        other = moto_client("secretsmanager", deploying.url)
        assert _error(lambda: other.describe_secret(SecretId="dev/app/api")) == "UnrecognizedClientException"
    finally:
        deploying.stop()


def test_stopping_the_front_refuses_connections_until_it_starts_again(front, signer):
    token = signer.token(service_account_subject("api", ACCOUNT_NAME))
    front.stop()
    with pytest.raises(EndpointConnectionError):
        _assume(front, token)
    front.start()
    assert _assume(front, token)["AccessKeyId"]


def test_calls_passed_to_moto_are_logged_with_their_caller(front, signer):
    assert _sts(front).get_caller_identity()["Account"] == ACCOUNT
    credentials = _assume(front, signer.token(service_account_subject("api", ACCOUNT_NAME)))
    session = boto3.client("sts", region_name="us-east-1", endpoint_url=front.url, config=NO_RETRIES,
                           aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                           aws_session_token=credentials["SessionToken"])
    session.get_caller_identity()
    passed = [(d.principal, d.resource) for d in front.log.decisions if d.call == "passthrough"]
    assert passed == [("unknown", "GetCallerIdentity"), (f"arn:aws:iam::{ACCOUNT}:role/eso-dev.api", "GetCallerIdentity")]


# EKS Pod Identity, and sts:AssumeRole by the session it gives ------------------------------
# The documents are literal, of the shape Pod Identity mode uses, so that each rule of the front
# can be taken away on its own.

CLUSTER = "pi-cluster"
CLUSTER_ARN = f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{CLUSTER}"
OPERATOR_NAMESPACE = SERVICE_ACCOUNT = "external-secrets"
CONTROLLER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/pi-controller"
BOTH = ["sts:AssumeRole", "sts:TagSession"]
ESO_TAGS = {"esoNamespace": "api", "esoStoreName": "aws", "esoStoreKind": "SecretStore"}


def _namespace_trust(namespace: str, actions=BOTH) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": actions,
        "Condition": {
            "ArnEquals": {"aws:PrincipalArn": CONTROLLER_ROLE},
            "StringEquals": {
                "aws:RequestTag/esoNamespace": namespace,
                "aws:RequestTag/esoStoreKind": "SecretStore",
                "aws:PrincipalTag/eks-cluster-arn": CLUSTER_ARN,
                "aws:PrincipalTag/kubernetes-namespace": OPERATOR_NAMESPACE,
                "aws:PrincipalTag/kubernetes-service-account": SERVICE_ACCOUNT,
            },
        },
    }]}


@pytest.fixture(scope="module")
def pod_world(moto_url, world):
    """The controller role EKS Pod Identity assumes, and namespace roles it may (`pi.api`, and
    `pi.untaggable` whose trust lacks sts:TagSession) or may not (`pi.billing`) assume."""
    iam = _admin("iam", moto_url)
    controller_trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": BOTH,
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnEquals": {"aws:SourceArn": CLUSTER_ARN}},
    }]}
    iam.create_role(RoleName="pi-controller", AssumeRolePolicyDocument=json.dumps(controller_trust))
    assumable = [f"arn:aws:iam::{ACCOUNT}:role/pi.api", f"arn:aws:iam::{ACCOUNT}:role/pi.untaggable"]
    iam.put_role_policy(RoleName="pi-controller", PolicyName="assume", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": BOTH, "Resource": assumable}]}))
    read = permission_policy(IDENTITY, [SecretGrant("us-east-1", "dev/app/api")], [])
    for role, trust in (("pi.api", _namespace_trust("api")), ("pi.billing", _namespace_trust("billing")),
                        ("pi.untaggable", _namespace_trust("api", "sts:AssumeRole"))):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=role, PolicyName="read-secrets", PolicyDocument=json.dumps(read))


@pytest.fixture()
def agent(front, pod_world):
    """The front playing EKS for `CLUSTER`, the controller's ServiceAccount associated."""
    front.add_cluster(CLUSTER, "us-east-1", "https://127.0.0.1:6443", "", f"https://{ISSUER}", "1.36")
    front.pod_identity.create(CLUSTER, OPERATOR_NAMESPACE, SERVICE_ACCOUNT, CONTROLLER_ROLE)
    return front


def _pod_token(signer, namespace=OPERATOR_NAMESPACE, account=SERVICE_ACCOUNT, aud="pods.eks.amazonaws.com", **args) -> str:
    claims = {"namespace": namespace, "serviceaccount": {"name": account, "uid": "u-1"},
              "pod": {"name": "external-secrets-7d9f", "uid": "p-1"}}
    return signer.token(service_account_subject(namespace, account), aud=aud, **{"kubernetes.io": claims}, **args)


class PatientFetcher(ContainerMetadataFetcher):
    """The SDK's fetcher, waiting 30 s rather than 2: on a busy CI machine the agent can take
    longer than 2 s, and the SDK's retry then asks for a second session that the tests count."""

    TIMEOUT_SECONDS = 30


def _container_credentials(front, token: str, tmp_path, cluster=CLUSTER) -> dict:
    """What the SDK's container credential provider gets, as a pod's env points it at the agent."""
    token_file = tmp_path / "eks-pod-identity-token"
    token_file.write_text(token)
    environ = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": front.pod_identity_endpoint(cluster),
               "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file)}
    provider = ContainerProvider(environ=environ, fetcher=PatientFetcher(sleep=lambda _: None))
    frozen = provider.load().get_frozen_credentials()
    return {"AccessKeyId": frozen.access_key, "SecretAccessKey": frozen.secret_key, "SessionToken": frozen.token}


def _session_sts(front, credentials: dict):
    return boto3.client("sts", region_name="us-east-1", endpoint_url=front.url, config=NO_RETRIES,
                        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


def _assume_tagged(front, credentials: dict, role: str, tags=ESO_TAGS, **extra) -> dict:
    return _session_sts(front, credentials).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="eso",
        Tags=[{"Key": key, "Value": value} for key, value in tags.items()], **extra,
    )["Credentials"]


def _eks_auth(front) -> list:
    return [(d.allowed, d.principal, d.resource, d.reason) for d in front.log.decisions if d.call == "eks-auth"]


def test_the_associated_account_gets_a_tagged_session_that_reads_no_secret_itself(agent, signer, tmp_path):
    credentials = _container_credentials(agent, _pod_token(signer), tmp_path)
    session = agent.role_sessions[credentials["AccessKeyId"]]
    assert session.role_arn == CONTROLLER_ROLE and session.name.startswith(f"eks-{CLUSTER}-external-secrets-7d9f"[:27])
    assert dict(session.tags) == {
        "eks-cluster-arn": CLUSTER_ARN, "eks-cluster-name": CLUSTER, "kubernetes-namespace": OPERATOR_NAMESPACE,
        "kubernetes-service-account": SERVICE_ACCOUNT, "kubernetes-pod-name": "external-secrets-7d9f", "kubernetes-pod-uid": "p-1",
    }
    assert session.transitive_keys == frozenset(session.tags)
    assert _eks_auth(agent) == [(True, service_account_subject(OPERATOR_NAMESPACE, SERVICE_ACCOUNT), CONTROLLER_ROLE, "AssumeRoleForPodIdentity")]
    assert _error(lambda: _secrets_client(agent, credentials).get_secret_value(SecretId="dev/app/api", VersionStage="AWSCURRENT")) == "AccessDeniedException"


def test_the_controller_session_assumes_the_namespace_role_with_eso_tags_and_reads_its_secret(agent, signer, tmp_path):
    controller = _container_credentials(agent, _pod_token(signer), tmp_path)
    credentials = _assume_tagged(agent, controller, "pi.api")
    client = _secrets_client(agent, credentials)
    assert json.loads(client.get_secret_value(SecretId="dev/app/api", VersionStage="AWSCURRENT")["SecretString"]) == {"k": "not-a-secret"}
    chained = agent.role_sessions[credentials["AccessKeyId"]]
    # The EKS tags are transitive: the namespace session holds them beside ESO's.
    assert dict(chained.tags)["kubernetes-namespace"] == OPERATOR_NAMESPACE and dict(chained.tags)["esoNamespace"] == "api"
    assert ("sts", True, CONTROLLER_ROLE, f"arn:aws:iam::{ACCOUNT}:role/pi.api") in [
        (d.call, d.allowed, d.principal, d.resource) for d in agent.log.decisions]


@pytest.mark.parametrize(
    "role, tags, reason",
    [
        ("pi.api", {**ESO_TAGS, "esoNamespace": "billing"}, "does not allow sts:AssumeRole"),
        ("pi.api", {}, "does not allow sts:AssumeRole"),
        ("pi.untaggable", ESO_TAGS, "does not allow sts:TagSession"),
        ("pi.billing", {**ESO_TAGS, "esoNamespace": "billing"}, "no identity-based policy allows the sts:AssumeRole action"),
        ("pi.missing", ESO_TAGS, "the role does not exist"),
    ],
    ids=["wrong-esoNamespace", "no-tags", "trust-without-TagSession", "caller-without-identity-permission", "no-such-role"],
)
def test_assume_role_refusals_are_sts_access_denied(agent, signer, tmp_path, role, tags, reason):
    controller = _container_credentials(agent, _pod_token(signer), tmp_path)
    with pytest.raises(ClientError) as raised:
        _assume_tagged(agent, controller, role, tags)
    error = raised.value.response["Error"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    session = agent.role_sessions[controller["AccessKeyId"]].name
    assert (error["Code"], error["Message"]) == ("AccessDenied", (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/pi-controller/{session} is not authorized to perform: "
        f"sts:AssumeRole on resource: arn:aws:iam::{ACCOUNT}:role/{role}"))
    [decision] = [d for d in agent.log.decisions if d.call == "sts"]
    assert (decision.allowed, decision.resource) == (False, f"arn:aws:iam::{ACCOUNT}:role/{role}") and reason in decision.reason
    assert len(agent.role_sessions) == 1


def test_a_request_tag_may_not_replace_a_transitive_tag_of_the_caller(agent, signer, tmp_path):
    controller = _container_credentials(agent, _pod_token(signer), tmp_path)
    code = _error(lambda: _assume_tagged(agent, controller, "pi.api", {**ESO_TAGS, "kubernetes-namespace": OPERATOR_NAMESPACE}))
    assert code == "InvalidParameterValue"


def test_a_session_without_the_eks_tags_is_refused_by_the_namespace_trust(front, pod_world, signer, tmp_path):
    front.add_cluster(CLUSTER, "us-east-1", "https://127.0.0.1:6443", "", f"https://{ISSUER}", "1.36")
    front.pod_identity.create(CLUSTER, OPERATOR_NAMESPACE, SERVICE_ACCOUNT, CONTROLLER_ROLE, disable_session_tags=True)
    controller = _container_credentials(front, _pod_token(signer), tmp_path)
    assert not front.role_sessions[controller["AccessKeyId"]].tags
    assert _error(lambda: _assume_tagged(front, controller, "pi.api")) == "AccessDenied"


@pytest.mark.parametrize(
    "token_args, cluster, code",
    [
        ({"account": "default"}, CLUSTER, "ResourceNotFoundException"),
        ({"namespace": "api"}, CLUSTER, "ResourceNotFoundException"),
        ({"aud": "sts.amazonaws.com"}, CLUSTER, "InvalidTokenException"),
        ({"exp_in": -5}, CLUSTER, "ExpiredTokenException"),
        ({"kid": "unknown-key"}, CLUSTER, "InvalidTokenException"),
        ({"iss": "https://oidc.eks.us-east-1.amazonaws.com/id/OTHER"}, CLUSTER, "InvalidTokenException"),
        ({}, "unknown-cluster", "ResourceNotFoundException"),
    ],
    ids=["unassociated-account", "unassociated-namespace", "audience", "expired", "unknown-key", "other-issuer", "unknown-cluster"],
)
def test_the_agent_refuses_what_eks_auth_would(agent, signer, tmp_path, token_args, cluster, code):
    with pytest.raises(CredentialRetrievalError):
        _container_credentials(agent, _pod_token(signer, **token_args), tmp_path, cluster)
    refusals = [reason for allowed, _, _, reason in _eks_auth(agent) if not allowed]
    assert refusals and all(reason.startswith(f"{code}:") for reason in refusals)
    assert not agent.role_sessions


def test_the_agent_answers_a_missing_token_and_a_trust_of_another_cluster_as_errors(agent, signer, tmp_path):
    response = requests.get(agent.pod_identity_endpoint(CLUSTER), timeout=10)
    assert (response.status_code, response.text) == (400, "Service account token cannot be empty\n")
    other = "pi-other"
    agent.add_cluster(other, "us-east-1", "https://127.0.0.1:6443", "", f"https://{ISSUER}", "1.36")
    agent.pod_identity.create(other, OPERATOR_NAMESPACE, SERVICE_ACCOUNT, CONTROLLER_ROLE)
    response = requests.get(agent.pod_identity_endpoint(other), headers={"Authorization": _pod_token(signer)}, timeout=10)
    assert response.status_code == 403 and "(AccessDeniedException)" in response.text
    assert _eks_auth(agent)[-1][:3] == (False, service_account_subject(OPERATOR_NAMESPACE, SERVICE_ACCOUNT), CONTROLLER_ROLE)


def test_transitive_tag_keys_of_the_request_join_the_callers(agent, signer, tmp_path):
    controller = _container_credentials(agent, _pod_token(signer), tmp_path)
    credentials = _assume_tagged(agent, controller, "pi.api", TransitiveTagKeys=["esoNamespace"])
    session = agent.role_sessions[credentials["AccessKeyId"]]
    assert session.transitive_keys == agent.role_sessions[controller["AccessKeyId"]].transitive_keys | {"esoNamespace"}
    assert session.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/pi.api/eso"


class _TokenIssuer:
    """The admin client's TokenRequest, answered with the test cluster's tokens."""

    def __init__(self, signer):
        self.signer, self.requests = signer, []

    def token(self, namespace, account, audiences=None, seconds=86400):
        self.requests.append((namespace, account, audiences, seconds))
        return _pod_token(self.signer, namespace, account, aud=audiences)


def test_the_webhook_env_of_an_associated_account_gets_credentials_and_an_unassociated_one_gets_none(agent, signer, tmp_path):
    admin = _TokenIssuer(signer)
    agent_for = lambda namespace, account: agent.pod_identity_endpoint_for(CLUSTER, namespace, account)  # noqa: E731
    assert _pod_identity_env(admin, OPERATOR_NAMESPACE, "default", agent_for, tmp_path) == {}
    assert _pod_identity_env(admin, OPERATOR_NAMESPACE, SERVICE_ACCOUNT, None, tmp_path) == {}
    env = _pod_identity_env(admin, OPERATOR_NAMESPACE, SERVICE_ACCOUNT, agent_for, tmp_path)
    assert admin.requests == [(OPERATOR_NAMESPACE, SERVICE_ACCOUNT, ["pods.eks.amazonaws.com"], 86400)]
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == agent.pod_identity_endpoint(CLUSTER)
    token_file = Path(env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"])
    assert token_file.stat().st_mode & 0o777 == 0o600
    frozen = ContainerProvider(environ=env).load().get_frozen_credentials()
    assert agent.role_sessions[frozen.access_key].role_arn == CONTROLLER_ROLE
