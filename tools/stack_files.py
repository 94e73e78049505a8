"""Reading `Pulumi.<stack>.yaml` into config as Pulumi hands it to a program."""

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from stacks.deploying_identity import AWS_IDENTITY_KEYS
from stacks.loading import PROJECT, load_stack
from stacks.spec import Stack
from tools.exit_codes import EXIT_BAD_INPUT

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET_PLACEHOLDER = "[secret]"


class StackFileError(Exception):
    """The stack file is missing or is not a Pulumi stack settings file."""


class _StackFileLoader(yaml.SafeLoader):
    """YAML as Pulumi's own parser reads it: 1.2 booleans and integers (`no` and `1:30` stay
    text), duplicate keys and aliases refused."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(None, None, "aliases (*name) are not supported", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StackFileLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StackFileLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_StackFileLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)


def stack_file(stack_or_path: str) -> Path:
    """`dev` means `Pulumi.dev.yaml` in the project; anything ending in .yaml is a path."""
    if stack_or_path.endswith((".yaml", ".yml")) or "/" in stack_or_path:
        return Path(stack_or_path)
    return PROJECT_ROOT / f"Pulumi.{stack_or_path}.yaml"


def stack_name(path: Path) -> str:
    name = path.name
    for prefix, suffix in (("Pulumi.", ".yaml"), ("Pulumi.", ".yml")):
        if name.startswith(prefix) and name.endswith(suffix):
            return name[len(prefix) : -len(suffix)]
    return path.stem


def as_pulumi_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and set(value) == {"secure"}:
        return SECRET_PLACEHOLDER
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class StackSettings:
    """A stack file's `config:` as Pulumi hands it to a program."""

    config: dict[str, str]
    # The keys Pulumi would hold encrypted: any whose value has a `secure:` part.
    secret_keys: tuple[str, ...]
    # `secretsprovider` (None: the backend's default) and whether `encryptedkey` is set beside it.
    secrets_provider: Optional[str] = None
    encrypted_key: bool = False


def read_stack(path: Path) -> StackSettings:
    """The `config:` map of a stack file, each value in the string form Pulumi passes on."""
    if not path.is_file():
        raise StackFileError(f"{path}: no such stack file; name a stack (dev, prod) or a Pulumi.<stack>.yaml")
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_StackFileLoader) or {}
    except (OSError, UnicodeDecodeError) as error:
        raise StackFileError(f"{path}: cannot be read ({error})") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
    config = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: `config` must be a mapping of keys to values")
    # A `config` mapping was found, so `document` is one too.
    provider = document.get("secretsprovider")
    return StackSettings(
        config={str(key): as_pulumi_string(value) for key, value in config.items()},
        secret_keys=tuple(sorted(str(key) for key, value in config.items() if _holds_secure_value(value))),
        secrets_provider=None if provider is None else str(provider),
        encrypted_key=bool(document.get("encryptedkey")),
    )


def read_stack_config(path: Path) -> dict[str, str]:
    return read_stack(path).config


def _holds_secure_value(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_holds_secure_value(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_secure_value(item) for item in value)
    return False


def load_stack_file(path: Path) -> Stack:
    """The validated stack of a stack file, as the program would see it under Pulumi.

    Raises StackFileError or ConfigError.
    """
    settings = read_stack(path)
    prefix = f"{PROJECT}:"
    values = {key.removeprefix(prefix): value for key, value in settings.config.items() if key.startswith(prefix)}
    secret_keys = [key.removeprefix(prefix) for key in settings.secret_keys if key.startswith(prefix)]
    provider = {key: settings.config[f"aws:{key}"] for key in AWS_IDENTITY_KEYS if f"aws:{key}" in settings.config}
    return load_stack(values, settings.config.get("aws:region"), secret_keys, aws_provider=provider)


def report_bad_input(path: Path, error: Exception) -> int:
    """Prints `error` as every tool reports bad input (a problem of the stack's config named with
    its file) and returns the exit code for it."""
    where = "" if isinstance(error, StackFileError) else f"{path.name}: "
    print(f"error: {where}{error}", file=sys.stderr)
    return EXIT_BAD_INPUT
