from pathlib import Path

STACKS = ("dev", "prod")
FORMATS = ("text", "json", "yaml")
_SUFFIX = {"text": "txt", "json": "json", "yaml": "yaml"}


def snapshot_path(stack: str, output_format: str) -> Path:
    return Path(__file__).resolve().parent / f"{stack}.{_SUFFIX[output_format]}"
