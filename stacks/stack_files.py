"""Reading `Pulumi.<stack>.yaml` into config as Pulumi hands it to a program."""

import json
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET_PLACEHOLDER = "[secret]"


class StackFileError(Exception):
    """The stack file is missing or is not a Pulumi stack settings file."""


def stack_file(stack_or_path: str) -> Path:
    """`dev` means `Pulumi.dev.yaml` in the project; anything ending in .yaml is a path."""
    if stack_or_path.endswith((".yaml", ".yml")):
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


def read_stack_config(path: Path) -> dict[str, str]:
    """The `config:` map of a stack file, each value in the string form Pulumi passes on."""
    if not path.is_file():
        raise StackFileError(f"{path}: no such stack file; name a stack (dev, prod) or a Pulumi.<stack>.yaml")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise StackFileError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    config = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: `config` must be a mapping of keys to values")
    return {str(key): as_pulumi_string(value) for key, value in config.items()}
