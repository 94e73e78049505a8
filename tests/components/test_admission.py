"""The admission guard: its manifests, and what its CEL admits and denies."""

import copy

import pytest

from components.admission import (
    MANAGED_NAMESPACE_LABEL,
    ROLE_ANNOTATION,
    RULE_PREFIX,
    SERVICE_ACCOUNT_ANNOTATION,
    STORE_AUTH_POLICY,
    TENANT_POLICY,
    cluster_guard_manifests,
    stack_guard_manifests,
    stack_policy_name,
    stack_rules,
    tenant_account_policy_name,
    tenant_account_rules,
    store_auth_rules,
    tenant_rules,
)
from components.manifests import ExternalSecretSpec, external_secret, secret_store
from tests.components.admission_evaluation import admission_request, denials, evaluate, namespace_object

ACCOUNT = "external-secret-operator"
MANAGED_LABELS = {MANAGED_NAMESPACE_LABEL: "true"}
OWN_ACCOUNT = {SERVICE_ACCOUNT_ANNOTATION: ACCOUNT}
# `stripped` is managed, but someone removed its label; `staging-api` is another stack's, whose
# stores act as another account; `unannotated` lost its account annotation.
LABELS = {
    "backend": namespace_object("backend", MANAGED_LABELS, OWN_ACCOUNT),
    "payments": namespace_object("payments", MANAGED_LABELS, OWN_ACCOUNT),
    "staging-api": namespace_object("staging-api", MANAGED_LABELS, {SERVICE_ACCOUNT_ANNOTATION: "staging-reader"}),
    "unannotated": namespace_object("unannotated", MANAGED_LABELS, {}),
    "legacy": namespace_object("legacy", {}, {}),
    "other": namespace_object("other", {"team": "other"}, {}),
    "tricky": namespace_object("tricky", {MANAGED_NAMESPACE_LABEL: "false"}, {}),
    "stripped": namespace_object("stripped", {}, OWN_ACCOUNT),
}
# Namespaces as the program annotates them: with their account and their own role, whichever
# identity the stack uses (`backend` and `payments` are as earlier releases left them).
ORDERS_ROLE = "arn:aws:iam::123456789012:role/eso-dev.orders"
BILLING_ROLE = "arn:aws:iam::123456789012:role/eso-dev.billing"
LABELS |= {
    "orders": namespace_object("orders", MANAGED_LABELS, {**OWN_ACCOUNT, ROLE_ANNOTATION: "eso-dev.orders"}),
    "billing": namespace_object("billing", MANAGED_LABELS, {**OWN_ACCOUNT, ROLE_ANNOTATION: "eso-dev.billing"}),
}
PART_OF = {"app.kubernetes.io/part-of": "eso-platform"}
CONTROLLER = "system:serviceaccount:external-secrets:external-secrets"
GUARD = cluster_guard_manifests(["legacy"], PART_OF) + stack_guard_manifests(
    "dev-1a2b3c4d", ["backend", "payments", "stripped"], ACCOUNT, CONTROLLER, PART_OF
)
STATIC_KEYS = {
    "accessKeyIDSecretRef": {"name": "aws-keys", "key": "id"},
    "secretAccessKeySecretRef": {"name": "aws-keys", "key": "key"},
}


def store(namespace, auth=None, kind="SecretStore", provider=None):
    manifest = secret_store("us-east-1", namespace, ACCOUNT, {})
    manifest["kind"] = kind
    if namespace is None:
        del manifest["metadata"]["namespace"]
    if auth is not None:
        manifest["spec"]["provider"]["aws"]["auth"] = auth
    if provider is not None:
        manifest["spec"]["provider"] = provider
    return manifest


def role_store(namespace, role=ORDERS_ROLE, kind="SecretStore", **aws):
    """The program's Pod Identity store, with `aws` fields set over it (None: removed)."""
    manifest = secret_store("us-east-1", namespace, None, {}, role)
    manifest["kind"] = kind
    if namespace is None:
        del manifest["metadata"]["namespace"]
    provider = manifest["spec"]["provider"]["aws"]
    for key, value in aws.items():
        if value is None:
            provider.pop(key, None)
        else:
            provider[key] = value
    return manifest


HAND_SET_NAMESPACE = [{"key": "esoNamespace", "value": "orders"}]


def without_auth(namespace, kind="SecretStore"):
    manifest = store(namespace, kind=kind)
    del manifest["spec"]["provider"]["aws"]["auth"]
    return manifest


def jwt(name=ACCOUNT, namespace=None):
    reference = {"name": name}
    if namespace:
        reference["namespace"] = namespace
    return {"jwt": {"serviceAccountRef": reference}}


def external(namespace, keys=None, store_kind="SecretStore"):
    spec = ExternalSecretSpec("api", "dev/app/api", "api", "1h", "aws-secretsmanager-us-east-1", keys)
    manifest = external_secret(spec, namespace, {})
    if store_kind is None:
        del manifest["spec"]["secretStoreRef"]["kind"]
    else:
        manifest["spec"]["secretStoreRef"]["kind"] = store_kind
    return manifest


def with_source_store(manifest, field, kind):
    changed = copy.deepcopy(manifest)
    changed["spec"].setdefault(field, [{"extract": {"key": "dev/app/api"}}] if field == "dataFrom" else [
        {"secretKey": "K", "remoteRef": {"key": "dev/app/api"}}
    ])
    changed["spec"][field][0]["sourceRef"] = {"storeRef": {"name": "shared", "kind": kind}}
    return changed


def with_generator(manifest, kind):
    changed = copy.deepcopy(manifest)
    reference = {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": kind, "name": "token"}
    changed["spec"].setdefault("dataFrom", []).append({"sourceRef": {"generatorRef": reference}})
    return changed


def push_secret(namespace, store_kind="SecretStore", data_to_kind=None):
    """A PushSecret of the Secret `api` through the store of the program's name (ESO 2.9.0's
    v1alpha1 schema; a kind left out defaults to SecretStore)."""
    reference = {"name": "aws-secretsmanager-us-east-1"}
    if store_kind is not None:
        reference["kind"] = store_kind
    spec = {
        "secretStoreRefs": [reference],
        "selector": {"secret": {"name": "api"}},
        "data": [{"match": {"secretKey": "K", "remoteRef": {"remoteKey": "dev/app/pushed"}}}],
    }
    if data_to_kind is not None:
        spec["dataTo"] = [{"storeRef": {"name": "shared", "kind": data_to_kind}}]
    metadata = {"name": "push", "namespace": namespace}
    return {"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": metadata, "spec": spec}


VAULT = {"vault": {"server": "https://vault.example", "auth": {"tokenSecretRef": {"name": "t", "key": "k"}}}}

ADMITTED = {
    "the program's SecretStore": store("backend"),
    "the program's ExternalSecret (all keys)": external("backend"),
    "the program's ExternalSecret (some keys)": external("backend", keys=("A", "B")),
    "an ExternalSecret whose store kind is left to its SecretStore default": external("backend", store_kind=None),
    "a data sourceRef naming a SecretStore": with_source_store(external("backend", keys=("A",)), "data", "SecretStore"),
    "the managed account named with its own namespace": store("backend", jwt(namespace="backend")),
    "another stack's namespace, with the account it is annotated with": store("staging-api", jwt(name="staging-reader")),
    "IRSA with any account outside managed namespaces": store("other", jwt(name="app")),
    "static keys where the stack allows them": store("legacy", {"secretRef": STATIC_KEYS}),
    "a ClusterSecretStore borrowing an unmanaged account": store(None, jwt(name="app", namespace="other"), "ClusterSecretStore"),
    "a ClusterSecretStore with IRSA in the ExternalSecret's namespace": store(None, jwt(name="app"), "ClusterSecretStore"),
    "another provider outside managed namespaces": store("other", provider=VAULT),
    "an ExternalSecret outside managed namespaces reading a ClusterSecretStore": external("other", store_kind="ClusterSecretStore"),
    "a namespaced generator in a managed namespace": with_generator(external("backend"), "Password"),
    "a ClusterGenerator outside managed namespaces": with_generator(external("other"), "ClusterGenerator"),
    "a PushSecret to the namespace's SecretStore": push_secret("backend"),
    "a PushSecret whose store kind is left to its SecretStore default": push_secret("backend", store_kind=None),
    "a PushSecret's dataTo naming a SecretStore": push_secret("backend", data_to_kind="SecretStore"),
    "a PushSecret outside managed namespaces to a ClusterSecretStore": push_secret("other", "ClusterSecretStore"),
    "the program's Pod Identity SecretStore": role_store("orders"),
    "the program's Pod Identity SecretStore in another namespace, with that namespace's role": role_store("billing", BILLING_ROLE),
    "an ExternalSecret of a Pod Identity namespace": external("orders"),
    # Either shape under either identity: IAM refuses the other one (no token grant under Pod
    # Identity, no ambient credentials under IRSA), so a switch never meets a stale namespace.
    "the namespace's IRSA store beside its role": store("orders"),
    # irsa.rolePath moves the role and keeps its name: the controller may assume only the moved one.
    "the namespace's role at a path": role_store("orders", "arn:aws:iam::123456789012:role/platform/eso-dev.orders"),
}

DENIED = {
    "static keys in a managed namespace": (store("backend", {"secretRef": STATIC_KEYS}), "tenant-store-no-static-credentials"),
    "static keys beside IRSA in a managed namespace": (
        store("backend", {**jwt(), "secretRef": STATIC_KEYS}),
        "tenant-store-no-static-credentials",
    ),
    "another provider in a managed namespace": (store("payments", provider=VAULT), "tenant-store-aws-only"),
    "no auth in a managed namespace": (without_auth("backend"), "tenant-store-managed-identity"),
    "empty auth in a managed namespace": (store("backend", {}), "tenant-store-managed-identity"),
    "jwt without an account": (store("backend", {"jwt": {}}), "tenant-store-managed-identity"),
    "the default account": (store("backend", jwt(name="default")), "tenant-store-managed-identity"),
    "another stack's account in this stack's namespace": (
        store("backend", jwt(name="staging-reader")),
        "tenant-store-managed-identity",
    ),
    "this stack's account in another stack's namespace": (store("staging-api"), "tenant-store-managed-identity"),
    "a managed namespace without its account annotation": (store("unannotated"), "tenant-store-managed-identity"),
    "another namespace's managed account": (
        store("backend", jwt(namespace="payments")),
        "tenant-store-managed-identity",
    ),
    "an ExternalSecret reading a ClusterSecretStore": (
        external("backend", store_kind="ClusterSecretStore"),
        "tenant-external-secret-namespaced-store",
    ),
    "a data sourceRef naming a ClusterSecretStore": (
        with_source_store(external("backend", keys=("A",)), "data", "ClusterSecretStore"),
        "tenant-external-secret-namespaced-store",
    ),
    "a dataFrom sourceRef naming a ClusterSecretStore": (
        with_source_store(external("payments"), "dataFrom", "ClusterSecretStore"),
        "tenant-external-secret-namespaced-store",
    ),
    "an ExternalSecret drawing on a ClusterGenerator": (
        with_generator(external("backend"), "ClusterGenerator"),
        "tenant-external-secret-no-cluster-generator",
    ),
    "a PushSecret to a ClusterSecretStore": (push_secret("backend", "ClusterSecretStore"), "tenant-push-secret-namespaced-store"),
    "a PushSecret's dataTo naming a ClusterSecretStore": (
        push_secret("payments", data_to_kind="ClusterSecretStore"),
        "tenant-push-secret-namespaced-store",
    ),
    "a PushSecret in a managed namespace that lost its label": (
        push_secret("stripped", "ClusterSecretStore"),
        "managed-namespace-unlabelled",
    ),
    "static keys in an unlisted namespace": (store("other", {"secretRef": STATIC_KEYS}), "aws-store-static-credentials"),
    "static keys where the managed label is not 'true'": (
        store("tricky", {"secretRef": STATIC_KEYS}),
        "aws-store-static-credentials",
    ),
    "static keys in a ClusterSecretStore": (
        store(None, {"secretRef": STATIC_KEYS}, "ClusterSecretStore"),
        "aws-store-static-credentials",
    ),
    "no auth outside managed namespaces": (without_auth("legacy"), "aws-store-irsa"),
    "empty auth outside managed namespaces": (store("other", {}), "aws-store-irsa"),
    "a ClusterSecretStore without auth": (without_auth(None, "ClusterSecretStore"), "aws-store-irsa"),
    "the program's SecretStore in a managed namespace that lost its label": (store("stripped"), "managed-namespace-unlabelled"),
    "an ExternalSecret in a managed namespace that lost its label": (
        external("stripped", store_kind="ClusterSecretStore"),
        "managed-namespace-unlabelled",
    ),
    "a ClusterSecretStore borrowing a managed account": (
        store(None, jwt(namespace="payments"), "ClusterSecretStore"),
        "cluster-store-tenant-account",
    ),
    "another namespace's role under Pod Identity": (role_store("orders", BILLING_ROLE), "tenant-store-managed-identity"),
    "a hand-set esoNamespace tag under sessionTagsPolicy None": (
        role_store("billing", sessionTagsPolicy="None", sessionTags=HAND_SET_NAMESPACE),
        "tenant-store-managed-identity",
    ),
    "the namespace's own role under sessionTagsPolicy None": (role_store("orders", sessionTagsPolicy="None"), "tenant-store-managed-identity"),
    "no sessionTagsPolicy": (role_store("orders", sessionTagsPolicy=None), "tenant-store-managed-identity"),
    "custom session tags": (
        role_store("orders", sessionTagsPolicy="Custom", customSessionTags=[{"key": "team", "value": "orders"}]),
        "tenant-store-managed-identity",
    ),
    "session tags beside Simple": (role_store("orders", sessionTags=HAND_SET_NAMESPACE), "tenant-store-managed-identity"),
    "transitive tag keys": (role_store("orders", transitiveTagKeys=["esoNamespace"]), "tenant-store-managed-identity"),
    "a chained role before the namespace's": (role_store("orders", additionalRoles=[BILLING_ROLE]), "tenant-store-managed-identity"),
    "an external ID": (role_store("orders", externalID="x"), "tenant-store-managed-identity"),
    "no role under Pod Identity": (role_store("orders", role=None), "tenant-store-managed-identity"),
    "an assumed-role session of the namespace's role's name": (
        role_store("orders", "arn:aws:sts::123456789012:assumed-role/x/eso-dev.orders"), "tenant-store-managed-identity",
    ),
    "a role whose name ends in the namespace's": (
        role_store("orders", "arn:aws:iam::123456789012:role/x-eso-dev.orders"), "tenant-store-managed-identity",
    ),
    "the role's end without an ARN": (role_store("orders", "role/eso-dev.orders"), "tenant-store-managed-identity"),
    "another account in a namespace with a role": (store("orders", jwt(name="staging-reader")), "tenant-store-managed-identity"),
    "a Pod Identity store in an IRSA namespace": (role_store("backend"), "tenant-store-managed-identity"),
    "a Pod Identity store outside managed namespaces": (role_store("other"), "aws-store-irsa"),
    "a ClusterSecretStore assuming a namespace's role": (role_store(None, kind="ClusterSecretStore"), "aws-store-irsa"),
}


@pytest.mark.parametrize("case", sorted(ADMITTED))
def test_the_guard_admits(case):
    assert denials(GUARD, ADMITTED[case], LABELS) == []


@pytest.mark.parametrize("case", sorted(DENIED))
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_the_guard_denies_with_exactly_one_rule(case, operation):
    manifest, rule = DENIED[case]
    # One policy denies, never two, so the API server's message names this rule.
    assert denials(GUARD, manifest, LABELS, operation) == [rule]


def test_deletes_are_not_judged():
    manifest, _ = DENIED["static keys in a managed namespace"]
    assert denials(GUARD, manifest, LABELS, "DELETE") == []


def test_without_listed_namespaces_static_keys_are_denied_everywhere():
    guard = cluster_guard_manifests([], {})
    assert denials(guard, ADMITTED["static keys where the stack allows them"], LABELS) == ["aws-store-static-credentials"]
    assert "lists no namespace" in str(guard)


def test_two_stacks_guards_compose_each_guarding_its_own_namespaces():
    # dev defines the cluster-wide policies; staging adds only its own.
    dev = cluster_guard_manifests([], {}) + stack_guard_manifests("dev-1", ["backend"], ACCOUNT, CONTROLLER, {})
    both = dev + stack_guard_manifests("staging-2", ["staging-api"], "staging-reader", CONTROLLER, {})
    objects = [(m["kind"], m["metadata"]["name"]) for m in both]
    assert len(objects) == len(set(objects)) == 12, "no object of one stack is also the other's"
    unlabelled = {**LABELS, "staging-api": namespace_object("staging-api", {}, {})}
    stores = {
        "staging's store in its unlabelled namespace": store("staging-api", jwt(name="staging-reader")),
        "a ClusterSecretStore borrowing staging's account": store(
            None, jwt(name="staging-reader", namespace="staging-api"), "ClusterSecretStore"
        ),
    }
    for case, manifest in stores.items():
        assert denials(dev, manifest, unlabelled) == [], case
    assert denials(both, stores["staging's store in its unlabelled namespace"], unlabelled) == ["managed-namespace-unlabelled"]
    assert denials(both, stores["a ClusterSecretStore borrowing staging's account"], unlabelled) == [
        "cluster-store-tenant-account"
    ]
    assert denials(both, store("backend", jwt(name="staging-reader")), LABELS) == ["tenant-store-managed-identity"]


def test_manifests_bind_each_policy_to_one_side_of_the_label():
    kinds = [(m["kind"], m["metadata"]["name"]) for m in GUARD]
    own = stack_policy_name("dev-1a2b3c4d")
    accounts = tenant_account_policy_name("dev-1a2b3c4d")
    assert kinds == [
        ("ValidatingAdmissionPolicy", TENANT_POLICY),
        ("ValidatingAdmissionPolicyBinding", TENANT_POLICY),
        ("ValidatingAdmissionPolicy", STORE_AUTH_POLICY),
        ("ValidatingAdmissionPolicyBinding", STORE_AUTH_POLICY),
        ("ValidatingAdmissionPolicy", own),
        ("ValidatingAdmissionPolicyBinding", own),
        ("ValidatingAdmissionPolicy", accounts),
        ("ValidatingAdmissionPolicyBinding", accounts),
    ]
    for manifest in GUARD:
        assert manifest["apiVersion"] == "admissionregistration.k8s.io/v1"
        assert manifest["metadata"]["labels"] == PART_OF
    tenant, tenant_binding, auth, auth_binding, stack, stack_binding, account, account_binding = GUARD
    # Created only: neither a Pod's account nor a TokenRequest can be changed afterwards.
    assert account["spec"]["matchConstraints"] == {
        "resourceRules": [
            {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods", "serviceaccounts/token"], "operations": ["CREATE"]}
        ],
        "matchPolicy": "Equivalent",
    }
    assert account["spec"]["failurePolicy"] == "Fail"
    # By the name the API server sets, not by a label anyone who may label namespaces can remove.
    assert account_binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["backend", "payments", "stripped"]}
    ]
    # PushSecrets at the one version chart 2.9.0 serves them.
    assert tenant["spec"]["matchConstraints"] == {
        "resourceRules": [
            {
                "apiGroups": ["external-secrets.io"],
                "apiVersions": ["v1"],
                "resources": ["secretstores", "externalsecrets"],
                "operations": ["CREATE", "UPDATE"],
            },
            {
                "apiGroups": ["external-secrets.io"],
                "apiVersions": ["v1alpha1"],
                "resources": ["pushsecrets"],
                "operations": ["CREATE", "UPDATE"],
            },
        ],
        "matchPolicy": "Equivalent",
    }
    assert [rule["resources"] for rule in auth["spec"]["matchConstraints"]["resourceRules"]] == [["secretstores", "clustersecretstores"]]
    assert [rule["resources"] for rule in stack["spec"]["matchConstraints"]["resourceRules"]] == [
        ["secretstores", "clustersecretstores", "externalsecrets"],
        ["pushsecrets"],
    ]
    assert tenant["spec"]["failurePolicy"] == auth["spec"]["failurePolicy"] == stack["spec"]["failurePolicy"] == "Fail"
    selector = {"key": MANAGED_NAMESPACE_LABEL, "values": ["true"]}
    assert tenant_binding["spec"] == {
        "policyName": TENANT_POLICY,
        "validationActions": ["Deny"],
        "matchResources": {"namespaceSelector": {"matchExpressions": [{**selector, "operator": "In"}]}},
    }
    assert auth_binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [{**selector, "operator": "NotIn"}]
    # Bound everywhere: its rules name the namespaces, and a namespace that lost its label must still match.
    assert stack_binding["spec"] == {"policyName": own, "validationActions": ["Deny"]}


def test_under_pod_identity_a_stack_adds_no_tenant_account_policy():
    manifests = stack_guard_manifests("dev-1a2b3c4d", ["orders", "billing"], None, CONTROLLER, PART_OF)
    assert [m["metadata"]["name"] for m in manifests] == [stack_policy_name("dev-1a2b3c4d")] * 2


def test_each_message_names_its_rule():
    rules = tenant_rules() + store_auth_rules(["legacy"]) + stack_rules(["backend"]) + tenant_account_rules(ACCOUNT, CONTROLLER)
    assert len({rule.name for rule in rules}) == len(rules) == 12
    for rule in rules:
        validation = rule.validation()
        assert validation["message"].startswith(f"{RULE_PREFIX} {rule.name}: ")
        assert validation["reason"] == "Forbidden"
    assert SERVICE_ACCOUNT_ANNOTATION in tenant_rules()[2].message
    assert "(legacy)" in store_auth_rules(["legacy"])[0].message


def test_the_evaluator_is_not_vacuous():
    # A rule that is false, and an expression that errors, both deny; a true one admits.
    assert evaluate("has(object.spec)", {"spec": {}}) and not evaluate("has(object.spec.x)", {"spec": {}})
    broken = copy.deepcopy(GUARD)
    broken[0]["spec"]["validations"][0]["expression"] = "object.spec.nothing == 'x'"
    assert denials(broken, store("backend"), LABELS) == ["tenant-store-no-static-credentials"]
    broken[0]["spec"]["validations"][0]["expression"] = "false"
    assert denials(broken, store("backend"), LABELS) == ["tenant-store-no-static-credentials"]


def pod(namespace, account=None, field="serviceAccountName"):
    spec = {"containers": [{"name": "app", "image": "app:1"}]}
    if account is not None:
        spec[field] = account
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": namespace}, "spec": spec}


def token_request(namespace, account, username):
    """The request `kubectl create token <account>` sends, as the API server hands it to admission."""
    obj = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {"name": account, "namespace": namespace},
           "spec": {"audiences": ["sts.amazonaws.com"]}}
    return obj, admission_request(obj, resource=("", "v1", "serviceaccounts"), sub_resource="token", username=username)


@pytest.mark.parametrize("field", ["serviceAccountName", "serviceAccount"])
@pytest.mark.parametrize("namespace", ["backend", "stripped"])
def test_no_pod_runs_as_the_tenant_account_in_a_managed_namespace(namespace, field):
    # Whoever creates it: a user, a ReplicaSet or a Job all send the same Pod create.
    assert denials(GUARD, pod(namespace, ACCOUNT, field), LABELS) == ["tenant-account-pod"]


@pytest.mark.parametrize(
    "case, manifest",
    [
        ("another account", pod("backend", "web")),
        ("no account named (the API server makes it default)", pod("backend")),
        ("the tenant account's name in a namespace the stack does not manage", pod("other", ACCOUNT)),
        ("another stack's namespace", pod("staging-api", ACCOUNT)),
    ],
)
def test_other_pods_are_admitted(case, manifest):
    assert denials(GUARD, manifest, LABELS) == [], case


@pytest.mark.parametrize(
    "case, namespace, account, username, expected",
    [
        ("the controller", "backend", ACCOUNT, CONTROLLER, []),
        ("a cluster admin", "backend", ACCOUNT, "kubernetes-admin", ["tenant-account-token"]),
        ("an editor of the namespace", "payments", ACCOUNT, "alice", ["tenant-account-token"]),
        ("another controller", "backend", ACCOUNT, "system:serviceaccount:other:external-secrets", ["tenant-account-token"]),
        ("the kubelet", "stripped", ACCOUNT, "system:node:node-1", ["tenant-account-token"]),
        ("anyone, for another account", "backend", "web", "alice", []),
        ("anyone, in a namespace the stack does not manage", "other", ACCOUNT, "alice", []),
    ],
)
def test_only_the_controller_gets_the_tenant_accounts_token(case, namespace, account, username, expected):
    obj, request = token_request(namespace, account, username)
    assert denials(GUARD, obj, LABELS, request=request) == expected, case


def test_a_stack_without_namespaces_binds_no_account_policy():
    manifests = stack_guard_manifests("empty-1", [], ACCOUNT, CONTROLLER, {})
    assert [m["metadata"]["name"] for m in manifests] == [stack_policy_name("empty-1")] * 2
