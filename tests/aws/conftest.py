"""An offline AWS (moto) with fake credentials, for the tests in this package."""

import os

import boto3
import pytest
from moto import mock_aws


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """A boto3 session whose every call goes to moto's in-memory AWS, never to a real one."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # No shared config or credentials file of the machine is read.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")
