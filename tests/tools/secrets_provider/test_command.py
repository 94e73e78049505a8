"""`python -m stacks secrets-provider`: a CI run on a self-managed backend needs a key service
in the stack file, or it stops asking for a passphrase; Pulumi Cloud needs nothing."""

import pytest

from tools.cli import main

# What `pulumi stack change-secrets-provider "awskms://..."` writes beside `config:`.
AWS_KMS = "awskms://alias/eso-platform-dev?region=us-east-1"
ENCRYPTED_KEY = "AQICAHhAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"  # pragma: allowlist secret


def stack_file(tmp_path, **settings) -> str:
    path = tmp_path / "Pulumi.dev.yaml"
    lines = [f"{key}: {value}" for key, value in settings.items()]
    path.write_text("\n".join([*lines, "config:", "  eso-platform:environment: dev", ""]))
    return str(path)


def run(capsys, monkeypatch, backend, path):
    if backend is None:
        monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    else:
        monkeypatch.setenv("PULUMI_BACKEND_URL", backend)
    code = main(["secrets-provider", path])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("backend", [None, "", "https://api.pulumi.com", "https://pulumi.example.com"])
def test_a_service_backend_keeps_the_key(capsys, monkeypatch, tmp_path, backend):
    code, out, err = run(capsys, monkeypatch, backend, stack_file(tmp_path))
    assert (code, err) == (0, "") and "keeps the stack's secrets key" in out


@pytest.mark.parametrize("backend", ["s3://state-bucket", "gs://state", "azblob://state", "file:///var/state", "postgres://db/state"])
def test_a_self_managed_backend_without_a_key_service_exits_2_naming_the_fix(capsys, monkeypatch, tmp_path, backend):
    code, out, err = run(capsys, monkeypatch, backend, stack_file(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith("error: Pulumi.dev.yaml: no secretsprovider: ")
    assert "passphrase, which every CI run stops to ask for" in err
    assert f'`pulumi stack change-secrets-provider --stack dev "awskms://alias/eso-platform-dev?region=<region>"` against {backend}' in err
    assert "Traceback" not in err


def test_a_passphrase_provider_is_refused_too(capsys, monkeypatch, tmp_path):
    path = stack_file(tmp_path, secretsprovider="passphrase", encryptionsalt="v1:abc")
    code, _, err = run(capsys, monkeypatch, "s3://state-bucket", path)
    assert code == 2 and "secretsprovider passphrase: on the self-managed backend s3://state-bucket" in err


def test_a_key_service_needs_its_encrypted_key(capsys, monkeypatch, tmp_path):
    code, _, err = run(capsys, monkeypatch, "s3://state-bucket", stack_file(tmp_path, secretsprovider=AWS_KMS))
    assert code == 2 and f"secretsprovider {AWS_KMS} has no encryptedkey beside it" in err
    path = stack_file(tmp_path, secretsprovider=AWS_KMS, encryptedkey=ENCRYPTED_KEY)
    code, out, err = run(capsys, monkeypatch, "s3://state-bucket", path)
    assert (code, err) == (0, "") and out == f"Pulumi.dev.yaml: secrets encrypted by {AWS_KMS}\n"


def test_a_missing_stack_file_exits_2(capsys, monkeypatch, tmp_path):
    code, _, err = run(capsys, monkeypatch, "s3://state-bucket", str(tmp_path / "Pulumi.nope.yaml"))
    assert code == 2 and "no such stack file" in err


def test_the_committed_stacks_pass_on_pulumi_cloud(capsys, monkeypatch):
    for stack in ("dev", "prod"):
        code, out, _ = run(capsys, monkeypatch, None, stack)
        assert code == 0 and out == f"Pulumi.{stack}.yaml: Pulumi Cloud keeps the stack's secrets key\n"
