"""The stand-in aws plugin implements every AWS resource type and invoke the program uses, in
every form of the program the end-to-end suite deploys: a type or lookup the program starts to
use fails here before the engine meets it."""

import pytest

from e2e.aws_provider.registry import INVOKES, RESOURCES
from tests.conftest import Mocks, crowded_services, stack_values

EKS_COMPONENT = "eks:index:Cluster"


class RecordingInvokes(Mocks):
    def __init__(self):
        super().__init__()
        self.invoked: set[str] = set()

    def call(self, args):
        self.invoked.add(args.token)
        return super().call(args)


def _with(**changes) -> dict:
    values = stack_values("dev")
    values.update(changes)
    return values


FORMS = {
    "dev": stack_values("dev"),
    "prod (stack reference, KMS)": stack_values("prod"),
    "grants in managed policies": _with(services=crowded_services(40)),
    "shared": _with(irsa={"mode": "shared"}),
    "eso.install false": _with(eso={"install": False}),
}


@pytest.mark.parametrize("values", FORMS.values(), ids=FORMS.keys())
def test_every_aws_type_and_invoke_of_the_program_is_implemented(run_stack, values):
    mocks = RecordingInvokes()
    run = run_stack(values, mocks=mocks)
    types = {r.type for r in run.resources if r.type.startswith("aws:")}
    assert types and types <= set(RESOURCES), types - set(RESOURCES)
    # The engine answers its own `pulumi:` lookups.
    aws_invokes = {token for token in mocks.invoked if not token.startswith("pulumi:")}
    assert aws_invokes <= set(INVOKES), aws_invokes - set(INVOKES)


def test_only_cluster_create_needs_a_plugin_the_suite_lacks(run_stack):
    run = run_stack(_with(cluster={"create": {}}))
    assert {r.type for r in run.resources if r.type.startswith("eks:")} == {EKS_COMPONENT}
