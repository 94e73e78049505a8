"""A stand-in `aws` resource provider plugin (pulumi-aws 7.51.1's place) backed by moto.

The end-to-end suite runs the real Pulumi engine on the program, but no pulumi-aws plugin can be
had here; this plugin serves Pulumi's ResourceProvider gRPC service for exactly what the program
uses, and does what pulumi-aws (pulumi-terraform-bridge over terraform-provider-aws) does where
the engine's decisions depend on it: Check defaults and failures, Diff replace keys and
delete-before-replace, the AWS call sequences, output names and shapes, Read for refresh.

Layout:
  server.py    the gRPC servicer and `serve()` (what `python -m e2e.aws_provider` runs)
  registry.py  the table: resource tokens -> handlers, invoke tokens -> functions
  model.py     Field / ResourceType and the bridge's shared rules (check, diff, previews)
  iam.py       Role, RolePolicy, Policy, RolePolicyAttachment
  eks.py       PodIdentityAssociation
  invokes.py   eks getCluster, iam getOpenIdConnectProvider, getCallerIdentity
  config.py    provider configuration and the boto3 session
  documents.py JSON policy normalization and equivalence
  wire.py      protobuf Struct <-> Python, unknowns and secrets
  schema.py    the minimal GetSchema answer
  install.py   write_plugin_executable(), install()

Under the real engine it runs in every scenario of e2e/; tests/e2e/test_aws_provider*.py test it
alone over gRPC against moto, and that it covers every type and invoke the program uses.
"""
