"""The table of what this stand-in implements: resource tokens to handlers, invoke tokens to
functions. A token missing here is refused with an error naming it (see server.py).

To add a type (e.g. `aws:eks/addon:Addon`): subclass
`model.ResourceType` with its terraform schema as `Field`s and its create/read/update/delete
calls, and add an instance below; Check, Diff, previews, GetSchema and the wire come with it.
"""

from components.resource_types import GET_CALLER_IDENTITY, GET_CLUSTER, GET_OIDC_PROVIDER
from e2e.aws_provider.eks import PodIdentityAssociation
from e2e.aws_provider.iam import Policy, Role, RolePolicy, RolePolicyAttachment
from e2e.aws_provider.invokes import Invoke, get_caller_identity, get_cluster, get_open_id_connect_provider
from e2e.aws_provider.model import ResourceType

RESOURCES: dict[str, ResourceType] = {
    handler.token: handler for handler in (
        Role(), RolePolicy(), Policy(), RolePolicyAttachment(), PodIdentityAssociation())
}

INVOKES: dict[str, Invoke] = {
    GET_CLUSTER: get_cluster,
    GET_OIDC_PROVIDER: get_open_id_connect_provider,
    GET_CALLER_IDENTITY: get_caller_identity,
}
