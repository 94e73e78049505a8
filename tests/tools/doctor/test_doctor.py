"""`python -m stacks doctor` against moto and a cluster API: a healthy account passes; each way it
can break fails with the right check, named subject and fix; bad input exits 2; no secret value is
ever read or printed."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import boto3
import botocore.client
import pytest
from moto.server import ThreadedMotoServer

from stacks.access import role_specs
from e2e.aws_cli import TOKENS as AWS_CLI_TOKENS
from tools.cli import main
from tools.stack_files import load_stack_file
from tools.plan.engine import PLACEHOLDER_ACCOUNT, run_program
from tests.aws.moto_world import World, create_iam
from tests.conftest import PROJECT_ROOT, Mocks, as_pulumi_config, crowded_services, stack_values, write_stack_file
from tests.tools.doctor.cluster_api import TOKEN, ClusterApiFixture

CLUSTER = "platform-dev"
# Every secret in these tests holds this; the doctor must never print it.
PLANTED_VALUE = "marker-value-the-doctor-must-never-print"
DEFAULT_KEY = "PLACEHOLDER"
# A role of the account the cluster admits, as an EKS access entry would.
DEPLOYER_ROLE = f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/deployer"
_KUBECONFIG: list[str] = []


@dataclass
class Account:
    """A moto account holding everything the dev stack (plus a KMS key per region) needs."""

    session: boto3.Session
    stack_file: Path
    issuer: str
    # The key in aws:region; key_arns has it and one in each other region holding secrets.
    key_arn: str
    key_arns: tuple[str, ...]
    values: dict[str, Any]
    cluster: Optional[ClusterApiFixture] = None

    def secrets(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Secret path -> (region, key names) for each service of the stack."""
        stack = load_stack_file(self.stack_file)
        return {s.secret_path: (s.region, s.keys or (DEFAULT_KEY,)) for s in stack.services}

    def secrets_client(self, path: str):
        return self.session.client("secretsmanager", region_name=self.secrets()[path][0])


def create_cluster(session: boto3.Session, name: str, version: str) -> str:
    """An EKS cluster in moto, and its OIDC issuer."""
    return session.client("eks").create_cluster(
        name=name, version=version, roleArn=f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/eks-cluster", resourcesVpcConfig={}
    )["cluster"]["identity"]["oidc"]["issuer"]


def create_account(
    session: boto3.Session, directory: Path, irsa_mode: str = "per-namespace", extra_services: tuple[dict[str, str], ...] = (),
    cluster_api: Optional[ClusterApiFixture] = None,
) -> Account:
    issuer = create_cluster(session, CLUSTER, "1.35")
    values = stack_values("dev")
    values["services"] += extra_services
    home = values["aws:region"]
    regions = sorted({service.get("region", home) for service in values["services"]})
    key_arns = {
        region: session.client("kms", region_name=region).create_key(Description="eso-platform doctor test")["KeyMetadata"]["Arn"]
        for region in regions
    }
    values["irsa"] = {**values["irsa"], "mode": irsa_mode, "kmsKeyArns": sorted(key_arns.values())}
    account = Account(
        session, write_stack_file(directory / "Pulumi.doctor.yaml", values), issuer, key_arns[home], tuple(sorted(key_arns.values())), values,
        cluster_api,
    )
    # The roles exactly as the program registers them for this cluster's issuer.
    run = run_program(as_pulumi_config(values), "doctor", Mocks(oidc_issuer=issuer))
    create_iam(session, run, World())
    for path, (region, keys) in account.secrets().items():
        session.client("secretsmanager", region_name=region).create_secret(
            Name=path, SecretString=json.dumps({key: PLANTED_VALUE for key in keys})
        )
    if cluster_api is not None:
        for service in load_stack_file(account.stack_file).services:
            cluster_api.synced(service.namespace, service.external_secret_name)
    return account


@pytest.fixture(autouse=True)
def cluster_api(tmp_path, monkeypatch):
    """The cluster's API, reached through the program's kubeconfig, whose `aws eks get-token` is
    the harness's stand-in CLI: the default identity and DEPLOYER_ROLE get a token it admits."""
    api = ClusterApiFixture(CLUSTER, "us-east-1").start()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    aws_cli = bin_dir / "aws"
    aws_cli.write_text(f"#!/bin/sh\nexec {sys.executable} {PROJECT_ROOT / 'e2e' / 'aws_cli.py'} \"$@\"\n")
    aws_cli.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(AWS_CLI_TOKENS, json.dumps({"default": TOKEN, f"role:{DEPLOYER_ROLE}": TOKEN}))
    _KUBECONFIG[:] = ["--kubeconfig", str(api.kubeconfig(tmp_path))]
    yield api
    _KUBECONFIG.clear()
    api.stop()


@pytest.fixture
def account(aws, tmp_path, cluster_api) -> Account:
    return create_account(aws, tmp_path, cluster_api=cluster_api)


def doctor(capsys, *args) -> tuple[int, str, str]:
    code = main(["doctor", *args, *_KUBECONFIG])
    captured = capsys.readouterr()
    assert PLANTED_VALUE not in captured.out + captured.err
    return code, captured.out, captured.err


def doctor_json(capsys, account: Account) -> tuple[int, list[dict[str, str]]]:
    code, out, err = doctor(capsys, str(account.stack_file), "--format", "json")
    assert err == ""
    document = json.loads(out)
    assert document["ok"] is (code == 0)
    return code, document["checks"]


def failures(checks: list[dict[str, str]]) -> list[dict[str, str]]:
    return [check for check in checks if check["status"] == "fail"]


def test_a_healthy_account_passes_every_check(capsys, account):
    code, checks = doctor_json(capsys, account)
    assert code == 0
    assert {check["status"] for check in checks} == {"pass"}
    kinds = [check["check"] for check in checks]
    assert kinds.count("cluster") == 1 and kinds.count("oidc-provider") == 1 and kinds.count("cluster-version") == 1
    assert sorted(c["subject"] for c in checks if c["check"] == "role-trust") == ["eso-dev.backend", "eso-dev.frontend", "eso-dev.payments"]
    assert sorted(c["subject"] for c in checks if c["check"] == "secret") == sorted(
        f"{path} ({region})" for path, (region, _) in account.secrets().items()
    )
    assert [c["subject"] for c in checks if c["check"] == "kms-key"] == list(account.key_arns)
    assert {arn.split(":")[3] for arn in account.key_arns} == {"us-east-1", "us-west-2"}
    (cluster,) = [c for c in checks if c["check"] == "cluster"]
    assert cluster["detail"] == f"issuer {account.issuer}"
    (version,) = [c for c in checks if c["check"] == "cluster-version"]
    assert (version["subject"], version["detail"]) == ("platform-dev (us-east-1)", "Kubernetes 1.35 (1.30 or later)")


def test_a_cluster_below_the_kubernetes_floor_fails_with_the_upgrade(capsys, aws, tmp_path, cluster_api):
    account = create_account(aws, tmp_path, cluster_api=cluster_api)
    aws.client("eks").delete_cluster(name=CLUSTER)
    create_cluster(aws, CLUSTER, "1.29")
    code, checks = doctor_json(capsys, account)
    assert code == 1
    (failure,) = failures(checks)
    assert (failure["check"], failure["subject"]) == ("cluster-version", "platform-dev (us-east-1)")
    assert failure["detail"].startswith("Kubernetes 1.29 is below 1.30, the first to serve admissionregistration.k8s.io/v1")
    assert failure["fix"] == "upgrade the cluster, a minor version at a time: aws eks update-cluster-version --region us-east-1 --name platform-dev --kubernetes-version 1.30"


def _delete_secret(account: Account) -> None:
    path = "dev/app/payments"
    account.secrets_client(path).delete_secret(SecretId=path, ForceDeleteWithoutRecovery=True)


def _missing_key(account: Account) -> None:
    # What ESO's AWS provider reports for a `property` the secret's JSON lacks (secretsmanager.go).
    account.cluster.failing("backend", "backend-api", "error processing spec.data[1] (key: dev/app/backend-api), err: key API_KEY does not exist in secret dev/app/backend-api")


def _never_reconciled(account: Account) -> None:
    path = "/apis/external-secrets.io/v1/namespaces/frontend/externalsecrets/web"
    account.cluster.objects[path] = {**account.cluster.objects[path], "status": {}}


def _scheduled_for_deletion(account: Account) -> None:
    path = "dev/app/payments-ledger"
    account.secrets_client(path).delete_secret(SecretId=path, RecoveryWindowInDays=7)


def _encrypted_with_an_undeclared_key(account: Account) -> None:
    path = "dev/app/backend-worker"
    account.secrets_client(path).delete_secret(SecretId=path, ForceDeleteWithoutRecovery=True)
    other_key = account.session.client("kms").create_key(Description="not in irsa.kmsKeyArns")["KeyMetadata"]["Arn"]
    account.secrets_client(path).create_secret(
        Name=path, KmsKeyId=other_key, SecretString=json.dumps({DEFAULT_KEY: PLANTED_VALUE})
    )


def _encrypted_with_the_declared_key(account: Account) -> None:
    path = "dev/app/backend-worker"
    account.secrets_client(path).delete_secret(SecretId=path, ForceDeleteWithoutRecovery=True)
    account.secrets_client(path).create_secret(
        Name=path, KmsKeyId=account.key_arn, SecretString=json.dumps({DEFAULT_KEY: PLANTED_VALUE})
    )


def _provider_arn(account: Account) -> str:
    return f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:oidc-provider/{account.issuer.removeprefix('https://')}"


def _no_provider(account: Account) -> None:
    account.session.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=_provider_arn(account))


def _provider_without_audience(account: Account) -> None:
    # Recreated as someone might by hand, with another client ID (moto has no RemoveClientIDFrom...).
    iam = account.session.client("iam")
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=_provider_arn(account))
    iam.create_open_id_connect_provider(Url=account.issuer, ClientIDList=["kubernetes"], ThumbprintList=["0" * 40])


def _trust_widened_by_hand(account: Account) -> None:
    iam = account.session.client("iam")
    trust = iam.get_role(RoleName="eso-dev.frontend")["Role"]["AssumeRolePolicyDocument"]
    condition = trust["Statement"][0]["Condition"]
    subject_key = next(key for key in condition["StringEquals"] if key.endswith(":sub"))
    condition["StringEquals"].pop(subject_key)
    condition["StringLike"] = {subject_key: "system:serviceaccount:*:external-secret-operator"}
    iam.update_assume_role_policy(RoleName="eso-dev.frontend", PolicyDocument=json.dumps(trust))


def _key_id(account: Account) -> str:
    # moto's DisableKey, EnableKey and ScheduleKeyDeletion take the key's id, not its ARN.
    return account.key_arn.rsplit("/", 1)[1]


def _disabled_key(account: Account) -> None:
    account.session.client("kms").disable_key(KeyId=_key_id(account))


def _key_pending_deletion(account: Account) -> None:
    account.session.client("kms").schedule_key_deletion(KeyId=_key_id(account), PendingWindowInDays=7)


# (break the account, check, subject, words in the detail, words in the fix)
BREAKAGES: list[tuple[Callable[[Account], None], str, str, tuple[str, ...], tuple[str, ...]]] = [
    (_delete_secret, "secret", "dev/app/payments (us-east-1)", ("does not exist",), ("create-secret", "--name dev/app/payments")),
    (_missing_key, "external-secret", "backend/backend-api", ("not Ready (SecretSyncedError: could not get secret data from provider)", "last error: error processing spec.data[1] (key: dev/app/backend-api), err: key API_KEY does not exist in secret dev/app/backend-api"), ("kubectl annotate externalsecret -n backend backend-api force-sync=",)),
    (_never_reconciled, "external-secret", "frontend/web", ("not reconciled by ESO yet",), ("force-sync",)),
    (_encrypted_with_an_undeclared_key, "secret", "dev/app/backend-worker (us-east-1)", ("customer-managed KMS key arn:aws:kms:us-east-1:", "cannot decrypt"), ("to irsa.kmsKeyArns",)),
    (_scheduled_for_deletion, "secret", "dev/app/payments-ledger (us-west-2)", ("scheduled for deletion",), ("restore-secret", "--region us-west-2")),
    (_no_provider, "oidc-provider", "oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/", ("no IAM OIDC provider",), ("create-open-id-connect-provider", "--client-id-list sts.amazonaws.com")),
    (_provider_without_audience, "oidc-provider", "oidc-provider/", ("does not list the audience sts.amazonaws.com", "lists kubernetes"), ("add-client-id-to-open-id-connect-provider",)),
    (_trust_widened_by_hand, "role-trust", "eso-dev.frontend", (":sub is missing (expected system:serviceaccount:frontend:external-secret-operator)", "StringLike", "system:serviceaccount:*:external-secret-operator is not expected"), ("pulumi up --refresh",)),
    (_disabled_key, "kms-key", "arn:aws:kms:us-east-1:", ("is Disabled",), ("aws kms enable-key",)),
    (_key_pending_deletion, "kms-key", "arn:aws:kms:us-east-1:", ("is PendingDeletion",), ("cancel-key-deletion",)),
]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=[b[0].__name__.strip("_") for b in BREAKAGES])
def test_each_breakage_fails_exactly_its_check_with_a_fix(capsys, account, breakage):
    breaking, check, subject, details, fixes = breakage
    breaking(account)
    code, checks = doctor_json(capsys, account)
    assert code == 1
    (failure,) = failures(checks)
    assert (failure["check"], subject in failure["subject"]) == (check, True), failure
    assert all(word in failure["detail"] for word in details), failure["detail"]
    assert all(word in failure["fix"] for word in fixes), failure["fix"]


def test_the_text_table_names_each_failure_and_its_fix(capsys, account):
    _missing_key(account)
    _disabled_key(account)
    code, out, err = doctor(capsys, str(account.stack_file))
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == "eso-platform doctor: stack doctor"
    assert lines[2].split() == ["RESULT", "CHECK", "SUBJECT", "DETAIL"]
    failed = [index for index, line in enumerate(lines) if line.startswith("FAIL")]
    assert len(failed) == 2
    for index in failed:
        assert lines[index + 1].strip().startswith("fix: ")
    assert lines[-1] == f"2 of {sum(line.startswith(('PASS', 'FAIL', 'SKIP')) for line in lines)} checks failed"


def test_a_secret_encrypted_with_a_declared_key_passes(capsys, account):
    _encrypted_with_the_declared_key(account)
    code, checks = doctor_json(capsys, account)
    assert code == 0 and not failures(checks)


@pytest.mark.parametrize("mode", ["shared", "shared-wildcard"])
def test_a_shared_role_is_checked_against_the_trust_of_its_mode(capsys, aws, tmp_path, cluster_api, mode):
    account = create_account(aws, tmp_path, irsa_mode=mode, cluster_api=cluster_api)
    code, checks = doctor_json(capsys, account)
    assert code == 0
    (role,) = [check for check in checks if check["check"] == "role-trust"]
    assert (role["subject"], role["status"]) == ("eso-dev-shared", "pass")
    other = "shared-wildcard" if mode == "shared" else "shared"
    write_stack_file(account.stack_file, {**account.values, "irsa": {**account.values["irsa"], "mode": other}})
    code, checks = doctor_json(capsys, account)
    (failure,) = failures(checks)
    assert (code, failure["check"], failure["subject"]) == (1, "role-trust", "eso-dev-shared")
    assert "StringLike" in failure["detail"]


def test_a_role_whose_grants_are_in_managed_policies_is_checked_too(capsys, aws, tmp_path, cluster_api):
    account = create_account(aws, tmp_path, extra_services=tuple(crowded_services(40)), cluster_api=cluster_api)
    (crowded,) = [spec for spec in role_specs(load_stack_file(account.stack_file)) if spec.key == "crowded"]
    assert not crowded.read_policies.inline
    code, checks = doctor_json(capsys, account)
    assert code == 0, failures(checks)
    (trust,) = [c for c in checks if c["check"] == "role-trust" and c["subject"] == crowded.role_name]
    assert trust["status"] == "pass"
    assert sum(c["check"] == "secret" and c["status"] == "pass" for c in checks) == len(account.secrets())


def test_roles_not_deployed_yet_are_skipped_not_failed(capsys, account):
    iam = account.session.client("iam")
    for name in iam.list_role_policies(RoleName="eso-dev.payments")["PolicyNames"]:
        iam.delete_role_policy(RoleName="eso-dev.payments", PolicyName=name)
    iam.delete_role(RoleName="eso-dev.payments")
    code, checks = doctor_json(capsys, account)
    assert code == 0
    (skipped,) = [check for check in checks if check["status"] == "skip"]
    assert (skipped["check"], skipped["subject"]) == ("role-trust", "eso-dev.payments")


def test_a_missing_cluster_fails_and_skips_what_needs_its_issuer(capsys, account):
    values = {**account.values, "cluster": {"name": "no-such-cluster"}}
    write_stack_file(account.stack_file, values)
    code, checks = doctor_json(capsys, account)
    assert code == 1
    (failure,) = failures(checks)
    assert (failure["check"], failure["subject"]) == ("cluster", "no-such-cluster (us-east-1)")
    assert {c["status"] for c in checks if c["check"] in ("oidc-provider", "role-trust")} == {"skip"}


def fake_pulumi(tmp_path: Path, monkeypatch, expected_args: str, prints: str, **more: str) -> None:
    """A `pulumi` on PATH that answers exactly its command lines: `expected_args` with `prints`,
    and each of `more` (a command line -> what it prints)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "pulumi"
    answers = {expected_args: prints, **more}
    fake.write_text(
        "#!/bin/sh\n"
        + "".join(f'[ "$*" = "{line}" ] && {{ echo {answer}; exit 0; }}\n' for line, answer in answers.items())
        + 'echo "unexpected: $*" >&2; exit 3\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def provider_arn(issuer: str) -> str:
    return f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:oidc-provider/{issuer.removeprefix('https://')}"


@pytest.mark.parametrize(
    "cluster, reads",
    [
        ({"stackReference": "acme/eks-cluster/dev"}, "stack output --stack acme/eks-cluster/dev oidcProviderArn"),
        ({"create": {}}, "stack output --stack doctor oidcProviderArn"),
    ],
    ids=["stackReference", "create"],
)
def test_the_issuer_is_read_off_the_oidc_provider_arn_output_in_the_other_forms(capsys, account, tmp_path, monkeypatch, cluster, reads):
    write_stack_file(account.stack_file, {**account.values, "cluster": cluster})
    fake_pulumi(tmp_path, monkeypatch, reads, provider_arn(account.issuer))
    code, checks = doctor_json(capsys, account)
    assert code == 0
    assert {check["status"] for check in checks} == {"pass"}
    assert "cluster" not in {check["check"] for check in checks}
    (version,) = [c for c in checks if c["check"] == "cluster-version"]
    # Found by its issuer among the region's clusters, next to one that is not it.
    assert (version["subject"], version["detail"]) == ("platform-dev (us-east-1)", "Kubernetes 1.35 (1.30 or later)")


def test_an_issuer_no_cluster_of_the_region_has_fails_the_version_check(capsys, account, tmp_path, monkeypatch):
    write_stack_file(account.stack_file, {**account.values, "cluster": {"stackReference": "acme/eks-cluster/dev"}})
    elsewhere = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    fake_pulumi(tmp_path, monkeypatch, "stack output --stack acme/eks-cluster/dev oidcProviderArn", provider_arn(elsewhere))
    code, checks = doctor_json(capsys, account)
    assert code == 1
    version = [c for c in failures(checks) if c["check"] == "cluster-version"]
    assert version == [{
        "check": "cluster-version", "subject": f"issuer {elsewhere}", "status": "fail",
        "detail": "no EKS cluster in us-east-1 has this OIDC issuer",
        "fix": "check that the cluster stack's oidcProviderArn belongs to a cluster in aws:region",
    }]


def test_an_output_that_is_no_provider_arn_exits_2_naming_it(capsys, account, tmp_path, monkeypatch):
    write_stack_file(account.stack_file, {**account.values, "cluster": {"stackReference": "acme/eks-cluster/dev"}})
    fake_pulumi(tmp_path, monkeypatch, "stack output --stack acme/eks-cluster/dev oidcProviderArn", "https://oidc.example")
    assert exit_code(str(account.stack_file)) == 2
    assert "stack acme/eks-cluster/dev's output oidcProviderArn, but it is 'https://oidc.example', not an IAM OIDC provider ARN" in capsys.readouterr().err


def test_an_explicit_issuer_is_checked_as_given(capsys, account):
    other = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    code, out, _ = doctor(capsys, str(account.stack_file), "--format", "json", "--oidc-issuer", f"https://{other}")
    assert code == 1
    checks = json.loads(out)["checks"]
    (provider,) = [c for c in checks if c["check"] == "oidc-provider"]
    assert provider["status"] == "fail" and provider["subject"].endswith(other)
    drifted = [c for c in checks if c["check"] == "role-trust"]
    assert len(drifted) == 3 and all(c["status"] == "fail" and other in c["detail"] for c in drifted)


def exit_code(*args: str) -> int:
    try:
        return main(["doctor", *args, *_KUBECONFIG])
    except SystemExit as exit:
        return exit.code


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Pulumi.missing.yaml"], "no such stack file"),
        (["dev", "--format", "yaml"], "invalid choice: 'yaml'"),
        (["dev", "--oidc-issuer", "not an issuer"], "is not an OIDC issuer"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(capsys, aws, args, message):
    assert exit_code(*args) == 2
    assert message in capsys.readouterr().err


def test_bad_stack_config_and_unknowable_issuers_exit_2(capsys, account, monkeypatch):
    write_stack_file(account.stack_file, {**account.values, "environment": "Dev_1"})
    assert exit_code(str(account.stack_file)) == 2
    assert "environment: 'Dev_1' is not a DNS-1123 label" in capsys.readouterr().err
    write_stack_file(account.stack_file, {**account.values, "cluster": {"create": {}}})
    monkeypatch.setenv("PATH", "/nonexistent")
    assert exit_code(str(account.stack_file)) == 2
    assert "cluster.create: the issuer is this stack's output oidcProviderArn, there after its first `pulumi up`; install the Pulumi CLI" in capsys.readouterr().err


def with_aws(account: Account, **aws: Any) -> str:
    """The account's stack file with `aws:` keys added, as a path for the doctor."""
    values = {**account.values, **{f"aws:{key}": value for key, value in aws.items()}}
    return str(write_stack_file(account.stack_file, values))


def test_the_doctor_runs_as_the_stacks_deploying_identity(capsys, account):
    """It looks where `pulumi up` deploys: aws:assumeRoles of this account sees everything green;
    a role in an account without the cluster finds no cluster there."""
    same_account = f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/deployer"
    code, out, _ = doctor(capsys, with_aws(account, assumeRoles=[{"roleArn": same_account}]), "--format", "json")
    assert code == 0, out
    other_account = "arn:aws:iam::111122223333:role/deployer"
    code, out, _ = doctor(capsys, with_aws(account, assumeRoles=[{"roleArn": other_account}]), "--format", "json")
    assert code == 1
    (cluster,) = [c for c in json.loads(out)["checks"] if c["check"] == "cluster"]
    assert (cluster["status"], cluster["detail"]) == ("fail", "no EKS cluster of this name in this region")


def test_an_identity_the_doctor_cannot_take_exits_2(capsys, account):
    assert exit_code(with_aws(account, profile="deployer")) == 2
    assert "aws:profile: no AWS CLI profile 'deployer' here" in capsys.readouterr().err
    assert exit_code(with_aws(account, accessKey="AKIAIOSFODNN7EXAMPLE")) == 2  # pragma: allowlist secret
    assert "aws:accessKey: the kubeconfig's `aws eks get-token` cannot use static access keys" in capsys.readouterr().err


def test_no_credentials_exit_2_without_a_traceback(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    result = subprocess.run([sys.executable, "-m", "stacks", "doctor", "dev"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot reach AWS with the current credentials")
    assert "Traceback" not in result.stderr


@pytest.fixture
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_the_cli_runs_against_an_endpoint_from_aws_endpoint_url(moto_server, tmp_path, monkeypatch, cluster_api):
    """What an operator does: run the doctor, fix what fails, run it again."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    account = create_account(boto3.Session(region_name="us-east-1"), tmp_path, cluster_api=cluster_api)
    _disabled_key(account)

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "stacks", "doctor", str(account.stack_file), *_KUBECONFIG], cwd=PROJECT_ROOT,
                              env={**os.environ}, capture_output=True, text=True, timeout=60)

    before = run()
    assert before.returncode == 1, before.stderr
    (failed,) = [line for line in before.stdout.splitlines() if line.startswith("FAIL")]
    assert failed.split()[1:3] == ["kms-key", account.key_arn]
    account.session.client("kms").enable_key(KeyId=_key_id(account))
    after = run()
    assert after.returncode == 0, after.stdout
    assert "FAIL" not in after.stdout and PLANTED_VALUE not in before.stdout + after.stdout


# Delivery, read where it happens -------------------------------------------------------------


def test_each_external_secret_is_checked_through_the_cluster_as_the_deploying_identity(capsys, account):
    code, checks = doctor_json(capsys, account)
    assert code == 0
    (access,) = [c for c in checks if c["check"] == "cluster-access"]
    assert (access["subject"], access["detail"]) == (account.cluster.url, "Kubernetes v1.35.0, as the deploying identity")
    stack = load_stack_file(account.stack_file)
    assert sorted(c["subject"] for c in checks if c["check"] == "external-secret") == sorted(
        f"{s.namespace}/{s.external_secret_name}" for s in stack.services
    )
    (web,) = [c for c in checks if c["subject"] == "frontend/web"]
    assert web["detail"] == "Ready: synced into Secret web at 2026-12-03T10:00:00Z"


def test_the_last_error_is_the_newest_update_failed_warning(capsys, account):
    api = account.cluster
    api.failing("backend", "backend-api", "AccessDeniedException: not authorized", at="2026-12-03T09:00:00Z")
    api.event("backend", "backend-api", "Warning", "UpdateFailed", "key API_KEY does not exist in secret dev/app/backend-api", "2026-12-03T10:00:00Z")
    api.event("backend", "backend-api", "Normal", "Updated", "secret updated", "2026-12-03T11:00:00Z")
    api.event("backend", "backend-worker", "Warning", "UpdateFailed", "a neighbour's error", "2026-12-03T12:00:00Z")
    code, checks = doctor_json(capsys, account)
    (failure,) = failures(checks)
    assert code == 1 and failure["subject"] == "backend/backend-api"
    assert failure["detail"].endswith("; last error: key API_KEY does not exist in secret dev/app/backend-api")


def test_an_external_secret_not_deployed_yet_is_skipped(capsys, account):
    del account.cluster.objects["/apis/external-secrets.io/v1/namespaces/payments/externalsecrets/payments"]
    code, checks = doctor_json(capsys, account)
    assert code == 0
    (skipped,) = [c for c in checks if c["status"] == "skip"]
    assert (skipped["check"], skipped["subject"], skipped["detail"]) == (
        "external-secret", "payments/payments", "not deployed yet; `pulumi up` creates it"
    )


def test_a_cluster_that_refuses_the_identity_fails_access_and_skips_delivery(capsys, account):
    other_role = f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/not-admitted"
    code, out, _ = doctor(capsys, with_aws(account, assumeRoles=[{"roleArn": other_role}]), "--format", "json")
    checks = json.loads(out)["checks"]
    (failure,) = failures(checks)
    assert code == 1 and failure["check"] == "cluster-access"
    assert failure["detail"].startswith("GET /version: 401") and "EKS access entry" in failure["fix"]
    assert {c["status"] for c in checks if c["check"] == "external-secret"} == {"skip"}


def test_the_doctor_reads_no_secret_value_from_aws_or_the_cluster(capsys, account, monkeypatch):
    calls = []
    original = botocore.client.BaseClient._make_api_call

    def recording(client, operation, params):
        calls.append((client.meta.service_model.service_name, operation))
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    _missing_key(account)
    code, _ = doctor_json(capsys, account)
    assert code == 1
    assert {operation for service, operation in calls if service == "secretsmanager"} == {"DescribeSecret"}
    assert not [path for path, _ in account.cluster.requests if "/secrets" in path], "the dev stack keeps no Secret"


def test_the_kubeconfig_output_of_the_cluster_stack_is_used_as_the_deploying_identity(capsys, account, tmp_path, monkeypatch):
    """cluster.stackReference: the kubeconfig is the referenced stack's secret output, and its
    `aws eks get-token` is rewritten to run as this stack's deploying identity."""
    exported = json.loads(account.cluster.kubeconfig(tmp_path).read_text())
    exported["users"][0]["user"]["exec"]["args"] += ["--profile", "cluster-admin"]
    values = {**account.values, "cluster": {"stackReference": "acme/eks-cluster/dev"}, "aws:assumeRoles": [{"roleArn": DEPLOYER_ROLE}]}
    write_stack_file(account.stack_file, values)
    fake_pulumi(tmp_path, monkeypatch, "stack output --stack acme/eks-cluster/dev oidcProviderArn", provider_arn(account.issuer),
                **{"stack output --stack acme/eks-cluster/dev --show-secrets kubeconfig": json.dumps(json.dumps(exported))})
    code = main(["doctor", str(account.stack_file), "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, failures(json.loads(out)["checks"])
    assert {c["status"] for c in json.loads(out)["checks"] if c["check"] == "external-secret"} == {"pass"}


def _keep(account: Account, service: str) -> None:
    values = {**account.values, "services": [
        {**entry, "onRemove": "keep"} if entry["name"] == service else entry for entry in account.values["services"]
    ]}
    write_stack_file(account.stack_file, values)


@pytest.mark.parametrize("owned", [True, False], ids=["still-owned", "let-go"])
def test_a_kept_services_secret_still_owned_by_its_external_secret_is_warned(capsys, account, owned):
    """onRemove: keep is safe only once ESO has synced under Orphan and dropped its ownerReference."""
    _keep(account, "web")
    account.cluster.secret("frontend", "web", {"SESSION_SECRET": PLANTED_VALUE}, owner="web" if owned else None)
    code, out, _ = doctor(capsys, str(account.stack_file))
    assert code == 0, out
    (row,) = [line for line in out.splitlines() if " kept-secret " in f" {line} "]
    assert row.split()[:3] == ["WARN" if owned else "PASS", "kept-secret", "frontend/web"]
    if owned:
        assert "still owned by ExternalSecret web: removing the service now deletes this Secret" in row
        assert "kubectl annotate externalsecret -n frontend web force-sync=" in out
        assert out.rstrip().endswith("no check failed; 1 warned")
    secret_reads = [accept for path, accept in account.cluster.requests if "/secrets/" in path]
    assert secret_reads == ["application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"], "metadata only"
