"""A cluster stack, as `cluster.stackReference` reads one: the kubeconfig (a secret) and the
cluster's OIDC provider ARN, exported from its config. The harness deploys it for prod."""

import pulumi

config = pulumi.Config()
pulumi.export("kubeconfig", pulumi.Output.secret(config.require("kubeconfig")))
pulumi.export("oidcProviderArn", config.require("oidcProviderArn"))
