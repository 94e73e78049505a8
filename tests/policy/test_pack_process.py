"""The pack started as Pulumi's Python host starts it (`python -u -m pulumi.policy <engine> <pack>`,
in the pack's directory, without the project on PYTHONPATH), then asked over gRPC like the CLI asks."""

import os
import select
import subprocess
import sys

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from tests.conftest import PROJECT_ROOT
from tests.policy.helpers import ADVISORY, MANDATORY, READ_SCOPE, edit_document, first_role_policy, mutated

PACK_DIR = PROJECT_ROOT / "policy"
STARTUP_SECONDS = 20


@pytest.fixture(scope="module")
def analyzer_stub():
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_SECONDS)
        port = process.stdout.readline().strip() if ready else ""
        if not port.isdigit():
            process.kill()
            pytest.fail(f"the pack did not start: stdout {port!r}, stderr {process.stderr.read()!r}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=10)


def test_started_pack_describes_its_policies(analyzer_stub):
    info = analyzer_stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    assert info.name == "eso-platform-guardrails"
    levels = {policy.name: policy.enforcementLevel for policy in info.policies}
    assert levels == {**{n: proto.MANDATORY for n in MANDATORY}, **{n: proto.ADVISORY for n in ADVISORY}}


def test_started_pack_reports_a_wide_secret_read(analyzer_stub, dev_run):
    policy = first_role_policy(dev_run)

    def widen(document):
        document["Statement"][0]["Resource"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dev/app/*"

    for inputs, expected in ((policy.inputs, []), (mutated(policy, lambda i: edit_document(i, "policy", widen)), [READ_SCOPE])):
        properties = struct_pb2.Struct()
        properties.update(inputs)
        request = proto.AnalyzeRequest(type=policy.type, properties=properties, urn=policy.urn, name=policy.name)
        response = analyzer_stub.Analyze(request, timeout=10)
        assert [d.policyName for d in response.diagnostics] == expected
        assert all(d.enforcementLevel == proto.MANDATORY for d in response.diagnostics)
