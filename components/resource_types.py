"""The Pulumi type tokens of what the program registers and looks up: one home for the tools,
the policy pack, the end-to-end harness and the tests (the program itself uses the SDK classes)."""

# Type tokens, not secrets: the pragmas tell detect-secrets so.
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
GET_CLUSTER = "aws:eks/getCluster:getCluster"
GET_OIDC_PROVIDER = "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider"
GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
# The engine's own lookup of a stack's outputs, answered from the backend.
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"

NAMESPACE = "kubernetes:core/v1:Namespace"
NAMESPACE_PATCH = "kubernetes:core/v1:NamespacePatch"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
KUBERNETES_SECRET = "kubernetes:core/v1:Secret"  # pragma: allowlist secret
TOKEN_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
TOKEN_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
RELEASE = "kubernetes:helm.sh/v3:Release"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
ADMISSION_POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
ADMISSION_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
ESO_KIND_PREFIX = "kubernetes:external-secrets.io/v1:"
SECRET_STORE = ESO_KIND_PREFIX + "SecretStore"
EXTERNAL_SECRET = ESO_KIND_PREFIX + "ExternalSecret"  # pragma: allowlist secret
