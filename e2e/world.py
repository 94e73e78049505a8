"""What the harness knows of a stack before the engine deploys it, and what it adds itself.

`python -m stacks plan <stack> --format json` (the mock-engine run of the real `__main__.py`)
says which secrets a config reads and which ExternalSecrets it makes, so the harness can seed
values and wait for them; the roles, policies and objects themselves are created by `pulumi up`.
The harness adds only what the program never creates: the cluster's OIDC provider in IAM and
the secrets' values (the application team's).
"""

import json
import secrets as random_source
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml
from botocore.exceptions import ClientError

from e2e.aws_front import moto_client
from components.resource_types import EXTERNAL_SECRET, NAMESPACE, RELEASE, ROLE, SECRET_STORE

REPOSITORY = Path(__file__).resolve().parent.parent
STS_AUDIENCE = "sts.amazonaws.com"
ESO_API = "external-secrets.io/v1"
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
    directory.mkdir(parents=True, exist_ok=True)
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
    """What the program registers for `config`, read off the mock-engine plan."""

    def __init__(self, document: dict[str, Any], config: dict[str, Any], stack_file: Path):
        self.document = document
        self.resources = document["resources"]
        self.config = config
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




def create_oidc_provider(moto_url: str, issuer: str) -> None:
    """The cluster's IAM OIDC provider, as `eksctl utils associate-iam-oidc-provider` makes it."""
    iam = moto_client("iam", moto_url)
    url = issuer.removeprefix("https://")
    existing = {p["Arn"].split(":oidc-provider/", 1)[1] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]}
    if url not in existing:
        iam.create_open_id_connect_provider(Url=f"https://{url}", ClientIDList=[STS_AUDIENCE], ThumbprintList=[THUMBPRINT])


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
