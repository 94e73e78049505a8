"""A thin front between ESO and moto that checks what moto does not.

It handles two kinds of call and passes everything else to moto unchanged:

* `sts:AssumeRoleWithWebIdentity`: the token is verified as AWS verifies it (RS256 signature
  against the cluster's JWKS, `exp`/`nbf`, `iss` naming an IAM OIDC provider that exists in moto,
  `aud` among that provider's client IDs), then the role's trust policy is judged on
  `<issuer>:sub` and `<issuer>:aud` with IAM's StringEquals/StringLike semantics
  (`tests.aws.iam_matching.trust_admits`, the project's one copy of those rules). A refusal is
  answered as STS answers it; an admitted call goes to moto, and the session's access key is
  remembered with its role.
* Secrets Manager calls: the caller is the assumed-role session whose access key signed the
  request (an unsigned call, or one signed with a key no session got, is refused as
  UnrecognizedClientException), or a deploying identity (the access keys given as
  `deployer_keys`), which may call anything but a read of a value: the explicit deny of
  `python -m stacks deployer-policy` (tools/deployer_policy/document.py, SECRET_READS), so no
  scenario can pass by reading a secret as the deployer. The role's inline and attached policies, read back from moto,
  are evaluated (`tests.aws.iam_matching.is_allowed`) against `secretsmanager:<Action>` on the
  secret's real ARN, with the condition keys the request carries (`VersionStage`, `VersionId`:
  `tests.aws.secret_requests.request_context`); a denial is answered as AccessDeniedException.

It also plays EKS for the harness's own cluster: `DescribeCluster` of a cluster registered with
`add_cluster` answers with the local API server's endpoint, CA and issuer in the shape of the EKS
API (`GET /clusters/<name>`); any other EKS call goes to moto.

Assumptions, stated because AWS does not document them all: a request for a secret that does not
exist is judged against its name with a `-XXXXXX` suffix in place of the random one, so a grant
of `name-??????` gets ResourceNotFoundException and anything else AccessDeniedException.
"""

import base64
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qs

import boto3
import requests
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.aws.iam_matching import UnsupportedPolicyElement, WebIdentityRequest, is_allowed, trust_admits
from tests.aws.secret_requests import request_context
from tools.deployer_policy.document import SECRET_READS

WEB_IDENTITY = "AssumeRoleWithWebIdentity"
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
        self.sessions: dict[str, str] = {}
        self.clusters: dict[str, dict[str, Any]] = {}
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
        try:
            if target.startswith("secretsmanager."):
                self._authorize_secrets_manager(request, call)
            elif not target and call.operation == WEB_IDENTITY:
                self._assume_role_with_web_identity(request, body)
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
            self.sessions[found.group(1)] = role_arn
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
        try:
            allowed = is_allowed(self._policies(role_arn), f"secretsmanager:{action}", resource, request_context(call.params))
        except UnsupportedPolicyElement as error:
            raise Refusal(500, "InternalFailure", f"the front cannot judge this policy: {error}") from None
        self.log.record(Decision("secretsmanager", allowed, role_arn, resource, action))
        if not allowed:
            session = role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/")
            raise Refusal(
                400,
                "AccessDeniedException",
                f"User: {session}/eso is not authorized to perform: secretsmanager:{action} on resource: "
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
