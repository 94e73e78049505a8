"""A namespace whose exact grants grow by one service, then past twice the managed policies, and
shrink back: no policy is replaced and the role never loses a read while `pulumi up` runs, as
readers polling Secrets Manager see (one of them reads a secret whose grant moves)."""

import json
import threading
import time

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from components.resource_types import MANAGED_POLICY, POLICY_ATTACHMENT, ROLE
from e2e.aws_front import moto_client
from e2e.engine import REPLACING
from stacks.access import role_specs
from stacks.loading import load_stack

pytestmark = pytest.mark.timeout(900)
NAMESPACE = "grow"
ACCOUNT = "external-secret-operator"
REGION = "us-east-1"
LONG_NAME = "service-with-a-deliberately-long-name-for-iam-{:03d}"


def services(count: int) -> list[dict[str, str]]:
    return [{"name": LONG_NAME.format(index), "namespace": NAMESPACE} for index in range(count)]


def config(count: int) -> dict:
    return {"aws:region": REGION, "environment": "grw", "cluster": {"name": "platform-dev"}, "services": services(count)}


class Reader(threading.Thread):
    """Reads one secret every 50 ms as the namespace's role, with credentials from STS for the
    tenant ServiceAccount's real token, as ESO does (the current version, by stage)."""

    def __init__(self, harness, role_arn: str, secret_id: str):
        super().__init__(daemon=True)
        # As the controller: the admission guard refuses the account's token to anyone else.
        token = harness.admin.as_token(harness.controller.credentials()).token(NAMESPACE, ACCOUNT, ["sts.amazonaws.com"])
        sts = boto3.client("sts", region_name=REGION, endpoint_url=harness.front.url, config=Config(signature_version=UNSIGNED))
        credentials = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="reader", WebIdentityToken=token)["Credentials"]
        self.client = boto3.client(
            "secretsmanager", region_name=REGION, endpoint_url=harness.front.url,
            aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        self.secret_id = secret_id
        self.reads, self.denied = 0, []
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                self.client.get_secret_value(SecretId=self.secret_id, VersionStage="AWSCURRENT")
                self.reads += 1
            except ClientError as error:
                self.denied.append(error.response["Error"]["Code"])
            time.sleep(0.05)

    def stop(self):
        self._halt.set()
        self.join()


def _layout(count: int):
    """How the program spreads the namespace's grants over managed policies (its role plan)."""
    values = config(count)
    stack = load_stack({key: json.dumps(value) if not isinstance(value, str) else value for key, value in values.items() if ":" not in key}, REGION)
    (spec,) = role_specs(stack)
    return spec.read_policies


def _policies(count: int) -> int:
    layout = _layout(count)
    return 0 if layout.inline else len(layout.buckets)


@pytest.fixture(scope="module")
def growth(harness):
    """The smallest namespace past 100 long-named services whose grants need twice the policies."""
    low, high = 101, 240
    policies = _policies(low)
    assert _policies(low - 1) == policies
    assert policies >= 2 and _policies(high) > policies
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _policies(middle) == policies else (low, middle)
    return high - 1, high


def _moved_secret(before: int, after: int) -> str:
    """A secret whose grant moves to a new policy when the policies double."""
    old, new = _layout(before).buckets, _layout(after).buckets
    for index, bucket in enumerate(old):
        moved = set(bucket) & set(new[index + len(old)])
        if moved:
            return min(moved, key=lambda grant: grant.path).path
    raise AssertionError("doubling moved no grant")


def _policy_steps(result) -> list[tuple[str, str]]:
    return sorted((s["op"], s["type"]) for s in result.steps if s["type"] in (MANAGED_POLICY, POLICY_ATTACHMENT) and s["op"] != "same")


def _managed_replacements(result) -> list[str]:
    return [s["urn"] for s in result.steps if s["op"] in REPLACING and s["type"] in (MANAGED_POLICY, POLICY_ATTACHMENT)]


def test_growing_and_shrinking_a_namespace_never_replaces_a_policy_nor_loses_a_read(harness, growth):
    before, after = growth
    stack = harness.stack("grants")
    result, plan, _ = harness.up(stack, config(before - 1))
    role = plan.of_type(ROLE)[0]["inputs"]["name"]
    account = moto_client("sts", harness.moto_url).get_caller_identity()["Account"]
    readers = [
        Reader(harness, f"arn:aws:iam::{account}:role/{role}", secret_id)
        for secret_id in (_moved_secret(before, after), f"grw/app/{LONG_NAME.format(0)}")
    ]
    for reader in readers:
        reader.start()
    try:
        added, _, _ = harness.up(stack, config(before))
        grown, _, _ = harness.up(stack, config(after))
        shrunk, _, _ = harness.up(stack, config(before))
    finally:
        for reader in readers:
            reader.stop()
    # One service more: one policy's document, updated in place; every other policy as it was.
    assert _policy_steps(added) == [("update", MANAGED_POLICY)]
    # Twice the policies and back: new ones created (then deleted), lower ones updated, none replaced.
    assert _managed_replacements(grown) == [] and _managed_replacements(shrunk) == []
    assert ("create", MANAGED_POLICY) in _policy_steps(grown) and ("delete", MANAGED_POLICY) in _policy_steps(shrunk)
    for reader in readers:
        assert reader.reads > 0 and reader.denied == [], (reader.secret_id, reader.denied)
