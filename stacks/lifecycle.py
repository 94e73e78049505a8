"""What a deployment does to Kubernetes Secrets and to the operator, read off the previous
deployment's stack outputs: warnings for `pulumi preview` and the plan, and refusals."""

from dataclasses import dataclass
from typing import Any, Literal, Optional

Action = Literal["deleted", "renamed", "handed over", "kept"]


@dataclass(frozen=True)
class Delivery:
    service: str
    namespace: str
    external_secret: str
    secret: str
    on_remove: str


@dataclass(frozen=True)
class SecretChange:
    action: Action
    namespace: str
    secret: str
    service: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {
            "action": self.action,
            "namespace": self.namespace,
            "secret": self.secret,
            "service": self.service,
            "message": self.message,
        }


def deliveries(services: Any) -> dict[tuple[str, str], Delivery]:
    """The `services` stack output by (namespace, ExternalSecret). Releases before renamedFrom
    and onRemove exported neither: their ExternalSecret has the service's name, and is Owner."""
    found: dict[tuple[str, str], Delivery] = {}
    for key, entry in (services if isinstance(services, dict) else {}).items():
        if not isinstance(entry, dict) or "/" not in key or not isinstance(entry.get("kubernetesSecret"), str):
            continue
        namespace, name = key.split("/", 1)
        external_secret = entry.get("externalSecret", name)
        found[(namespace, external_secret)] = Delivery(
            key, namespace, external_secret, entry["kubernetesSecret"], entry.get("onRemove", "delete")
        )
    return found


def _gone(old: Delivery, after: dict[tuple[str, str], Delivery], before: dict) -> SecretChange:
    successor = next(
        (
            new
            for identity, new in sorted(after.items())
            if identity not in before and (new.namespace, new.secret) == (old.namespace, old.secret)
        ),
        None,
    )
    where = f"{old.namespace}/{old.secret}"
    if successor is not None and old.on_remove == "delete":
        return SecretChange(
            "handed over", old.namespace, old.secret, old.service,
            f"Secret {where} passes from ExternalSecret {old.external_secret} to {successor.external_secret}: it is "
            f"deleted with {old.external_secret} and written again only after, a gap in which pods cannot read it; "
            f"if service {successor.service} is {old.service} renamed, set renamedFrom: {old.external_secret} on it",
        )
    if successor is not None:
        return SecretChange(
            "handed over", old.namespace, old.secret, old.service,
            f"Secret {where} passes from ExternalSecret {old.external_secret} to {successor.external_secret}; "
            "it stays in place (onRemove: keep)",
        )
    if old.on_remove == "keep":
        return SecretChange(
            "kept", old.namespace, old.secret, old.service,
            f"Secret {where} stays but is no longer updated: service {old.service} is removed with onRemove: keep",
        )
    return SecretChange(
        "deleted", old.namespace, old.secret, old.service,
        f"Secret {where} will be deleted: service {old.service} is removed (onRemove: delete); to keep the "
        "Secret, deploy onRemove: keep on the service first, then remove it",
    )


def secret_changes(previous_services: Any, current_services: Any) -> list[SecretChange]:
    """Every Secret the step from `previous_services` to `current_services` deletes, renames,
    hands to another ExternalSecret or leaves behind."""
    before, after = deliveries(previous_services), deliveries(current_services)
    changes = []
    for identity, old in sorted(before.items()):
        new = after.get(identity)
        if new is None:
            changes.append(_gone(old, after, before))
        elif new.secret != old.secret:
            fate = "stays but is no longer updated" if old.on_remove == "keep" else "will be deleted"
            changes.append(
                SecretChange(
                    "renamed", old.namespace, old.secret, new.service,
                    f"Secret {old.namespace}/{old.secret} {fate} and {new.namespace}/{new.secret} is written "
                    f"instead: service {new.service} changes its secretName",
                )
            )
    return changes


def operator_move_problem(previous_operator: Any, install: bool, namespace: str) -> Optional[str]:
    """A refusal when the operator this stack installed would move to another namespace."""
    if not install or not isinstance(previous_operator, dict) or not previous_operator.get("installed", True):
        return None
    before = previous_operator.get("namespace")
    if not isinstance(before, str) or before == namespace:
        return None
    return (
        f"eso.namespace: this stack installed the operator in {before!r}; moving it to {namespace!r} would "
        "replace the Helm release, and the new release cannot take over the CRDs the old one keeps. Either set "
        f"eso.namespace back to {before!r}, or move it as docs/coexistence.md, \"Moving the operator to another "
        "namespace\" describes: eso.install: false first, then hand the release over to the new namespace"
    )


def operator_removal_warning(previous_operator: Any, install: bool) -> Optional[str]:
    if install or not isinstance(previous_operator, dict) or not previous_operator.get("installed", True):
        return None
    return (
        f"eso.install is false: this stack stops managing the operator it installed in "
        f"{previous_operator.get('namespace')!r}; its Helm release stays installed and running, now yours to "
        "upgrade or remove with helm"
    )
