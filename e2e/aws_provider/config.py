"""The provider configuration (`aws:*` stack config) and the boto3 session it makes.

The endpoint is not configured here: boto3 reads `AWS_ENDPOINT_URL` (and the per-service
`AWS_ENDPOINT_URL_<SERVICE>`) from the environment itself, which is how the harness points this
plugin at moto or at its front. Credentials come from the usual boto3 chain (the harness's
dummy `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`), or from `accessKey`/`secretKey`/`token`,
`profile` (with `sharedConfigFiles`/`sharedCredentialsFiles`), then each of `assumeRoles` in
turn through sts:AssumeRole, as the terraform provider chains them.

Keys understood: region, profile, accessKey, secretKey, token, sharedConfigFiles,
sharedCredentialsFiles, assumeRoles (or the older single assumeRole), defaultTags.tags,
ignoreTags.keys / ignoreTags.keyPrefixes, skipCredentialsValidation, maxRetries. Other keys are
accepted and ignored (the real provider has many; none changes what moto sees).
"""

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import boto3
from botocore.config import Config

from e2e.aws_provider.model import ProviderError, ProviderSettings
from e2e.aws_provider.wire import is_unknown

# Every config key whose value pulumi-aws marks secret in its schema (provider/resources.go Config).
SECRET_KEYS = ("accessKey", "secretKey", "token")


def _decoded(value: Any) -> Any:
    # The engine may hand structured stack config over as its JSON text.
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


@dataclass
class ProviderConfig:
    region: Optional[str] = None
    profile: Optional[str] = None
    access_key: Optional[str] = None
    secret_key: Optional[str] = None
    token: Optional[str] = None
    shared_config_files: list[str] = field(default_factory=list)
    shared_credentials_files: list[str] = field(default_factory=list)
    assume_roles: list[dict] = field(default_factory=list)
    default_tags: dict[str, str] = field(default_factory=dict)
    ignore_tag_keys: tuple[str, ...] = ()
    ignore_tag_prefixes: tuple[str, ...] = ()
    skip_credentials_validation: bool = False
    max_retries: int = 3

    @classmethod
    def from_inputs(cls, values: dict[str, Any]) -> "ProviderConfig":
        values = {key: _decoded(value) for key, value in values.items() if not is_unknown(value)}
        roles = values.get("assumeRoles") or []
        if not roles and isinstance(values.get("assumeRole"), dict):
            roles = [values["assumeRole"]]
        default_tags = (values.get("defaultTags") or {}).get("tags") or {}
        ignore = values.get("ignoreTags") or {}
        return cls(
            region=values.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
            profile=values.get("profile"),
            access_key=values.get("accessKey"),
            secret_key=values.get("secretKey"),
            token=values.get("token"),
            shared_config_files=list(values.get("sharedConfigFiles") or []),
            shared_credentials_files=list(values.get("sharedCredentialsFiles") or []),
            assume_roles=[role for role in roles if isinstance(role, dict)],
            default_tags=dict(default_tags),
            ignore_tag_keys=tuple(ignore.get("keys") or ()),
            ignore_tag_prefixes=tuple(ignore.get("keyPrefixes") or ()),
            skip_credentials_validation=_as_bool(values.get("skipCredentialsValidation", False)),
            max_retries=int(values.get("maxRetries") or 3),
        )

    def failures(self) -> list[tuple[str, str]]:
        """CheckConfig failures. pulumi-aws refuses a configuration without a region (its
        PreConfigureCallback); the message names the config key as it does."""
        if not self.region:
            return [("region", "Missing region information: set 'aws:region' (pulumi config set aws:region <region>) "
                               "or AWS_REGION")]
        return []

    def settings(self) -> ProviderSettings:
        return ProviderSettings(
            region=self.region or "us-east-1",
            default_tags=self.default_tags,
            ignore_tag_keys=self.ignore_tag_keys,
            ignore_tag_prefixes=self.ignore_tag_prefixes,
        )


class AwsSession:
    """boto3 clients for one provider configuration, made once each (clients are thread-safe,
    making them is not)."""

    def __init__(self, config: ProviderConfig):
        self.config = config
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._session = self._make_session()

    def _base_session(self) -> boto3.session.Session:
        config = self.config
        if config.shared_config_files:
            os.environ["AWS_CONFIG_FILE"] = config.shared_config_files[0]
        if config.shared_credentials_files:
            os.environ["AWS_SHARED_CREDENTIALS_FILE"] = config.shared_credentials_files[0]
        kwargs: dict[str, Any] = {"region_name": config.region}
        if config.access_key and config.secret_key:
            kwargs.update(aws_access_key_id=config.access_key, aws_secret_access_key=config.secret_key,
                          aws_session_token=config.token)
        elif config.profile:
            kwargs["profile_name"] = config.profile
        try:
            return boto3.session.Session(**kwargs)
        except Exception as error:  # botocore ProfileNotFound and friends
            raise ProviderError(f"configuring the AWS session: {error}") from error

    def _make_session(self) -> boto3.session.Session:
        session = self._base_session()
        for role in self.config.assume_roles:
            arn = role.get("roleArn")
            if not arn:
                continue
            request: dict[str, Any] = {"RoleArn": arn, "RoleSessionName": role.get("sessionName") or "pulumi"}
            if role.get("externalId"):
                request["ExternalId"] = role["externalId"]
            if role.get("policy"):
                request["Policy"] = role["policy"]
            if role.get("policyArns"):
                request["PolicyArns"] = [{"arn": value} for value in role["policyArns"]]
            if role.get("tags"):
                request["Tags"] = [{"Key": k, "Value": v} for k, v in role["tags"].items()]
            if role.get("transitiveTagKeys"):
                request["TransitiveTagKeys"] = list(role["transitiveTagKeys"])
            try:
                credentials = session.client("sts", config=self._botocore()).assume_role(**request)["Credentials"]
            except Exception as error:
                raise ProviderError(f"assuming role {arn}: {error}") from error
            session = boto3.session.Session(
                region_name=self.config.region,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        return session

    def _botocore(self) -> Config:
        return Config(retries={"max_attempts": self.config.max_retries, "mode": "standard"})

    def client(self, service: str):
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(service, config=self._botocore())
            return self._clients[service]

    def validate_credentials(self) -> None:
        """The provider's credential check at configure time (sts:GetCallerIdentity)."""
        if self.config.skip_credentials_validation:
            return
        try:
            self.client("sts").get_caller_identity()
        except Exception as error:
            raise ProviderError(f"validating provider credentials: retrieving caller identity from STS: {error}") from error
