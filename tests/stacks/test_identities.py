"""Resource identities as the real engine checks them: unique URNs, and aliases that carry
deployed stacks over to the names of this release."""

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

import components.tenant
from tools.cli import main
from tools.plan.engine import ProgramRun, identity_clashes
from components.labels import stack_key
from components.resource_types import EXTERNAL_SECRET, MANAGED_POLICY, NAMESPACE
from tests.conftest import PROJECT_ROOT, crowded_services, stack_values

# URNs that stacks deployed by the previous release hold (its program's registrations, with
# the engine's parent type chains), recorded before the children were renamed.
DEPLOYED = json.loads((Path(__file__).parent / "deployed_urns.json").read_text())
COLLIDING_PAIR = [{"name": "api-gateway", "namespace": "payments"}, {"name": "gateway", "namespace": "payments-api"}]


def identity_triples(run: ProgramRun) -> list[tuple[str, str, str]]:
    """(parent type chain, type, name) of every resource, as the engine builds its URN."""
    triples = []
    for resource in run.resources:
        chain = resource.urn.split("::")[2]
        parents = chain.rsplit("$", 1)[0] if "$" in chain else ""
        assert chain == (f"{parents}${resource.type}" if parents else resource.type)
        triples.append((parents, resource.type, resource.name))
    return triples


def assert_unique_identities(run: ProgramRun) -> None:
    repeated = [triple for triple, count in Counter(identity_triples(run)).items() if count > 1]
    assert repeated == []
    urns = {resource.urn for resource in run.resources}
    aliases = [alias for resource in run.resources for alias in resource.aliases]
    assert len(aliases) == len(set(aliases)) and not urns & set(aliases)
    assert identity_clashes(run) == {}


def test_committed_stacks_have_unique_identities(dev_run, prod_run):
    assert_unique_identities(dev_run)
    assert_unique_identities(prod_run)


def test_the_colliding_pair_gets_two_identities_and_no_shared_alias(run_stack):
    values = {**stack_values("dev"), "services": COLLIDING_PAIR}
    run = run_stack(values)
    assert_unique_identities(run)
    names = sorted(r.name for r in run.of_type(EXTERNAL_SECRET))
    assert names == ["tenant-payments-api/gateway", "tenant-payments/api-gateway"]
    # Both would have been 'tenant-payments-api-gateway': no stack can hold it, so neither aliases it.
    assert all(not r.aliases for r in run.of_type(EXTERNAL_SECRET))
    stores = run.of_type("kubernetes:external-secrets.io/v1:SecretStore")
    assert sorted(alias.rsplit("::", 1)[1] for r in stores for alias in r.aliases) == [
        "tenant-payments-api-store-us-east-1",
        "tenant-payments-store-us-east-1",
    ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_deployed_stack_keeps_every_resource_through_aliases(request, stack):
    run = request.getfixturevalue(f"{stack}_run")
    claims = {resource.name: {resource.urn, *resource.aliases} for resource in run.resources}
    for deployed in DEPLOYED[stack]:
        takers = [name for name, urns in claims.items() if deployed in urns]
        assert len(takers) == 1, deployed
    carried = {r.name: set(r.aliases) & set(DEPLOYED[stack]) for r in run.resources if r.urn not in DEPLOYED[stack]}
    assert all(len(deployed) <= 1 for deployed in carried.values())
    added = sorted(name for name, deployed in carried.items() if not deployed)
    tenants = [r.name for r in run.of_type("eso-platform:tenant:Tenant")]
    token_grants = [f"{tenant}-token-{role}" for tenant in tenants for role in ("binding", "role")]
    admission_guard = [
        "admission",
        *(
            f"admission-{policy}{suffix}"
            for policy in (
                "eso-platform-aws-store-auth",
                "eso-platform-tenant-namespaces",
                f"eso-platform-stack-{stack_key(f'organization/eso-platform/{stack}')}",
                f"eso-platform-stack-{stack_key(f'organization/eso-platform/{stack}')}-accounts",
            )
            for suffix in ("", "-binding")
        ),
    ]
    # Each namespace's labels, which its Namespace resource held before.
    namespace_labels = [f"{r.name}-labels" for r in run.of_type(NAMESPACE)]
    # Grants spread over managed policies add those policies too; these stacks' grants fit inline.
    assert run.of_type(MANAGED_POLICY) == []
    assert added == sorted(
        [
            "secret-guard",
            "secret-guard-binding",
            "secret-guard-policy",
            *token_grants,
            *admission_guard,
            *namespace_labels,
        ]
    )
    assert run.named("tenant-payments/payments-ledger").aliases == (
        f"urn:pulumi:{stack}::eso-platform::eso-platform:tenant:Tenant${EXTERNAL_SECRET}::tenant-payments-payments-ledger",
    )


def test_grants_spread_over_managed_policies_have_unique_identities(run_stack):
    values = {**stack_values("dev"), "services": crowded_services(90) + crowded_services(90, "busy")}
    values["secretPathTemplate"] = "{env}/{namespace}/{service}"
    run = run_stack(values)
    assert len(run.of_type(MANAGED_POLICY)) >= 4
    assert_unique_identities(run)


def test_the_plan_refuses_a_program_whose_identities_collide(monkeypatch, capsys, tmp_path):
    # The previous release's naming, which the engine refused on this pair.
    monkeypatch.setattr(
        components.tenant, "external_secret_resource_name", components.tenant.legacy_external_secret_resource_name
    )
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["eso-platform:services"] = COLLIDING_PAIR
    stack = tmp_path / "Pulumi.pair.yaml"
    stack.write_text(yaml.safe_dump(document))
    code = main(["plan", str(stack)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err == (
        "error: Pulumi.pair.yaml: the program gives 1 resource identity to more than one resource; "
        '`pulumi preview` would stop with "Duplicate resource URN":\n'
        f"  - urn:pulumi:pair::eso-platform::eso-platform:tenant:Tenant${EXTERNAL_SECRET}::tenant-payments-api-gateway "
        "is claimed by services[0] (name api-gateway, namespace payments) and "
        "services[1] (name gateway, namespace payments-api)\n"
    )
