"""The program's plan, made real: IAM in moto and objects in the API server, as `pulumi up` would.

Nothing the program produces is written here by hand: roles, policies and Kubernetes objects
are read off `python -m stacks plan <stack> --format json`, the mock-engine run of the real
`__main__.py`. What the harness adds is what the program never creates: the OIDC provider
(the cluster's), the secrets' values (the application team's) and the namespaces' existence.
"""

import json
import time
import secrets as random_source
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml
from botocore.exceptions import ClientError

from components.manifests import FORCE_SYNC_ANNOTATION as FORCE_SYNC
from e2e.aws_front import moto_client
from e2e.kube import Kube
from e2e.processes import wait_until
from components.resource_types import (
    EXTERNAL_SECRET,
    MANAGED_POLICY,
    NAMESPACE,
    POLICY_ATTACHMENT,
    RELEASE,
    ROLE,
    ROLE_POLICY,
    SECRET_STORE,
)

REPOSITORY = Path(__file__).resolve().parent.parent
STS_AUDIENCE = "sts.amazonaws.com"
PART_OF = "app.kubernetes.io/part-of=eso-platform"
ESO_API = "external-secrets.io/v1"
ADMISSION_API = "admissionregistration.k8s.io/v1"
ESO_KINDS = ("SecretStore", "ExternalSecret")
POLICY_SETTLE_SECONDS = 2
ADMISSION_KINDS = ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy")
# Placeholder thumbprint: the front verifies tokens against the cluster's JWKS instead.
THUMBPRINT = "0" * 40
# Keys of an extracted secret with no `keys` in its service entry.
EXTRACTED_KEYS = ("first", "second")


def run_plan(stack: str | Path, issuer: str) -> dict[str, Any]:
    """The program's plan, as the CLI prints it, for the API server's issuer."""
    completed = subprocess.run(
        [sys.executable, "-m", "stacks", "plan", str(stack), "--format", "json", "--oidc-issuer", issuer],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"plan of {stack} failed ({completed.returncode}):\n{completed.stderr}")
    return json.loads(completed.stdout)


def write_stack(directory: Path, name: str, config: dict[str, Any]) -> Path:
    """A stack file for a generated stack, keyed as Pulumi keys it."""
    path = directory / f"Pulumi.{name}.yaml"
    keyed = {key if ":" in key else f"eso-platform:{key}": value for key, value in config.items()}
    path.write_text(yaml.safe_dump({"config": keyed}, sort_keys=False))
    return path


@dataclass(frozen=True)
class Delivery:
    """One planned ExternalSecret and where its secret lives."""

    namespace: str
    name: str
    secret_name: str
    secret_path: str
    region: str
    keys: Optional[tuple[str, ...]]


class Plan:
    def __init__(self, document: dict[str, Any], stack_file: Optional[Path] = None):
        self.document = document
        self.resources = document["resources"]
        self.stack_file = stack_file

    def of_type(self, type_token: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == type_token]

    @property
    def installs_operator(self) -> bool:
        return bool(self.of_type(RELEASE))

    @property
    def chart_values(self) -> dict[str, Any]:
        return self.of_type(RELEASE)[0]["inputs"]["values"]

    @property
    def operator_namespace(self) -> str:
        return self.of_type(RELEASE)[0]["inputs"]["namespace"]

    def kubernetes_objects(self) -> list[dict[str, Any]]:
        """Every Kubernetes object the program registers, the Helm release aside, namespaces first
        and ExternalSecrets last, as their dependencies order them."""
        order = {NAMESPACE: 0, SECRET_STORE: 2, EXTERNAL_SECRET: 3}
        found = [
            r for r in self.resources
            if r["type"].startswith("kubernetes:") and r["type"] != RELEASE and "kind" in r["inputs"]
        ]
        found.sort(key=lambda r: order.get(r["type"], 1))
        return [r["inputs"] for r in found]

    def deliveries(self) -> list[Delivery]:
        regions = {
            (s["inputs"]["metadata"]["namespace"], s["inputs"]["metadata"]["name"]): s["inputs"]["spec"]["provider"]["aws"]["region"]
            for s in self.of_type(SECRET_STORE)
        }
        found = []
        for resource in self.of_type(EXTERNAL_SECRET):
            metadata, spec = resource["inputs"]["metadata"], resource["inputs"]["spec"]
            if "dataFrom" in spec:
                path, keys = spec["dataFrom"][0]["extract"]["key"], None
            else:
                path = spec["data"][0]["remoteRef"]["key"]
                keys = tuple(entry["remoteRef"]["property"] for entry in spec["data"])
            found.append(
                Delivery(
                    namespace=metadata["namespace"],
                    name=metadata["name"],
                    secret_name=spec["target"]["name"],
                    secret_path=path,
                    region=regions[(metadata["namespace"], spec["secretStoreRef"]["name"])],
                    keys=keys,
                )
            )
        return found

    def oidc_provider_urls(self) -> set[str]:
        urls = set()
        for role in self.of_type(ROLE):
            for statement in role["inputs"]["assumeRolePolicy"]["Statement"]:
                urls.add(statement["Principal"]["Federated"].split(":oidc-provider/", 1)[1])
        return urls




def create_iam(plan: Plan, moto_url: str) -> None:
    """The OIDC provider and every planned role, inline policy, managed policy and attachment."""
    iam = moto_client("iam", moto_url)
    existing = {p["Arn"].split(":oidc-provider/", 1)[1] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]}
    for url in plan.oidc_provider_urls() - existing:
        iam.create_open_id_connect_provider(Url=f"https://{url}", ClientIDList=[STS_AUDIENCE], ThumbprintList=[THUMBPRINT])
    for role in plan.of_type(ROLE):
        inputs = role["inputs"]
        trust = json.dumps(inputs["assumeRolePolicy"])
        try:
            iam.create_role(RoleName=inputs["name"], AssumeRolePolicyDocument=trust, Description=inputs.get("description", ""))
        except ClientError as error:
            if error.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
            iam.update_assume_role_policy(RoleName=inputs["name"], PolicyDocument=trust)
    for policy in plan.of_type(ROLE_POLICY):
        inputs = policy["inputs"]
        iam.put_role_policy(RoleName=inputs["role"], PolicyName=inputs["name"], PolicyDocument=_text(inputs["policy"]))
    # Attachments name their policy by the ARN the mock engine made up; moto's own ARN is used.
    arns = {}
    for policy in plan.of_type(MANAGED_POLICY):
        inputs = policy["inputs"]
        path, document = inputs.get("path", "/"), _text(inputs["policy"])
        try:
            arn = iam.create_policy(PolicyName=inputs["name"], Path=path, PolicyDocument=document)["Policy"]["Arn"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
            account = moto_client("sts", moto_url).get_caller_identity()["Account"]
            arn = f"arn:aws:iam::{account}:policy{path}{inputs['name']}"
            for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
                if not version["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
            iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)
        arns[f"{path}{inputs['name']}"] = arn
    for attachment in plan.of_type(POLICY_ATTACHMENT):
        inputs = attachment["inputs"]
        planned_path = inputs["policyArn"].split(":policy", 1)[1]
        iam.attach_role_policy(RoleName=inputs["role"], PolicyArn=arns[planned_path])


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def secret_value(delivery: Delivery) -> dict[str, str]:
    """Fresh, meaningless test values: nothing here is a credential."""
    keys = delivery.keys or EXTRACTED_KEYS
    return {key: f"e2e-{key}-{random_source.token_hex(6)}" for key in keys}


def put_secret(moto_url: str, region: str, path: str, value: dict[str, str]) -> str:
    client = moto_client("secretsmanager", moto_url, region)
    try:
        return client.create_secret(Name=path, SecretString=json.dumps(value))["ARN"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceExistsException":
            raise
        return client.put_secret_value(SecretId=path, SecretString=json.dumps(value))["ARN"]


def seed_secrets(plan: Plan, moto_url: str) -> dict[tuple[str, str], dict[str, str]]:
    """A value at every planned path; returns the expected Kubernetes Secret data by (namespace, Secret)."""
    by_path: dict[tuple[str, str], dict[str, str]] = {}
    expected = {}
    for delivery in plan.deliveries():
        where = (delivery.region, delivery.secret_path)
        if where not in by_path:
            by_path[where] = secret_value(delivery)
            put_secret(moto_url, delivery.region, delivery.secret_path, by_path[where])
        value = by_path[where]
        keys = delivery.keys or tuple(value)
        expected[(delivery.namespace, delivery.secret_name)] = {key: value[key] for key in keys}
    return expected


def apply_kubernetes(admin: Kube, plan: Plan, prune: bool = True) -> None:
    """Server-side apply of the planned objects; with `prune`, ESO objects of the platform that the
    plan no longer has are deleted, as `pulumi up` deletes what a program stops registering."""
    objects = plan.kubernetes_objects()
    first_eso_object = next((i for i, o in enumerate(objects) if o["kind"] in ESO_KINDS), len(objects))
    for manifest in objects[:first_eso_object]:
        admin.apply(manifest)
    _wait_for_admission_policies(admin, objects)
    for manifest in objects[first_eso_object:]:
        admin.apply(manifest)
    if prune:
        wanted = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects}
        for kind in ("ExternalSecret", "SecretStore"):
            for found in admin.list(ESO_API, kind, selector=PART_OF):
                key = (kind, found["metadata"]["namespace"], found["metadata"]["name"])
                if key not in wanted:
                    admin.delete(ESO_API, kind, found["metadata"]["name"], found["metadata"]["namespace"])
        # The admission objects are cluster-wide: the last deployed stack's are the ones in force.
        removed = False
        for kind in ADMISSION_KINDS:
            for found in admin.list(ADMISSION_API, kind):
                name = found["metadata"]["name"]
                if name.startswith("eso-platform") and (kind, None, name) not in wanted:
                    admin.delete(ADMISSION_API, kind, name)
                    removed = True
        if removed:
            # A deleted policy, like a new one, takes a moment to leave the admission plugin's cache.
            time.sleep(POLICY_SETTLE_SECONDS)


def _wait_for_admission_policies(admin: Kube, objects: list[dict[str, Any]]) -> None:
    """Until the API server has taken in every planned policy. A new binding is enforced a moment
    after it is created, and ESO writes within milliseconds of an ExternalSecret's creation; see
    the README on the first deploy of the Secret guard."""
    waited = []
    for manifest in objects:
        if manifest["kind"] == "ValidatingAdmissionPolicy":
            name = manifest["metadata"]["name"]

            def observed() -> bool:
                found = admin.get(ADMISSION_API, "ValidatingAdmissionPolicy", name)
                return found.get("status", {}).get("observedGeneration") == found["metadata"]["generation"]

            wait_until(observed, 30, f"ValidatingAdmissionPolicy {name} observed", interval=0.1)
            waited.append(name)
    if waited:
        # Observed is not yet enforced: the admission plugin reads policies through its own cache.
        time.sleep(POLICY_SETTLE_SECONDS)
