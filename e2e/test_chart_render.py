"""The chart as helm renders it with exactly the values the program registers: strict YAML, and
labels only where the program owns them."""

import pytest
import yaml

from e2e import eso_controller

pytestmark = pytest.mark.timeout(120)


class _StrictLoader(yaml.SafeLoader):
    """YAML as strict tools read it: a key given twice in one mapping is an error."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_rendered_chart_has_no_duplicate_keys_and_helm_keeps_managed_by(harness, plan_of, tmp_path, stack):
    plan = plan_of(stack)
    eso_controller.render(harness.binaries["helm"], plan.operator_namespace, plan.chart_values, tmp_path)
    documents = [d for d in yaml.load_all((tmp_path / "rendered.yaml").read_text(), Loader=_StrictLoader) if d]
    assert len(documents) > 25
    for document in documents:
        labels = document["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/managed-by", "Helm") == "Helm", document["metadata"]["name"]
    controller = eso_controller.controller_deployment(documents)
    assert controller["metadata"]["labels"]["eso-platform/environment"] == stack
