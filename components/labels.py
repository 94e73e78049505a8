"""Label keys on objects the program shares with other tools."""

import hashlib
import re

PROJECT_LABEL_PREFIX = "eso-platform/"


def project_labels(labels: dict[str, str]) -> dict[str, str]:
    """Only the project's own keys: an adopted namespace or a Helm-rendered object already has
    its `app.kubernetes.io/*` labels from the tool that manages it."""
    return {key: value for key, value in labels.items() if key.startswith(PROJECT_LABEL_PREFIX)}

# A namespace's claim: this label holds the managing stack's key, this annotation its full name.
STACK_LABEL = "eso-platform/stack"


def stack_key(full_name: str) -> str:
    """`org/project/stack` as a DNS label and label value: the stack's name, readable, and a
    digest of the full name, so that stacks of the same name in two projects differ."""
    readable = re.sub(r"[^a-z0-9-]+", "-", full_name.rsplit("/", 1)[-1].lower()).strip("-")[:40].rstrip("-")
    digest = hashlib.sha256(full_name.encode()).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest
