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


def _installed(previous_operator: Any) -> bool:
    return isinstance(previous_operator, dict) and previous_operator.get("installed", True) is not False


def _removal(previous_operator: Any) -> str:
    # Releases before eso.onRemove deployed the release retainOnDelete.
    return previous_operator.get("onRemove", "keep")


def handed_over_namespace(previous_operator: Any) -> Optional[str]:
    """Where the Helm release runs that this stack let go of, still running, and has not taken back."""
    if not isinstance(previous_operator, dict):
        return None
    if _installed(previous_operator):
        return previous_operator.get("namespace") if _removal(previous_operator) == "keep" else None
    handed_over = previous_operator.get("handedOver")
    return handed_over if isinstance(handed_over, str) else None


@dataclass(frozen=True)
class OperatorReview:
    """What this deployment does to the operator the last one left: refusals, warnings, and
    whether it takes back the release this stack handed over (in eso.namespace)."""

    problems: list[str]
    warnings: list[str]
    take_back: bool


def review_operator(previous_operator: Any, install: bool, namespace: str, on_remove: str) -> OperatorReview:
    problems: list[str] = []
    warnings: list[str] = []
    take_back = False
    if _installed(previous_operator):
        before, removal = previous_operator.get("namespace"), _removal(previous_operator)
        if install and isinstance(before, str) and before != namespace:
            problems.append(
                f"eso.namespace: this stack installed the operator in {before!r}; moving it to {namespace!r} would "
                "replace the Helm release, and the new release cannot take over the CRDs the old one keeps. Either "
                f"set eso.namespace back to {before!r}, or move it as docs/coexistence.md, \"Moving the operator to "
                "another namespace\" describes: hand the release over first, then to the new namespace"
            )
        elif not install and removal == "uninstall" and on_remove == "keep":
            problems.append(
                "eso.onRemove: keep takes effect with the `pulumi up` that deploys it, and this stack's last "
                f"`up` deployed uninstall, so this `up` would uninstall the operator in {before!r}. Deploy "
                "eso.onRemove: keep with eso.install: true first, then set eso.install: false"
            )
        elif not install and removal == "uninstall":
            warnings.append(
                f"eso.install is false: this `up` uninstalls the operator this stack installed in {before!r} "
                "(eso.onRemove: uninstall): no ExternalSecret in the cluster is refreshed until another ESO runs, "
                "and their Secrets stay as they are. To hand it over running instead, deploy eso.onRemove: keep "
                "with eso.install: true first"
            )
        elif not install:
            late = (
                "; eso.onRemove: uninstall takes effect only once a `pulumi up` with eso.install: true deploys it, "
                "so the release is kept"
                if on_remove == "uninstall"
                else ""
            )
            warnings.append(
                f"eso.install is false: this stack stops managing the operator it installed in {before!r}; its "
                "Helm release stays installed and running (eso.onRemove: keep), now yours to upgrade or remove "
                f"with helm, or this stack's again with eso.install: true{late}"
            )
    handed_over = handed_over_namespace(previous_operator)
    if install and not _installed(previous_operator) and handed_over == namespace:
        take_back = True
        warnings.append(
            f"eso.install is true: this stack takes back the Helm release external-secrets it handed over in "
            f"{handed_over!r}: an import, then an upgrade to this stack's chart and values, with no reinstall"
        )
    elif install and not _installed(previous_operator) and handed_over is not None:
        warnings.append(
            f"eso.install is true: the operator this stack handed over in {handed_over!r} must be gone before one "
            f"installs in {namespace!r} (two operators cannot share the CRDs): see docs/coexistence.md, "
            "\"Moving the operator to another namespace\""
        )
    return OperatorReview(problems, warnings, take_back)


def operator_output(install: bool, namespace: str, chart_version: str, on_remove: str, previous_operator: Any) -> dict[str, Any]:
    """The `operator` stack output: what the next deployment reads to review its own."""
    if install:
        return {"namespace": namespace, "chartVersion": chart_version, "installed": True, "onRemove": on_remove}
    output: dict[str, Any] = {"namespace": namespace, "installed": False}
    handed_over = handed_over_namespace(previous_operator)
    if handed_over is not None:
        output["handedOver"] = handed_over
    return output


def _role_path(role_arn: Any) -> Optional[str]:
    # arn:aws:iam::<account>:role<path><name>
    if not isinstance(role_arn, str) or ":role/" not in role_arn:
        return None
    return role_arn.split(":role", 1)[1].rsplit("/", 1)[0] + "/"


def role_path_warning(previous_namespaces: Any, role_path: str) -> Optional[str]:
    """When the deployed roles move to another IAM path: IAM cannot move a role, so Pulumi
    replaces each, and deletes it first (pulumi-terraform-bridge does for a resource whose name
    the program sets: a second role of that name cannot exist beside it)."""
    entries = previous_namespaces.values() if isinstance(previous_namespaces, dict) else []
    deployed = sorted({path for entry in entries if isinstance(entry, dict) for path in [_role_path(entry.get("roleArn"))] if path})
    if not deployed or deployed == [role_path]:
        return None
    return (
        f"irsa.rolePath: this stack's roles move from {', '.join(deployed)} to {role_path}, which replaces every "
        "role and its grants, each deleted before it is created again: ESO's reads fail with AccessDenied "
        "until the new role and its grants exist (Secrets stay as they are, and sync again after)"
    )



# The output that says the last deployment labelled namespaces through their own Patch.
NAMESPACE_CLAIM_OUTPUT = "namespaceClaim"


def labelled_by_namespace(previous: dict[str, Any]) -> set[str]:
    """The namespaces whose labels the last deployment set on the Namespace resource itself
    (releases before the labels had a Patch of their own)."""
    if not previous or NAMESPACE_CLAIM_OUTPUT in previous:
        return set()
    namespaces = set(previous.get("namespaces") or {})
    operator = previous.get("operator")
    if _installed(operator) and isinstance(operator.get("namespace"), str):
        namespaces.add(operator["namespace"])
    return namespaces


def defines_cluster_policies(configured: Any, installs_operator: bool, previous: dict[str, Any]) -> bool:
    """admission.clusterRules as set, else as the last deployment had it: a stack that defined
    the cluster-wide policies keeps them (an `eso.install: false` of someone else's ESO, a
    handover) until told `require`. Releases before the setting defined them always (their
    outputs lack NAMESPACE_CLAIM_OUTPUT). A new stack defines them if it installs the operator."""
    if configured is not None:
        return configured == "define"
    recorded = previous.get("admission")
    if isinstance(recorded, dict) and recorded.get("clusterRules") in ("define", "require"):
        return recorded["clusterRules"] == "define"
    if previous and NAMESPACE_CLAIM_OUTPUT not in previous:
        return True
    return installs_operator
