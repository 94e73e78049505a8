"""An operator someone else installed: the program checks its CRDs serve external-secrets.io/v1
and that the controller's ServiceAccount exists."""

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.manifests import ESO_API_VERSION, ServiceAccountRef

# The kinds the program creates.
REQUIRED_CRDS = ("externalsecrets.external-secrets.io", "secretstores.external-secrets.io")


class MissingCrdError(pulumi.RunError):
    """The cluster's ESO does not serve a kind the program needs."""


def require_served_v1(crd: str, spec: Any) -> None:
    version = ESO_API_VERSION.split("/")[1]
    served = sorted(v.get("name") for v in (spec or {}).get("versions", []) if v.get("served"))
    if version not in served:
        raise MissingCrdError(
            f"eso.install is false, but the cluster's CRD {crd} serves {', '.join(served) or 'no version'}, not "
            f"{ESO_API_VERSION}: upgrade the installed External Secrets Operator to a release that serves "
            f"{ESO_API_VERSION}, or set eso.install: true"
        )


class ExistingOperator(pulumi.ComponentResource):
    # What ESO objects wait for, in place of the Helm release.
    crds: list[k8s.apiextensions.v1.CustomResourceDefinition]
    # The account the token grants and the Secret guard name: read, so that a wrong name fails
    # the preview instead of leaving every store without a token and the guard blind.
    controller_account: k8s.core.v1.ServiceAccount

    def __init__(self, name: str, controller: ServiceAccountRef, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:crd_check:ExistingOperator", name, None, opts)
        self.controller_account = k8s.core.v1.ServiceAccount.get(
            f"{name}-controller-account", f"{controller.namespace}/{controller.name}", opts=pulumi.ResourceOptions(parent=self)
        )
        self.crds = []
        for crd in REQUIRED_CRDS:
            # Reading a CRD that does not exist fails the preview, naming it.
            read = k8s.apiextensions.v1.CustomResourceDefinition.get(
                f"{name}-{crd.split('.')[0]}", crd, opts=pulumi.ResourceOptions(parent=self)
            )
            read.spec.apply(lambda spec, crd=crd: require_served_v1(crd, spec))
            self.crds.append(read)
        self.register_outputs({})
