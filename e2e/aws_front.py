"""A thin front between ESO and moto that checks what moto does not.

It handles these calls and passes everything else to moto unchanged:

* `sts:AssumeRoleWithWebIdentity`: the token is verified as AWS verifies it (RS256 signature
  against the cluster's JWKS, `exp`/`nbf`, `iss` naming an IAM OIDC provider that exists in moto,
  `aud` among that provider's client IDs), then the role's trust policy is judged on
  `<issuer>:sub` and `<issuer>:aud` with IAM's StringEquals/StringLike semantics
  (`tests.aws.iam_matching.trust_admits`, the project's one copy of those rules). A refusal is
  answered as STS answers it; an admitted call goes to moto, and the session's access key is
  remembered with its role.
* `sts:AssumeRole` signed by a session the front made (any other caller goes to moto as it is):
  the target's trust policy and the calling role's own policies are judged together, as IAM
  judges them (`tests.aws.iam_matching.assume_role_denial`: the Principal, `sts:TagSession` for
  passed tags, `aws:PrincipalArn`, `aws:PrincipalTag/<key>` of the calling session,
  `aws:RequestTag/<key>`, `aws:TagKeys`); the caller's transitive tags pass to the new session,
  which is remembered with its tags (`role_sessions`) for Secrets Manager and for the next link
  of a chain. A refusal is STS's 403 AccessDenied, "User: <session ARN> is not authorized to
  perform: sts:AssumeRole on resource: <role ARN>".
* The EKS Pod Identity Agent and EKS Auth, for the clusters registered with `add_cluster`: at
  `pod_identity_endpoint(cluster)` (a loopback `http` URL, which the container credential
  providers of aws-sdk-go-v2 and botocore accept), a GET whose `Authorization` header is a
  ServiceAccount token (audience `pods.eks.amazonaws.com`) is answered as `AssumeRoleForPodIdentity`
  answers the agent: the token verified against the cluster's JWKS (`verified_claims`, then its
  issuer and audience), the association of its namespace and ServiceAccount found
  (`pod_identity.find`), the association's role assumed on the trust of the service
  `pods.eks.amazonaws.com` with `aws:SourceArn` the cluster's ARN and `aws:SourceAccount`, and the
  session tags EKS sets, all transitive, unless the association disables them (EKS User Guide,
  "Grant Pods access to AWS resources based on tags"). The answer is the agent's JSON
  (AccessKeyId, SecretAccessKey, Token, AccountId, Expiration); a refusal, the agent's plain text
  with EKS Auth's status (aws/eks-pod-identity-agent, pkg/handlers/eks_credential_handler.go and
  pkg/errors/errors.go).
* Secrets Manager calls: the caller is the assumed-role session whose access key signed the
  request (an unsigned call, or one signed with a key no session got, is refused as
  UnrecognizedClientException), or a deploying identity (the access keys given as
  `deployer_keys`), which may call anything but a read of a value: the explicit deny of
  `python -m stacks deployer-policy` (tools/deployer_policy/document.py, SECRET_READS), so no
  scenario can pass by reading a secret as the deployer. The role's inline and attached policies, read back from moto,
  are evaluated (`tests.aws.iam_matching.is_allowed`) against `secretsmanager:<Action>` on the
  secret's real ARN, with the condition keys the request carries (`VersionStage`, `VersionId`:
  `tests.aws.secret_requests.request_context`, and the session's `aws:PrincipalArn`,
  `aws:PrincipalAccount` and `aws:PrincipalTag/<key>`); a denial is answered as
  AccessDeniedException.

It also plays EKS for the harness's own cluster: `DescribeCluster` of a cluster registered with
`add_cluster` answers with the local API server's endpoint, CA and issuer in the shape of the EKS
API (`GET /clusters/<name>`); Pod Identity associations and add-ons of those clusters, which moto
lacks, are `e2e.eks_pod_identity`'s (`pod_identity`); any other EKS call goes to moto.

Assumptions, stated because AWS does not document them all: a request for a secret that does not
exist is judged against its name with a `-XXXXXX` suffix in place of the random one, so a grant
of `name-??????` gets ResourceNotFoundException and anything else AccessDeniedException. A request
tag that clashes with a transitive tag of the caller is refused as 400 InvalidParameterValue. A
ServiceAccount without an association, or a cluster EKS Auth does not know, is 404
ResourceNotFoundException; a token EKS Auth would not accept, 400 InvalidTokenException (or
ExpiredTokenException); a role whose trust refuses EKS, 403 AccessDeniedException. The Pod
Identity session is named `eks-<cluster>-<pod>-<uuid>` (EKS API Reference, AssumedRoleUser), cut
to STS's 64 characters, the ServiceAccount standing in for a pod the token is not bound to.
"""

import base64
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qs

import boto3
import requests
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from e2e import eks_pod_identity
from e2e.eks_pod_identity import PodIdentityAssociations
from tests.aws.iam_matching import (
    AssumeRoleRequest,
    RoleSession,
    ServicePrincipal,
    TransitiveTagConflict,
    UnsupportedPolicyElement,
    WebIdentityRequest,
    assume_role_denial,
    is_allowed,
    trust_admits,
)
from tests.aws.secret_requests import request_context
from tools.deployer_policy.document import SECRET_READS

WEB_IDENTITY = "AssumeRoleWithWebIdentity"
ASSUME_ROLE = "AssumeRole"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
# STS's longest RoleSessionName.
_SESSION_NAME_MAX = 64
_POD_IDENTITY_AGENT = re.compile(r"/eks-pod-identity/([0-9A-Za-z][A-Za-z0-9_-]*)/v1/credentials")
# EKS Auth's errors, and their HTTP status, which the agent answers with.
_EKS_AUTH_STATUS = {"InvalidTokenException": 400, "ExpiredTokenException": 400, "AccessDeniedException": 403,
                    "ResourceNotFoundException": 404, "InternalFailure": 500}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")
_DESCRIBE_CLUSTER = re.compile(r"/clusters/([0-9A-Za-z][A-Za-z0-9_-]*)")
_ACCESS_KEY = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}
PLACEHOLDER_SUFFIX = "-XXXXXX"
UNSIGNED, UNKNOWN, DEPLOYER = "unsigned", "unknown", "deployer"


def moto_client(service: str, moto_url: str, region: str = "us-east-1"):
    """A client of moto itself, as the account's administrator (moto accepts any key)."""
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # pragma: allowlist secret
    )


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _eks_auth_refusal(code: str, message: str) -> Refusal:
    return Refusal(_EKS_AUTH_STATUS[code], code, message)


def _members(params: dict[str, Any], name: str, suffix: str = "") -> list[str]:
    """The values of the query protocol's list `name` (`<name>.member.<n><suffix>`), in order."""
    found, n = [], 1
    while f"{name}.member.{n}{suffix}" in params:
        found.append(params[f"{name}.member.{n}{suffix}"])
        n += 1
    return found


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_key(jwk: dict[str, str]) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(
        int.from_bytes(_b64url(jwk["e"]), "big"), int.from_bytes(_b64url(jwk["n"]), "big")
    ).public_key()


def verified_claims(token: str, jwks: dict[str, Any], now: float) -> dict[str, Any]:
    """The token's claims, if its RS256 signature verifies against `jwks` and it is in date."""
    try:
        header_part, payload_part, signature_part = token.split(".")
        header = json.loads(_b64url(header_part))
        claims = json.loads(_b64url(payload_part))
    except ValueError:
        raise Refusal(400, "InvalidIdentityToken", "The web identity token is not a well-formed JWT") from None
    if header.get("alg") != "RS256":
        raise Refusal(400, "InvalidIdentityToken", f"Unsupported token signing algorithm {header.get('alg')!r}")
    keys = [key for key in jwks.get("keys", []) if key.get("kid") == header.get("kid") and key.get("kty") == "RSA"]
    if not keys:
        raise Refusal(400, "InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider")
    try:
        _public_key(keys[0]).verify(
            _b64url(signature_part),
            f"{header_part}.{payload_part}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise Refusal(400, "InvalidIdentityToken", "The web identity token's signature is invalid") from None
    if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= now:
        raise Refusal(400, "ExpiredTokenException", "Token is expired")
    if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > now:
        raise Refusal(400, "InvalidIdentityToken", "Token is not yet valid")
    return claims


@dataclass
class Decision:
    call: str
    allowed: bool
    principal: str
    resource: str
    reason: str = ""


@dataclass(frozen=True)
class AwsCall:
    """One request as it reached the front: who signed it (the access key), the service and
    region of its signature, the API operation and its parameters."""

    access_key: str
    service: str
    region: str
    operation: str
    params: dict[str, Any]


@dataclass
class FrontLog:
    """What the front decided, for tests and for the measurements' call counts; and every call."""

    decisions: list[Decision] = field(default_factory=list)
    calls: list[AwsCall] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, decision: Decision) -> None:
        with self.lock:
            self.decisions.append(decision)

    def record_call(self, call: AwsCall) -> None:
        with self.lock:
            self.calls.append(call)

    def calls_since(self, mark: int) -> list[AwsCall]:
        with self.lock:
            return list(self.calls[mark:])

    def calls_mark(self) -> int:
        with self.lock:
            return len(self.calls)

    def counts(self) -> Counter:
        with self.lock:
            return Counter((d.call, "allowed" if d.allowed else "denied") for d in self.decisions)

    def since(self, mark: int) -> list[Decision]:
        with self.lock:
            return list(self.decisions[mark:])

    def mark(self) -> int:
        with self.lock:
            return len(self.decisions)


class AwsFront:
    def __init__(self, moto_url: str, jwks: Callable[[], dict[str, Any]], host: str = "127.0.0.1", port: int = 0,
                 deployer_keys: tuple[str, ...] = ()):
        self.moto_url = moto_url.rstrip("/")
        self.deployer_keys = deployer_keys
        self._jwks_source = jwks
        self._jwks: Optional[dict[str, Any]] = None
        self.host, self.port = host, port
        self.log = FrontLog()
        # The sessions the front made, by access key: their role (`sessions`, what most readers
        # need), and the session itself, with its tags (`role_sessions`).
        self.sessions: dict[str, str] = {}
        self.role_sessions: dict[str, RoleSession] = {}
        self.clusters: dict[str, dict[str, Any]] = {}
        self.pod_identity = PodIdentityAssociations(self.clusters)
        self._http = requests.Session()
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # Lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "AwsFront":
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                front._handle(self)

            do_GET = do_PUT = do_DELETE = do_POST

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-front", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Closes the port: callers get connection refused until `start` binds it again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # Clients of moto itself, as the account's administrator ---------------------------------

    def _client(self, service: str, region: str = "us-east-1"):
        # Clients are thread-safe once made; making them is not, so it happens under a lock.
        with self._clients_lock:
            if (service, region) not in self._clients:
                self._clients[(service, region)] = moto_client(service, self.moto_url, region)
            return self._clients[(service, region)]

    def _jwks_with(self, kid: str) -> dict[str, Any]:
        if self._jwks is None or not any(key.get("kid") == kid for key in self._jwks.get("keys", [])):
            self._jwks = self._jwks_source()
        return self._jwks

    def add_cluster(self, name: str, region: str, endpoint: str, ca_data: str, issuer: str, version: str) -> None:
        account = self._client("sts", region).get_caller_identity()["Account"]
        self.clusters[name] = {
            "name": name,
            "arn": f"arn:aws:eks:{region}:{account}:cluster/{name}",
            "createdAt": time.time(),
            "version": version,
            "endpoint": endpoint,
            "roleArn": f"arn:aws:iam::{account}:role/{name}-cluster",
            "resourcesVpcConfig": {"subnetIds": [], "securityGroupIds": [], "endpointPublicAccess": True, "endpointPrivateAccess": False},
            "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.96.0.0/16", "ipFamily": "ipv4"},
            "identity": {"oidc": {"issuer": issuer}},
            "status": "ACTIVE",
            "certificateAuthority": {"data": ca_data},
            "platformVersion": "eks.1",
            "tags": {},
            "accessConfig": {"authenticationMode": "API"},
        }

    def pod_identity_endpoint(self, cluster_name: str) -> str:
        """The URL the EKS Pod Identity webhook would give a pod of `cluster_name` as
        `AWS_CONTAINER_CREDENTIALS_FULL_URI`."""
        return f"{self.url}/eks-pod-identity/{cluster_name}/v1/credentials"

    def pod_identity_endpoint_for(self, cluster_name: str, namespace: str, service_account: str) -> Optional[str]:
        """`pod_identity_endpoint` if `namespace/service_account` has an association in the
        cluster (the webhook changes only the pods of such accounts), else None."""
        found = self.pod_identity.find(cluster_name, namespace, service_account)
        return None if found is None else self.pod_identity_endpoint(cluster_name)

    # Requests -----------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        target = request.headers.get("X-Amz-Target", "")
        call = self._call(request, target, body)
        self.log.record_call(call)
        cluster = self.clusters.get(call.params["name"]) if (call.service, call.operation) == ("eks", "DescribeCluster") else None
        if cluster is not None:
            self.log.record(Decision("eks", True, self._caller(request), cluster["arn"], "DescribeCluster"))
            self._reply(request, 200, {"Content-Type": "application/json"}, json.dumps({"cluster": cluster}).encode())
            return
        answer = self.pod_identity.answer(request.command, request.path, body) if call.service == "eks" else None
        if answer is not None:
            reason = answer.operation if not answer.error else f"{answer.operation}: {answer.error}: {answer.body['message']}"
            self.log.record(Decision("eks", not answer.error, self._caller(request), answer.resource, reason))
            self._reply(request, answer.status, answer.headers(), answer.content())
            return
        agent = _POD_IDENTITY_AGENT.fullmatch(request.path.partition("?")[0]) if request.command == "GET" else None
        if agent is not None:
            self._pod_identity_credentials(request, agent.group(1))
            return
        try:
            if target.startswith("secretsmanager."):
                self._authorize_secrets_manager(request, call)
            elif not target and call.operation == WEB_IDENTITY:
                self._assume_role_with_web_identity(request, body)
                return
            elif not target and call.operation == ASSUME_ROLE and call.access_key in self.role_sessions:
                self._assume_role(request, body, call)
                return
        except Refusal as refusal:
            self._refuse(request, refusal, json_protocol=bool(target))
            return
        status, headers, content = self._forward(request, body)
        if not target.startswith("secretsmanager."):
            self.log.record(Decision("passthrough", True, self._caller(request), target or call.operation))
        self._reply(request, status, headers, content)

    @staticmethod
    def _call(request: BaseHTTPRequestHandler, target: str, body: bytes) -> AwsCall:
        """The call, by protocol: JSON (`X-Amz-Target`: Secrets Manager, KMS), query (`Action`
        in the form: IAM, STS) or REST (EKS, by path)."""
        credential = _CREDENTIAL.search(request.headers.get("Authorization", ""))
        key, region, service = credential.groups() if credential else (UNSIGNED, "", "")
        path, _, query = request.path.partition("?")
        if target:
            params = json.loads(body or b"{}")
            return AwsCall(key, service, region, target.split(".", 1)[1], params if isinstance(params, dict) else {})
        fields = {name: values[0] for name, values in (parse_qs(query) | parse_qs(body.decode(errors="replace"))).items()}
        if "Action" in fields:
            return AwsCall(key, service, region, fields.pop("Action"), fields)
        found = _DESCRIBE_CLUSTER.fullmatch(path)
        if service == "eks" and request.command == "GET" and found:
            return AwsCall(key, service, region, "DescribeCluster", {"name": found.group(1)})
        if service == "eks" and request.command == "GET" and path == "/clusters":
            return AwsCall(key, service, region, "ListClusters", {})
        routed = eks_pod_identity.route(request.command, path) if service == "eks" else None
        if routed is not None:
            document = json.loads(body) if body else {}
            fields = document if isinstance(document, dict) else {}
            return AwsCall(key, service, region, routed[0], fields | routed[1] | {name: values[0] for name, values in parse_qs(query).items()})
        return AwsCall(key, service, region, f"{request.command} {path}", {})

    def _caller(self, request: BaseHTTPRequestHandler) -> str:
        """The role whose session signed the request, else `unknown` (signed with a key no
        session got) or `unsigned`."""
        credential = _CREDENTIAL.search(request.headers.get("Authorization", ""))
        if credential is None:
            return UNSIGNED
        return self.sessions.get(credential.group(1), UNKNOWN)

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        response = self._http.request(
            request.command, self.moto_url + request.path, headers=headers, data=body, timeout=30
        )
        kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        return response.status_code, kept, response.content

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], content: bytes) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)

    def _refuse(self, request: BaseHTTPRequestHandler, refusal: Refusal, json_protocol: bool) -> None:
        if json_protocol:
            content = json.dumps({"__type": refusal.code, "message": refusal.message}).encode()
            headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": refusal.code}
        else:
            content = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                f"<Code>{refusal.code}</Code><Message>{refusal.message}</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            ).encode()
            headers = {"Content-Type": "text/xml"}
        self._reply(request, refusal.status, headers, content)

    # sts:AssumeRoleWithWebIdentity --------------------------------------------------------

    def _assume_role_with_web_identity(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        fields = parse_qs(body.decode(errors="replace")) | parse_qs(request.path.partition("?")[2])
        role_arn = fields.get("RoleArn", [""])[0]
        try:
            principal = self._admit_web_identity(role_arn, fields.get("WebIdentityToken", [""])[0])
        except Refusal as refusal:
            self.log.record(Decision("sts", False, "", role_arn, f"{refusal.code}: {refusal.message}"))
            raise
        status, headers, content = self._forward(request, body)
        found = _ACCESS_KEY.search(content.decode(errors="replace"))
        if status == 200 and found:
            self._remember(found.group(1), RoleSession(role_arn, fields.get("RoleSessionName", [""])[0]))
        self.log.record(Decision("sts", status == 200, principal, role_arn))
        self._reply(request, status, headers, content)

    def _admit_web_identity(self, role_arn: str, token: str) -> str:
        """The token's subject, if AWS would let it assume `role_arn`; raises Refusal otherwise."""
        try:
            kid = json.loads(_b64url(token.split(".")[0])).get("kid", "")
        except (ValueError, IndexError):
            kid = ""
        claims = verified_claims(token, self._jwks_with(kid), time.time())
        issuer = str(claims.get("iss", "")).removeprefix("https://")
        iam = self._client("iam")
        providers = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
        provider_arn = next((arn for arn in providers if arn.split(":oidc-provider/", 1)[-1] == issuer), None)
        if provider_arn is None:
            raise Refusal(400, "InvalidIdentityToken", f"No OpenIDConnect provider found in your account for https://{issuer}")
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        client_ids = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)["ClientIDList"]
        if len(audiences) != 1 or audiences[0] not in client_ids:
            raise Refusal(400, "InvalidIdentityToken", "Incorrect token audience")
        try:
            trust = iam.get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]["AssumeRolePolicyDocument"]
        except ClientError:
            trust = None
        subject = str(claims.get("sub", ""))
        claims_by_key = {f"{issuer}:sub": subject, f"{issuer}:aud": audiences[0]}
        document = json.loads(trust) if isinstance(trust, str) else trust
        if document is None or not trust_admits(document, WebIdentityRequest(provider_arn, claims_by_key)):
            raise Refusal(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        return subject

    # Sessions and roles -------------------------------------------------------------------

    def _remember(self, access_key: str, session: RoleSession) -> None:
        self.role_sessions[access_key] = session
        self.sessions[access_key] = session.role_arn

    def _role(self, role_arn: str) -> Optional[dict[str, Any]]:
        """The role `role_arn` names, as IAM holds it, or None when there is none."""
        try:
            role = self._client("iam").get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]
        except ClientError:
            return None
        if role["Arn"] != role_arn:
            return None
        trust = role["AssumeRolePolicyDocument"]
        return role | {"AssumeRolePolicyDocument": json.loads(trust) if isinstance(trust, str) else trust}

    def _role_tags(self, role_arn: str) -> dict[str, str]:
        tags = self._client("iam").list_role_tags(RoleName=role_arn.rsplit("/", 1)[-1])["Tags"]
        return {tag["Key"]: tag["Value"] for tag in tags}

    # sts:AssumeRole by a session the front made ---------------------------------------------

    def _assume_role(self, request: BaseHTTPRequestHandler, body: bytes, call: AwsCall) -> None:
        caller = self.role_sessions[call.access_key]
        role_arn = call.params.get("RoleArn", "")
        keys = _members(call.params, "Tags", ".Key")
        # The query parser drops empty values, and an empty tag value is a value.
        tags = {key: call.params.get(f"Tags.member.{n}.Value", "") for n, key in enumerate(keys, 1)}
        transitive = tuple(_members(call.params, "TransitiveTagKeys"))
        try:
            session = caller.chained(role_arn, call.params.get("RoleSessionName", ""), tags, transitive)
        except TransitiveTagConflict as conflict:
            self.log.record(Decision("sts", False, caller.role_arn, role_arn, str(conflict)))
            raise Refusal(400, "InvalidParameterValue", str(conflict)) from None
        role, caller_role = self._role(role_arn), self._role(caller.role_arn)
        try:
            if caller_role is None:
                denial = "the calling session's role no longer exists"
            elif role is None:
                denial = "the role does not exist"
            else:
                caller_tags = {tag["Key"]: tag["Value"] for tag in caller_role.get("Tags", [])}
                assume = AssumeRoleRequest(role_arn, caller, tags, transitive, caller_tags)
                denial = assume_role_denial(role["AssumeRolePolicyDocument"], self._policies(caller.role_arn), assume)
        except UnsupportedPolicyElement as error:
            raise Refusal(500, "InternalFailure", f"the front cannot judge this policy: {error}") from None
        if denial is not None:
            self.log.record(Decision("sts", False, caller.role_arn, role_arn, denial))
            raise Refusal(403, "AccessDenied",
                          f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
        status, headers, content = self._forward(request, body)
        found = _ACCESS_KEY.search(content.decode(errors="replace"))
        if status == 200 and found:
            self._remember(found.group(1), session)
        self.log.record(Decision("sts", status == 200, caller.role_arn, role_arn, ASSUME_ROLE))
        self._reply(request, status, headers, content)

    # The EKS Pod Identity Agent and EKS Auth -------------------------------------------------

    def _pod_identity_credentials(self, request: BaseHTTPRequestHandler, cluster_name: str) -> None:
        token = request.headers.get("Authorization", "")
        if not token:
            # The agent's own check, before it calls EKS Auth (internal/validation/request.go).
            self.log.record(Decision("eks-auth", False, UNSIGNED, cluster_name, "Service account token cannot be empty"))
            self._reply(request, 400, {"Content-Type": "text/plain; charset=utf-8"}, b"Service account token cannot be empty\n")
            return
        subject, resource = UNKNOWN, cluster_name
        try:
            cluster, kubernetes = self._pod_identity_token(cluster_name, token)
            namespace, account = kubernetes["namespace"], kubernetes["serviceaccount"]["name"]
            subject = f"system:serviceaccount:{namespace}:{account}"
            association = self.pod_identity.find(cluster_name, namespace, account)
            if association is None:
                raise _eks_auth_refusal("ResourceNotFoundException", f"No Pod Identity association found for {namespace}/{account}")
            resource = association["roleArn"]
            credentials = self._assume_role_for_pod_identity(cluster, association, kubernetes.get("pod") or {})
        except Refusal as refusal:
            self.log.record(Decision("eks-auth", False, subject, resource, f"{refusal.code}: {refusal.message}"))
            fault = "server" if refusal.status >= 500 else "client"
            message = f"[{uuid.uuid4()}]: ({refusal.code}): {refusal.message}, fault: {fault}\n"
            self._reply(request, refusal.status, {"Content-Type": "text/plain; charset=utf-8"}, message.encode())
            return
        self.log.record(Decision("eks-auth", True, subject, resource, "AssumeRoleForPodIdentity"))
        self._reply(request, 200, {"Content-Type": "application/json"}, json.dumps(credentials).encode())

    def _pod_identity_token(self, cluster_name: str, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The cluster and the token's `kubernetes.io` claims, if EKS Auth would accept the token
        from that cluster's agent; raises Refusal (with EKS Auth's code) otherwise."""
        cluster = self.clusters.get(cluster_name)
        if cluster is None:
            raise _eks_auth_refusal("ResourceNotFoundException", f"No cluster found for name: {cluster_name}.")
        try:
            kid = json.loads(_b64url(token.split(".")[0])).get("kid", "")
            claims = verified_claims(token, self._jwks_with(kid), time.time())
        except (ValueError, IndexError):
            raise _eks_auth_refusal("InvalidTokenException", "The service account token is not a well-formed JWT") from None
        except Refusal as refusal:
            code = "ExpiredTokenException" if refusal.code == "ExpiredTokenException" else "InvalidTokenException"
            raise _eks_auth_refusal(code, refusal.message) from None
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        kubernetes = claims.get("kubernetes.io") or {}
        if (claims.get("iss") != cluster["identity"]["oidc"]["issuer"] or POD_IDENTITY_SERVICE not in audiences
                or not kubernetes.get("namespace") or not (kubernetes.get("serviceaccount") or {}).get("name")):
            raise _eks_auth_refusal("InvalidTokenException", "The service account token is not one of this cluster's for EKS Pod Identity")
        return cluster, kubernetes

    def _assume_role_for_pod_identity(self, cluster: dict[str, Any], association: dict[str, Any],
                                      pod: dict[str, str]) -> dict[str, str]:
        """The agent's answer with a session of the association's role, if its trust admits EKS;
        raises Refusal otherwise."""
        role_arn, cluster_name = association["roleArn"], cluster["name"]
        if association.get("targetRoleArn"):
            raise _eks_auth_refusal("InternalFailure", "the front does not play an association's target role")
        tags = {} if association.get("disableSessionTags") else {
            "eks-cluster-arn": cluster["arn"],
            "eks-cluster-name": cluster_name,
            "kubernetes-namespace": association["namespace"],
            "kubernetes-service-account": association["serviceAccount"],
        } | ({"kubernetes-pod-name": pod["name"], "kubernetes-pod-uid": pod["uid"]} if pod else {})
        eks = ServicePrincipal(POD_IDENTITY_SERVICE, cluster["arn"], cluster["arn"].split(":")[4])
        role = self._role(role_arn)
        try:
            denial = "the role does not exist" if role is None else assume_role_denial(
                role["AssumeRolePolicyDocument"], [], AssumeRoleRequest(role_arn, eks, tags))
        except UnsupportedPolicyElement as error:
            raise _eks_auth_refusal("InternalFailure", f"the front cannot judge this policy: {error}") from None
        if denial is not None:
            raise _eks_auth_refusal("AccessDeniedException", f"EKS Auth cannot assume {role_arn}: {denial}")
        suffix = f"-{uuid.uuid4()}"
        name = f"eks-{cluster_name}-{pod.get('name') or association['serviceAccount']}"[:_SESSION_NAME_MAX - len(suffix)] + suffix
        issued = self._client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            TransitiveTagKeys=list(tags),
        )["Credentials"]
        self._remember(issued["AccessKeyId"], RoleSession(role_arn, name, tags, frozenset(tags)))
        return {
            "AccessKeyId": issued["AccessKeyId"],
            "SecretAccessKey": issued["SecretAccessKey"],
            "Token": issued["SessionToken"],
            "AccountId": role_arn.split(":")[4],
            "Expiration": issued["Expiration"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    # Secrets Manager ----------------------------------------------------------------------

    def _authorize_secrets_manager(self, request: BaseHTTPRequestHandler, call: AwsCall) -> None:
        action = call.operation
        if call.access_key in self.deployer_keys:
            allowed = f"secretsmanager:{action}" not in SECRET_READS
            self.log.record(Decision("secretsmanager", allowed, DEPLOYER, action))
            if not allowed:
                raise Refusal(400, "AccessDeniedException", f"the deploying identity may not perform secretsmanager:{action}")
            return
        role_arn = self._caller(request)
        if role_arn in (UNSIGNED, UNKNOWN):
            self.log.record(Decision("secretsmanager", False, role_arn, action, "unrecognized caller"))
            raise Refusal(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
        secret_id = call.params.get("SecretId")
        resource = self._secret_arn(secret_id, call.region) if secret_id else "*"
        session = self.role_sessions[call.access_key]
        context = request_context(call.params) | session.principal_context(self._role_tags(role_arn))
        try:
            allowed = is_allowed(self._policies(role_arn), f"secretsmanager:{action}", resource, context)
        except UnsupportedPolicyElement as error:
            raise Refusal(500, "InternalFailure", f"the front cannot judge this policy: {error}") from None
        self.log.record(Decision("secretsmanager", allowed, role_arn, resource, action))
        if not allowed:
            raise Refusal(
                400,
                "AccessDeniedException",
                f"User: {session.arn} is not authorized to perform: secretsmanager:{action} on resource: "
                f"{secret_id} because no identity-based policy allows the secretsmanager:{action} action",
            )

    def _secret_arn(self, secret_id: str, region: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        try:
            return self._client("secretsmanager", region).describe_secret(SecretId=secret_id)["ARN"]
        except ClientError:
            account = self._client("sts", region).get_caller_identity()["Account"]
            return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}{PLACEHOLDER_SUFFIX}"

    def _policies(self, role_arn: str) -> list[dict[str, Any]]:
        iam = self._client("iam")
        role = role_arn.rsplit("/", 1)[-1]
        documents = [
            iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        ]
        for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            documents.append(
                iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
            )
        return [json.loads(d) if isinstance(d, str) else d for d in documents]
