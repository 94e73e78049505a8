"""EKS Pod Identity associations and add-ons, in memory, for the front (moto 5.2.5 has neither).

The rules are the EKS API reference's (https://docs.aws.amazon.com/eks/latest/APIReference/),
as botocore's service model `eks/2017-11-01/service-2.json` carries it (paths, names, shapes):

* CreatePodIdentityAssociation (`POST /clusters/{name}/pod-identity-associations`): the cluster
  must exist (ResourceNotFoundException, 404); `namespace`, `serviceAccount` and `roleArn` are
  required (InvalidParameterException, 400); a second association for the same namespace and
  service account is refused as ResourceInUseException (409) "Association already exists: <id>",
  the message EKS gives (quoted in aws/eks-hybrid#679 and eksctl-io/eksctl#7753); `policy`
  requires `disableSessionTags` true ("When using this policy, disableSessionTags must be set to
  true"). Ids are `a-` and 17 lowercase letters and digits, the ARN
  `arn:aws:eks:<region>:<account>:podidentityassociation/<cluster>/<id>`, as real associations
  show (crossplane-contrib/provider-upjet-aws#1437). A target role gets an `externalId`.
* Describe/Update/Delete (`GET`/`POST`/`DELETE .../pod-identity-associations/{associationId}`):
  an unknown id is ResourceNotFoundException. "In an update, you can change the IAM role, the
  target IAM role, or disableSessionTags. You must change at least one of these"; namespace and
  service account cannot change. Assumed, as the reference does not say: an empty
  `targetRoleArn` or `policy` in an update removes it, an absent one keeps it.
* ListPodIdentityAssociations (`GET .../pod-identity-associations`): filters `namespace` and
  `serviceAccount`; `maxResults` "can be between 1 and 100", 100 when absent; `nextToken` is
  opaque. Items are PodIdentityAssociationSummary (no role, no tags).
* TagResource/UntagResource/ListTagsForResource (`/tags/{resourceArn}`) on an association's ARN;
  an ARN of no association is NotFoundException (404).
* DescribeAddon (`GET /clusters/{name}/addons/{addonName}`) and ListAddons
  (`GET /clusters/{name}/addons`) over the add-ons the harness declares with `set_addon`.

Errors are EKS's restJson shape: the code in `x-amzn-ErrorType`, the body `{"message": ...}`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Mapping, Optional
from urllib.parse import parse_qs, unquote

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ASSOCIATIONS = re.compile(r"/clusters/([^/]+)/pod-identity-associations(?:/([^/]+))?")
_ADDONS = re.compile(r"/clusters/([^/]+)/addons(?:/([^/]+))?")
_TAGS = re.compile(r"/tags/([^/]+)")
_ASSOCIATION_ARN = re.compile(r"arn:aws[a-z-]*:eks:[^:]+:\d+:podidentityassociation/([^/]+)/([^/]+)")
_MAX_RESULTS = 100
_SUMMARY = ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId")


class EksError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> EksError:
    return EksError(400, "InvalidParameterException", message)


@dataclass(frozen=True)
class EksAnswer:
    """One answered call: the operation, the resource it judged, the HTTP status and body, and
    the error code when it is refused."""

    operation: str
    resource: str
    status: int
    body: dict[str, Any]
    error: str = ""

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.error:
            headers["x-amzn-ErrorType"] = self.error
        return headers

    def content(self) -> bytes:
        return json.dumps(self.body).encode()


def route(method: str, path: str) -> Optional[tuple[str, dict[str, str]]]:
    """The EKS operation this module plays for a request, and its URI parameters; None for any
    other call. Tag calls count only on an association's ARN: the rest are moto's."""
    path = path.partition("?")[0]
    found = _ASSOCIATIONS.fullmatch(path)
    if found:
        name, association_id = unquote(found.group(1)), found.group(2)
        if association_id is None:
            operation = {"POST": "CreatePodIdentityAssociation", "GET": "ListPodIdentityAssociations"}.get(method)
            return (operation, {"name": name}) if operation else None
        operation = {"GET": "DescribePodIdentityAssociation", "POST": "UpdatePodIdentityAssociation",
                     "DELETE": "DeletePodIdentityAssociation"}.get(method)
        return (operation, {"name": name, "associationId": unquote(association_id)}) if operation else None
    found = _ADDONS.fullmatch(path)
    if found and method == "GET":
        if found.group(2) is None:
            return "ListAddons", {"name": unquote(found.group(1))}
        return "DescribeAddon", {"name": unquote(found.group(1)), "addonName": unquote(found.group(2))}
    found = _TAGS.fullmatch(path)
    if found and _ASSOCIATION_ARN.fullmatch(unquote(found.group(1))):
        operation = {"GET": "ListTagsForResource", "POST": "TagResource", "DELETE": "UntagResource"}.get(method)
        return (operation, {"resourceArn": unquote(found.group(1))}) if operation else None
    return None


def _page(items: list, max_results: Optional[str], next_token: Optional[str]) -> tuple[list, Optional[str]]:
    try:
        size = _MAX_RESULTS if max_results is None else int(max_results)
        start = 0 if next_token is None else int(base64.urlsafe_b64decode(next_token.encode()).decode())
    except ValueError as error:
        raise _invalid("The specified pagination parameter is invalid") from error
    if not 1 <= size <= _MAX_RESULTS or start < 0:
        raise _invalid(f"maxResults must be between 1 and {_MAX_RESULTS}")
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


class PodIdentityAssociations:
    """The associations and add-ons of the clusters in `clusters` (the front's registered
    clusters, by name, in DescribeCluster's shape: their `arn` gives region and account)."""

    def __init__(self, clusters: Mapping[str, dict[str, Any]]):
        self._clusters = clusters
        self._lock = threading.Lock()
        self._associations: dict[tuple[str, str], dict[str, Any]] = {}
        self._addons: dict[tuple[str, str], dict[str, Any]] = {}

    # For the harness ----------------------------------------------------------------------

    def find(self, cluster_name: str, namespace: str, service_account: str) -> Optional[dict[str, Any]]:
        """The association of `namespace/service_account` in the cluster, in the API's
        `association` shape, or None."""
        with self._lock:
            for association in self._associations.values():
                if (association["clusterName"], association["namespace"], association["serviceAccount"]) == (
                        cluster_name, namespace, service_account):
                    return _copy(association)
        return None

    def set_addon(self, cluster_name: str, addon_name: str, version: str, status: str = "ACTIVE") -> dict[str, Any]:
        with self._lock:
            region, account = self._cluster(cluster_name)
            now = time.time()
            addon = self._addons.get((cluster_name, addon_name)) or {
                "addonName": addon_name,
                "clusterName": cluster_name,
                "addonArn": f"arn:aws:eks:{region}:{account}:addon/{cluster_name}/{addon_name}/{uuid.uuid4()}",
                "createdAt": now,
                "health": {"issues": []},
                "tags": {},
                "podIdentityAssociations": [],
            }
            addon.update(addonVersion=version, status=status, modifiedAt=now)
            self._addons[(cluster_name, addon_name)] = addon
            return _copy(addon)

    # The API ------------------------------------------------------------------------------

    def create(self, cluster_name: str, namespace: str, service_account: str, role_arn: str,
               tags: Optional[dict[str, str]] = None, disable_session_tags: Optional[bool] = None,
               target_role_arn: Optional[str] = None, policy: Optional[str] = None) -> dict[str, Any]:
        for name, value in (("namespace", namespace), ("serviceAccount", service_account), ("roleArn", role_arn)):
            if not value:
                raise _invalid(f"{name} is required")
        _check_policy(policy, disable_session_tags)
        with self._lock:
            region, account = self._cluster(cluster_name)
            existing = next((a for a in self._associations.values() if (a["clusterName"], a["namespace"], a["serviceAccount"])
                             == (cluster_name, namespace, service_account)), None)
            if existing is not None:
                raise EksError(409, "ResourceInUseException", f"Association already exists: {existing['associationId']}")
            association_id = "a-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))
            now = time.time()
            association = {
                "clusterName": cluster_name,
                "namespace": namespace,
                "serviceAccount": service_account,
                "roleArn": role_arn,
                "associationArn": f"arn:aws:eks:{region}:{account}:podidentityassociation/{cluster_name}/{association_id}",
                "associationId": association_id,
                "tags": dict(tags or {}),
                "createdAt": now,
                "modifiedAt": now,
                "disableSessionTags": bool(disable_session_tags),
            }
            _set_target_and_policy(association, target_role_arn, policy)
            self._associations[(cluster_name, association_id)] = association
            return _copy(association)

    def describe(self, cluster_name: str, association_id: str) -> dict[str, Any]:
        with self._lock:
            return _copy(self._association(cluster_name, association_id))

    def list(self, cluster_name: str, namespace: Optional[str] = None, service_account: Optional[str] = None,
             max_results: Optional[str] = None, next_token: Optional[str] = None) -> tuple[list[dict[str, Any]], Optional[str]]:
        with self._lock:
            self._cluster(cluster_name)
            matching = [
                {key: association[key] for key in _SUMMARY}
                for association in self._associations.values()
                if association["clusterName"] == cluster_name
                and namespace in (None, association["namespace"])
                and service_account in (None, association["serviceAccount"])
            ]
        return _page(matching, max_results, next_token)

    def update(self, cluster_name: str, association_id: str, role_arn: Optional[str] = None,
               disable_session_tags: Optional[bool] = None, target_role_arn: Optional[str] = None,
               policy: Optional[str] = None) -> dict[str, Any]:
        if role_arn is None and disable_session_tags is None and target_role_arn is None and policy is None:
            raise _invalid("You must change at least one of roleArn, targetRoleArn, disableSessionTags or policy")
        with self._lock:
            association = self._association(cluster_name, association_id)
            session_tags_disabled = association["disableSessionTags"] if disable_session_tags is None else disable_session_tags
            policy = association.get("policy") if policy is None else policy
            _check_policy(policy, session_tags_disabled)
            if role_arn:
                association["roleArn"] = role_arn
            association["disableSessionTags"] = session_tags_disabled
            _set_target_and_policy(association, association.get("targetRoleArn") if target_role_arn is None else target_role_arn, policy)
            association["modifiedAt"] = time.time()
            return _copy(association)

    def delete(self, cluster_name: str, association_id: str) -> dict[str, Any]:
        with self._lock:
            association = self._association(cluster_name, association_id)
            del self._associations[(cluster_name, association_id)]
            return association

    def tags(self, resource_arn: str) -> dict[str, str]:
        with self._lock:
            return dict(self._by_arn(resource_arn)["tags"])

    def tag(self, resource_arn: str, tags: dict[str, str]) -> None:
        with self._lock:
            self._by_arn(resource_arn)["tags"].update(tags)

    def untag(self, resource_arn: str, keys: list[str]) -> None:
        with self._lock:
            held = self._by_arn(resource_arn)["tags"]
            for key in keys:
                held.pop(key, None)

    def describe_addon(self, cluster_name: str, addon_name: str) -> dict[str, Any]:
        with self._lock:
            self._cluster(cluster_name)
            addon = self._addons.get((cluster_name, addon_name))
            if addon is None:
                raise EksError(404, "ResourceNotFoundException", f"No addon: {addon_name} found in cluster: {cluster_name}")
            return _copy(addon)

    def list_addons(self, cluster_name: str, max_results: Optional[str] = None,
                    next_token: Optional[str] = None) -> tuple[list[str], Optional[str]]:
        with self._lock:
            self._cluster(cluster_name)
            names = sorted(name for cluster, name in self._addons if cluster == cluster_name)
        return _page(names, max_results, next_token)

    # REST ---------------------------------------------------------------------------------

    def answer(self, method: str, path: str, body: bytes) -> Optional[EksAnswer]:
        """The answer to an EKS REST call this module plays, None for any other."""
        routed = route(method, path)
        if routed is None:
            return None
        operation, uri = routed
        query = parse_qs(path.partition("?")[2])
        one = {name: values[0] for name, values in query.items()}
        try:
            fields = json.loads(body or b"{}")
        except ValueError:
            return _refused(operation, uri, _invalid("The request body is not valid JSON"))
        try:
            content = self._perform(operation, uri, one, query, fields)
        except EksError as error:
            return _refused(operation, uri, error)
        resource = content.get("association", {}).get("associationArn") or uri.get("resourceArn") or uri["name"]
        return EksAnswer(operation, resource, 200, content)

    def _perform(self, operation: str, uri: dict[str, str], one: dict[str, str], query: dict[str, list[str]],
                 fields: dict[str, Any]) -> dict[str, Any]:
        name = uri.get("name", "")
        if operation == "CreatePodIdentityAssociation":
            return {"association": self.create(
                name, fields.get("namespace"), fields.get("serviceAccount"), fields.get("roleArn"), fields.get("tags"),
                fields.get("disableSessionTags"), fields.get("targetRoleArn"), fields.get("policy"))}
        if operation == "ListPodIdentityAssociations":
            associations, token = self.list(name, one.get("namespace"), one.get("serviceAccount"),
                                            one.get("maxResults"), one.get("nextToken"))
            return {"associations": associations} | ({"nextToken": token} if token else {})
        if operation == "DescribePodIdentityAssociation":
            return {"association": self.describe(name, uri["associationId"])}
        if operation == "UpdatePodIdentityAssociation":
            return {"association": self.update(
                name, uri["associationId"], fields.get("roleArn"), fields.get("disableSessionTags"),
                fields.get("targetRoleArn"), fields.get("policy"))}
        if operation == "DeletePodIdentityAssociation":
            return {"association": self.delete(name, uri["associationId"])}
        if operation == "ListTagsForResource":
            return {"tags": self.tags(uri["resourceArn"])}
        if operation == "TagResource":
            self.tag(uri["resourceArn"], fields.get("tags") or {})
            return {}
        if operation == "UntagResource":
            self.untag(uri["resourceArn"], query.get("tagKeys", []))
            return {}
        if operation == "DescribeAddon":
            return {"addon": self.describe_addon(name, uri["addonName"])}
        addons, token = self.list_addons(name, one.get("maxResults"), one.get("nextToken"))
        return {"addons": addons} | ({"nextToken": token} if token else {})

    # Lookups, under the lock ----------------------------------------------------------------

    def _cluster(self, cluster_name: str) -> tuple[str, str]:
        cluster = self._clusters.get(cluster_name)
        if cluster is None:
            raise EksError(404, "ResourceNotFoundException", f"No cluster found for name: {cluster_name}.")
        _, _, _, region, account, _ = cluster["arn"].split(":", 5)
        return region, account

    def _association(self, cluster_name: str, association_id: str) -> dict[str, Any]:
        self._cluster(cluster_name)
        association = self._associations.get((cluster_name, association_id))
        if association is None:
            raise EksError(404, "ResourceNotFoundException", f"No Pod Identity association found for id: {association_id}")
        return association

    def _by_arn(self, resource_arn: str) -> dict[str, Any]:
        found = _ASSOCIATION_ARN.fullmatch(resource_arn)
        association = self._associations.get((found.group(1), found.group(2))) if found else None
        if association is None or association["associationArn"] != resource_arn:
            raise EksError(404, "NotFoundException", f"Resource not found: {resource_arn}")
        return association


def _check_policy(policy: Optional[str], disable_session_tags: Optional[bool]) -> None:
    if policy and not disable_session_tags:
        raise _invalid("When using a policy, disableSessionTags must be set to true")


def _set_target_and_policy(association: dict[str, Any], target_role_arn: Optional[str], policy: Optional[str]) -> None:
    if target_role_arn:
        if association.get("targetRoleArn") != target_role_arn:
            association["externalId"] = str(uuid.uuid4())
        association["targetRoleArn"] = target_role_arn
    else:
        association.pop("targetRoleArn", None)
        association.pop("externalId", None)
    if policy:
        association["policy"] = policy
    else:
        association.pop("policy", None)


def _copy(record: dict[str, Any]) -> dict[str, Any]:
    return {key: dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value
            for key, value in record.items()}


def _refused(operation: str, uri: dict[str, str], error: EksError) -> EksAnswer:
    resource = uri.get("resourceArn") or uri.get("name", "")
    return EksAnswer(operation, resource, error.status, {"message": error.message}, error.code)
