"""The controller's own identity: no AWS credentials of its own, tokens only for tenant accounts,
and no ESO objects for namespace editors."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from e2e.aws_front import UNKNOWN, UNSIGNED
from e2e.kube import ApiError
from e2e.processes import LOOPBACK, wait_until
from e2e.world import ESO_API

pytestmark = pytest.mark.timeout(300)
ACCOUNT = "external-secret-operator"
STS_AUDIENCE = ["sts.amazonaws.com"]


@pytest.fixture(scope="module")
def tenant(harness, generated_stack):
    # The admission guard would refuse the store without auth below before ESO ever saw it;
    # it is off here so the controller's own settings are tested alone.
    plan = generated_stack("idn", {"admission": {"enabled": False}, "services": [{"name": "app", "namespace": "idn-a"}]})
    harness.deploy(plan)
    harness.wait_ready([("idn-a", "app")])
    return plan


def _forbidden(call) -> ApiError:
    with pytest.raises(ApiError) as raised:
        call()
    assert raised.value.status == 403, raised.value
    return raised.value


def test_the_controller_may_request_a_token_only_for_tenant_accounts(harness, tenant):
    controller = harness.admin.as_token(harness.controller.credentials())
    assert controller.token("idn-a", ACCOUNT, STS_AUDIENCE)
    harness.admin.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "other", "namespace": "idn-a"}})
    harness.admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "idn-unmanaged"}})
    harness.admin.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, "namespace": "idn-unmanaged"}})
    for namespace, account in (("idn-a", "default"), ("idn-a", "other"), ("idn-unmanaged", ACCOUNT), ("idn-unmanaged", "default")):
        # kube-controller-manager creates each namespace's `default` account some time after the namespace.
        wait_until(lambda: harness.admin.get("v1", "ServiceAccount", account, namespace), 60, f"ServiceAccount {namespace}/{account}")
        error = _forbidden(lambda: controller.token(namespace, account, STS_AUDIENCE))
        assert "serviceaccounts/token" in error.message


def test_namespace_editors_and_admins_cannot_create_eso_objects(harness, tenant):
    store = {
        "apiVersion": ESO_API,
        "kind": "SecretStore",
        "metadata": {"name": "editor-store", "namespace": "idn-a"},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1",
                                      "auth": {"jwt": {"serviceAccountRef": {"name": ACCOUNT}}}}}},
    }
    for role in ("edit", "admin"):
        user = f"idn-{role}or"
        harness.admin.apply({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": user, "namespace": "idn-a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        })
        person = harness.admin.impersonating(user)
        # The binding works (the aggregated ClusterRole lets them manage ConfigMaps) ...
        person.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": user, "namespace": "idn-a"}})
        # ... and may read ESO's objects (the chart's view role) but not create them: the chart
        # no longer aggregates its edit role into edit and admin.
        assert person.list(ESO_API, "ExternalSecret", "idn-a")
        _forbidden(lambda: person.create(store))


class FakeInstanceMetadata:
    """An EC2 instance-metadata service that hands out credentials to whoever asks."""

    def __init__(self):
        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: str) -> None:
                fake.requests += 1
                content = body.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def do_PUT(self):
                self._answer("imds-session-token")

            def do_GET(self):
                listing, _, role = self.path.partition("security-credentials")
                role = role.removeprefix("-extended").strip("/")
                if not listing.endswith("/iam/"):
                    self.send_error(404)
                elif not role:
                    self._answer("node-role")
                else:
                    self._answer(json.dumps({
                        "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIANODEROLEEXAMPLE",
                        "SecretAccessKey": "node-role-example", "Token": "node-role-example",  # pragma: allowlist secret
                        "Expiration": "2099-01-01T00:00:00Z",
                    }))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _unauthenticated_store(harness, name: str) -> None:
    harness.admin.apply({
        "apiVersion": ESO_API, "kind": "SecretStore",
        "metadata": {"name": name, "namespace": "idn-a"},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1"}}},
    })
    harness.admin.apply({
        "apiVersion": ESO_API, "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": "idn-a"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": name},
                 "target": {"name": name}, "dataFrom": [{"extract": {"key": "idn/app/app"}}]},
    })


def test_a_store_without_auth_gets_no_credentials_from_the_node(harness, tenant):
    imds = FakeInstanceMetadata()
    chart_env = dict(harness.controller.env)
    assert chart_env.get("AWS_EC2_METADATA_DISABLED") == "true", "the chart values turn instance metadata off"
    try:
        harness.controller.restart({**chart_env, "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url})
        mark = harness.front.log.mark()
        _unauthenticated_store(harness, "no-auth")
        harness.wait_for_failure("idn-a", "no-auth", "", timeout=90)
        assert imds.requests == 0
        assert not [d for d in harness.front.log.since(mark) if d.principal in (UNSIGNED, UNKNOWN)]
        assert harness.secret("idn-a", "no-auth") is None

        # The same controller without the chart's setting asks the node for credentials: the
        # check above is not passing for want of a reachable metadata service.
        without = {k: v for k, v in chart_env.items() if k != "AWS_EC2_METADATA_DISABLED"}
        harness.controller.restart({**without, "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url})
        _unauthenticated_store(harness, "no-auth-control")
        wait_until(lambda: imds.requests > 0, 90, "the controller asking the metadata service")
    finally:
        harness.controller.restart(chart_env)
        imds.close()
        for name in ("no-auth", "no-auth-control"):
            harness.admin.delete(ESO_API, "ExternalSecret", name, "idn-a")
            harness.admin.delete(ESO_API, "SecretStore", name, "idn-a")
