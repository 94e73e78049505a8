"""The end-to-end harness's AWS front, against moto's server and tokens signed here.

The documents are the program's own (`components.iam_documents`), so the front is judged on
what the program deploys.
"""

import base64
import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto.server import ThreadedMotoServer

from components.iam_documents import AwsIdentity, SecretGrant, permission_policy, service_account_subject, trust_policy
from e2e.aws_front import AwsFront, moto_client
from e2e.processes import free_port

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

    def token(self, sub: str, aud="sts.amazonaws.com", iss=f"https://{ISSUER}", exp_in=600, kid=None) -> str:
        header = _b64(json.dumps({"alg": "RS256", "kid": kid or self.kid, "typ": "JWT"}).encode())
        now = int(time.time())
        claims = {"iss": iss, "sub": sub, "aud": [aud] if isinstance(aud, str) else aud, "iat": now, "exp": now + exp_in}
        payload = _b64(json.dumps(claims).encode())
        signature = self.key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64(signature)}"


@pytest.fixture(scope="module")
def moto_url():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


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
