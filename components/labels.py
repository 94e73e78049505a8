"""Label keys on objects the program shares with other tools."""

PROJECT_LABEL_PREFIX = "eso-platform/"


def project_labels(labels: dict[str, str]) -> dict[str, str]:
    """Only the project's own keys: an adopted namespace or a Helm-rendered object already has
    its `app.kubernetes.io/*` labels from the tool that manages it."""
    return {key: value for key, value in labels.items() if key.startswith(PROJECT_LABEL_PREFIX)}
