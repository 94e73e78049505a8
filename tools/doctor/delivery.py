"""Where delivery happens: each ExternalSecret's Ready condition and its last error, read from the
cluster as the deploying identity. A secret missing a key, not JSON, or unreadable by the role
shows here as ESO met it, without the doctor reading the secret.

ESO 2.9.0 (pkg/controllers/externalsecret/externalsecret_controller.go, `markAsFailed`) sets
`Ready` to False with a generic message ("could not get secret data from provider") and records
the error itself as a Warning event with reason `UpdateFailed` on the ExternalSecret.
"""

from typing import Any, Optional

from stacks.spec import Service, Stack
from tools.doctor.findings import Check
from stacks.cluster_api import ClusterApi, KubernetesError, object_path

ESO_GROUP_VERSION = "external-secrets.io/v1"
UPDATE_FAILED = "UpdateFailed"


def _ready(external_secret: dict[str, Any]) -> Optional[dict[str, Any]]:
    conditions = (external_secret.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def _event_time(event: dict[str, Any]) -> str:
    return event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp") or ""


def last_error(api: ClusterApi, namespace: str, name: str) -> Optional[str]:
    """The message of the newest UpdateFailed Warning event of the ExternalSecret, if any."""
    selector = f"involvedObject.kind=ExternalSecret,involvedObject.name={name}"
    events = (api.get(object_path("v1", "events", namespace), {"fieldSelector": selector}) or {}).get("items") or []
    failures = [e for e in events if e.get("type") == "Warning" and e.get("reason") == UPDATE_FAILED]
    return max(failures, key=_event_time).get("message") if failures else None


def _external_secret_subject(service: Service) -> str:
    return f"{service.namespace}/{service.external_secret_name}"


def _kept_secret_subject(service: Service) -> str:
    return f"{service.namespace}/{service.secret_name}"


def external_secret_check(api: ClusterApi, service: Service) -> Check:
    name, namespace = service.external_secret_name, service.namespace
    subject = _external_secret_subject(service)
    found = api.get(object_path(ESO_GROUP_VERSION, "externalsecrets", namespace, name))
    if found is None:
        return Check("external-secret", subject, "skip", "not deployed yet; `pulumi up` creates it")
    ready = _ready(found)
    if ready and ready.get("status") == "True":
        refreshed = (found.get("status") or {}).get("refreshTime")
        return Check("external-secret", subject, "pass",
                     f"Ready: synced into Secret {service.secret_name}" + (f" at {refreshed}" if refreshed else ""))
    state = f"not Ready ({ready.get('reason')}: {ready.get('message')})" if ready else "not reconciled by ESO yet (no Ready condition)"
    error = last_error(api, namespace, name)
    return Check(
        "external-secret", subject, "fail", state + (f"; last error: {error}" if error else ""),
        f"fix the cause, then sync now: kubectl annotate externalsecret -n {namespace} {name} "
        "force-sync=$(date +%s) --overwrite (ESO retries at its next refresh anyway)",
    )


def kept_secret_check(api: ClusterApi, service: Service) -> Check:
    """Whether removing a `keep` service would keep its Secret: ESO lets go of it (removes its
    controller ownerReference) only in `applyOwnership`, which runs after a successful read of
    the secret, so until the first sync under `creationPolicy: Orphan` succeeds the Secret still
    goes with the ExternalSecret."""
    subject = _kept_secret_subject(service)
    found = api.get(object_path("v1", "secrets", service.namespace, service.secret_name), metadata_only=True)
    if found is None:
        return Check("kept-secret", subject, "skip", "no Secret yet")
    owners = [o.get("name") for o in (found.get("metadata") or {}).get("ownerReferences") or []
              if o.get("kind") == "ExternalSecret" and str(o.get("apiVersion", "")).startswith("external-secrets.io/")]
    if owners:
        return Check(
            "kept-secret", subject, "warn",
            f"still owned by ExternalSecret {', '.join(owners)}: removing the service now deletes this Secret",
            f"wait until ExternalSecret {service.namespace}/{service.external_secret_name} has synced with onRemove: keep "
            f"(now: kubectl annotate externalsecret -n {service.namespace} {service.external_secret_name} "
            "force-sync=$(date +%s) --overwrite), run the doctor again, then remove the service",
        )
    return Check("kept-secret", subject, "pass", "owned by no ExternalSecret: removing the service keeps it")


def delivery_checks(api: Optional[ClusterApi], access: Check, stack: Stack) -> list[Check]:
    """The cluster-access check, then one check per ExternalSecret of the stack, and one per
    Secret of a `keep` service."""
    services = sorted(stack.services, key=lambda s: (s.namespace, s.external_secret_name))
    kept = [s for s in services if s.on_remove == "keep"]
    if api is not None and access.status == "pass":
        try:
            return [access, *(external_secret_check(api, s) for s in services), *(kept_secret_check(api, s) for s in kept)]
        except KubernetesError as error:
            access = Check("cluster-access", access.subject, "fail", str(error), _ACCESS_FIX)
    return [access, *(Check("external-secret", _external_secret_subject(s), "skip", "needs the cluster") for s in services),
            *(Check("kept-secret", _kept_secret_subject(s), "skip", "needs the cluster") for s in kept)]


_ACCESS_FIX = (
    "give the deploying identity read access to the cluster (an EKS access entry), and run the doctor "
    "where `pulumi up` runs (it needs `aws` on the PATH, as the kubeconfig does)"
)


def cluster_access(kubeconfig: Optional[str], where: str) -> tuple[Optional[ClusterApi], Check]:
    """The API of the cluster `kubeconfig` reaches, and whether it answered as the deploying identity."""
    if kubeconfig is None:
        return None, Check("cluster-access", where, "skip", "no kubeconfig for the cluster yet")
    try:
        api = ClusterApi.from_kubeconfig(kubeconfig)
        version = (api.get("/version") or {}).get("gitVersion", "unknown")
    except (KubernetesError, ValueError) as error:
        return None, Check("cluster-access", where, "fail", str(error), _ACCESS_FIX)
    return api, Check("cluster-access", api.server, "pass", f"Kubernetes {version}, as the deploying identity")
