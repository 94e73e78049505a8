"""A namespace whose exact grants grow past one more managed policy, and shrink back: the role
never loses a read while `pulumi up` runs, as a reader polling Secrets Manager sees."""

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
    tenant ServiceAccount's real token, as ESO does."""

    def __init__(self, harness, role_arn: str, secret_id: str):
        super().__init__(daemon=True)
        token = harness.admin.token(NAMESPACE, ACCOUNT, ["sts.amazonaws.com"])
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
                self.client.get_secret_value(SecretId=self.secret_id)
                self.reads += 1
            except ClientError as error:
                self.denied.append(error.response["Error"]["Code"])
            time.sleep(0.05)

    def stop(self):
        self._halt.set()
        self.join()


def _policies(count: int) -> int:
    """The managed policies the program spreads the namespace's grants over (its role plan)."""
    values = config(count)
    stack = load_stack({key: json.dumps(value) if not isinstance(value, str) else value for key, value in values.items() if ":" not in key}, REGION)
    (spec,) = role_specs(stack)
    return 0 if spec.read_policies.inline else len(spec.read_policies.runs)


@pytest.fixture(scope="module")
def growth(harness):
    """The smallest namespace past 100 long-named services whose grants need one more policy."""
    low, high = 100, 160
    policies = _policies(low)
    assert policies >= 2 and _policies(high) > policies
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _policies(middle) == policies else (low, middle)
    return high - 1, high


def _managed_replacements(result) -> list[str]:
    return [s["urn"] for s in result.steps if s["op"] in REPLACING and s["type"] in (MANAGED_POLICY, POLICY_ATTACHMENT)]


@pytest.mark.xfail(strict=True, reason="issue 15 item 4: each managed policy's description says 'Part i of N', and description is ForceNew, so N+1 policies replace all N")
def test_growing_and_shrinking_a_namespace_never_replaces_a_policy_that_stays(harness, growth):
    before, after = growth
    stack = harness.stack("grants")
    result, plan, _ = harness.up(stack, config(before))
    role = plan.of_type(ROLE)[0]["inputs"]["name"]
    account = moto_client("sts", harness.moto_url).get_caller_identity()["Account"]
    secret_id = f"grw/app/{LONG_NAME.format(0)}"
    reader = Reader(harness, f"arn:aws:iam::{account}:role/{role}", secret_id)
    reader.start()
    try:
        grown, _, _ = harness.up(stack, config(after))
        shrunk, _, _ = harness.up(stack, config(before))
    finally:
        reader.stop()
    assert _managed_replacements(grown) == [] and _managed_replacements(shrunk) == []
    assert reader.reads > 0 and reader.denied == [], reader.denied
