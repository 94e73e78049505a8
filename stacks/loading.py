"""Loading a stack's config into the resolved model, reporting every problem at once."""

import difflib
import json
import re
import string
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from pydantic import BaseModel, ValidationError

from components.kubeconfig import DeployingIdentity
from stacks.access import policy_size_problems
from stacks.deploying_identity import deploying_identity
from stacks.lifecycle import defines_cluster_policies
from stacks.regions import boundary_problems, region_problems
from stacks.model import (
    DEFAULT_REFRESH_CLASSES,
    AdmissionConfig,
    ClusterConfig,
    PATH_PLACEHOLDERS,
    EsoConfig,
    AWS_REGION_PATTERN,
    SECRET_PATH_PATTERN,
    SYSTEM_NAMESPACES,
    IrsaConfig,
    ServiceConfig,
    StackConfig,
)
from stacks.spec import Service, Stack

PROJECT = "eso-platform"
STRUCTURED_KEYS = ("admission", "cluster", "eso", "irsa", "refreshClasses", "services")
# Pulumi hands a YAML boolean over as its text.
BOOLEAN_KEYS = ("protectExternalSecrets",)
SECRET_PATH_LIMIT = 512


class ConfigError(Exception):
    """The stack config is invalid; `problems` names each field and its fix."""

    def __init__(self, problems: list[str]):
        super().__init__(problems)
        self.problems = sorted(problems, key=_natural_order)

    def __str__(self) -> str:
        count = len(self.problems)
        lines = [f"stack config has {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def _natural_order(text: str) -> list:
    """services[10] after services[9]."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"([0-9]+)", text))]


def load_stack(
    values: Mapping[str, str],
    aws_region: Optional[str],
    secret_keys: Iterable[str] = (),
    aws_provider: Mapping[str, str] = {},
) -> Stack:
    """The stack from its config as Pulumi hands it over: `values` maps each key under
    `eso-platform:` (without the prefix) to its string form, objects as JSON; `secret_keys`
    are those of its keys Pulumi holds encrypted; `aws_provider` holds those of
    stacks.deploying_identity.AWS_IDENTITY_KEYS set under `aws:`, in the same form.

    Raises ConfigError listing every problem.
    """
    problems: list[str] = []
    identity = deploying_identity(aws_provider, problems)
    raw = _decode(values, problems)
    config: Optional[StackConfig] = None
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as error:
        problems += [_describe(detail, raw) for detail in error.errors()]
    if not aws_region:
        problems.append("aws:region: required; set it with `pulumi config set aws:region us-east-1`")
    elif not AWS_REGION_PATTERN.fullmatch(aws_region):
        problems.append(f"aws:region: {aws_region!r} is not an AWS region like us-east-1")
    problems += [
        f"{PROJECT}:{key}: is set as a secret, but this program's config holds only names; "
        f"set it in plain text with `pulumi config set {key} ...`"
        for key in sorted(secret_keys)
    ]
    problems += _cross_check(raw)
    irsa = _valid(IrsaConfig, raw.get("irsa", {}))
    known_region = aws_region if aws_region and AWS_REGION_PATTERN.fullmatch(aws_region) else None
    problems += region_problems(
        raw.get("services") if isinstance(raw.get("services"), list) else [],
        list(irsa.kms_key_arns) if irsa is not None else [],
        known_region,
    )
    problems += boundary_problems(irsa.permissions_boundary if irsa is not None else None, known_region)
    if problems or config is None:
        raise ConfigError(problems)
    stack = _resolve(config, aws_region, identity)
    problems = policy_size_problems(stack)
    if problems:
        raise ConfigError(problems)
    return stack


def _decode(values: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key, text in values.items():
        if key in STRUCTURED_KEYS and isinstance(text, str):
            try:
                raw[key] = json.loads(text)
            except json.JSONDecodeError:
                problems.append(f"{key}: must be a YAML mapping or list, not the text {text!r}")
                continue
        elif key in BOOLEAN_KEYS and isinstance(text, str):
            if text not in ("true", "false"):
                problems.append(f"{key}: must be true or false, not {text!r}")
                continue
            raw[key] = text == "true"
        else:
            raw[key] = text
    return raw


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_/.-]+")


def _path(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        key = part if _PLAIN_KEY.fullmatch(part) else repr(part)
        text += f".{key}" if text else key
    return text


def _describe(detail: dict[str, Any], raw: dict[str, Any]) -> str:
    loc = tuple(part for part in detail["loc"] if part not in ("function-after",))
    kind = detail["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        fix = f"did you mean {hint[0]!r}?" if hint else f"allowed keys: {', '.join(allowed)}"
        prefix = f"{PROJECT}:" if len(loc) == 1 else ""
        return f"{prefix}{_path(loc)}: unknown key; {fix}"
    if kind == "missing":
        description = _field_description(loc)
        return f"{_path(loc)}: required; {description}" if description else f"{_path(loc)}: required"
    message = detail["msg"].removeprefix("Value error, ")
    if kind == "value_error":
        return f"{_path(loc)}: {message}"
    return f"{_path(loc)}: {message} (got {detail.get('input')!r})"


def _model_at(loc: tuple) -> Optional[type[BaseModel]]:
    model: Optional[type[BaseModel]] = StackConfig
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = _inner_model(field.annotation) if field else None
    return model


def _inner_model(annotation: Any) -> Optional[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _inner_model(argument)
        if found is not None:
            return found
    return None


def _allowed_keys(loc: tuple) -> list[str]:
    model = _model_at(loc)
    return [field.alias or name for name, field in model.model_fields.items()] if model else []


def _field_description(loc: tuple) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return ""
    field = next((f for n, f in model.model_fields.items() if (f.alias or n) == loc[-1]), None)
    return (field.description or "") if field else ""


def _valid(model: type[BaseModel], value: Any) -> Optional[BaseModel]:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _refresh_classes(raw: dict[str, Any]) -> dict[str, str]:
    extra = raw.get("refreshClasses")
    return {**DEFAULT_REFRESH_CLASSES, **(extra if isinstance(extra, dict) else {})}


def render_secret_path(template: str, environment: str, namespace: str, service: str) -> str:
    return template.format(env=environment, namespace=namespace, service=service)


def _template_problems(template: Any) -> list[str]:
    if not isinstance(template, str):
        return []
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as error:
        return [f"secretPathTemplate: {template!r} is not a valid template ({error})"]
    placeholders = [field for _, field, _, _ in fields if field is not None]
    problems = []
    decorated = [field for _, field, spec, conversion in fields if field is not None and (spec or conversion)]
    if decorated:
        problems.append(
            f"secretPathTemplate: {{{decorated[0]}}} has a conversion or format spec; use plain {{env}}, {{namespace}}, {{service}}"
        )
    unknown = sorted({p for p in placeholders if p not in PATH_PLACEHOLDERS})
    if unknown:
        problems.append(
            f"secretPathTemplate: unknown placeholder {{{unknown[0]}}}; use {{env}}, {{namespace}} and {{service}}"
        )
    if "env" not in placeholders:
        problems.append(
            f"secretPathTemplate: {template!r} has no {{env}}; without it two environments share secrets, "
            "use something like {env}/app/{service}"
        )
    if "service" not in placeholders:
        problems.append(
            f"secretPathTemplate: {template!r} has no {{service}}; every service needs a path of its own, "
            "such as {env}/app/{service}"
        )
    return problems


def _cross_check(raw: dict[str, Any]) -> list[str]:
    """Checks across fields, run on whatever parts validated so every problem shows at once."""
    template = raw.get("secretPathTemplate", StackConfig.model_fields["secret_path_template"].default)
    problems = _template_problems(template)
    template_ok = isinstance(template, str) and not problems
    classes = _refresh_classes(raw)
    environment = raw.get("environment") if isinstance(raw.get("environment"), str) else None
    # A tenant stack's operator is its platform's, checked once that stack is read (at deploy).
    eso = None if "platform" in raw else _valid(EsoConfig, raw.get("eso", {}))
    admission = _valid(AdmissionConfig, raw.get("admission", {}))
    if admission is not None and eso is not None:
        problems += _cluster_rules_problems(admission, eso)
    if raw.get("identity") == "podIdentity":
        problems += _pod_identity_problems(raw, eso, admission)
    problems += _stack_kind_problems(raw)
    services = raw.get("services")
    if not isinstance(services, list):
        return problems

    seen_services: dict[tuple[str, str], int] = {}
    seen_secrets: dict[tuple[str, str], int] = {}
    seen_external_secrets: dict[tuple[str, str], int] = {}
    seen_paths: dict[str, int] = {}
    managed: set[str] = set()
    for index, entry in enumerate(services):
        service = _valid(ServiceConfig, entry)
        if service is None:
            continue
        managed.add(service.namespace)
        where = f"services[{index}]"
        if service.sensitivity_class not in classes:
            problems.append(
                f"{where}.class: {service.sensitivity_class!r} is not a refresh class; use one of "
                f"{', '.join(sorted(classes))} or add it under refreshClasses"
            )
        if service.namespace in SYSTEM_NAMESPACES:
            problems.append(
                f"{where}.namespace: {service.namespace!r} belongs to the cluster itself; "
                "deliver secrets into the application's own namespace"
            )
        if eso is not None and service.namespace == eso.namespace:
            problems.append(
                f"{where}.namespace: {service.namespace!r} is the operator's namespace; "
                "deliver secrets into the application's own namespace"
            )
        identity = (service.namespace, service.name)
        if identity in seen_services:
            problems.append(
                f"{where}.name: {service.name!r} is already listed in namespace {service.namespace!r} "
                f"at services[{seen_services[identity]}]; remove one of them"
            )
            continue
        seen_services[identity] = index
        external_secret = (service.namespace, service.renamed_from or service.name)
        if external_secret in seen_external_secrets:
            field = "renamedFrom" if service.renamed_from else "name"
            problems.append(
                f"{where}.{field}: ExternalSecret {external_secret[1]!r} in namespace {service.namespace!r} is "
                f"already services[{seen_external_secrets[external_secret]}]'s; each ExternalSecret belongs to one service"
            )
        else:
            seen_external_secrets[external_secret] = index
        target = (service.namespace, service.secret_name or service.renamed_from or service.name)
        if target in seen_secrets:
            problems.append(
                f"{where}.secretName: Secret {target[1]!r} in namespace {service.namespace!r} is already "
                f"written by services[{seen_secrets[target]}]; set a different secretName"
            )
        else:
            seen_secrets[target] = index
        if template_ok and environment is not None:
            path = render_secret_path(template, environment, service.namespace, service.name)
            if not SECRET_PATH_PATTERN.fullmatch(path) or len(path) > SECRET_PATH_LIMIT:
                problems.append(
                    f"secretPathTemplate: renders {path!r} for {where}, which is not a Secrets Manager name "
                    "(letters, digits and /_+=.@- only, at most 512)"
                )
            elif path in seen_paths:
                problems.append(
                    f"{where}.name: secret path {path!r} is also the path of services[{seen_paths[path]}], "
                    "so both would read one secret; rename the service or add {namespace} to secretPathTemplate"
                )
            else:
                seen_paths[path] = index
    if admission is not None:
        problems += _static_credentials_problems(admission, managed)
    return problems


# What a tenant stack takes from its platform stack, and why it may not set it.
PLATFORM_KEYS = {
    "cluster": "the cluster is the platform stack's; its kubeconfig reaches the cluster as this stack's deploying identity",
    "eso": "the operator is the platform stack's",
    "identity": "ESO's identity is the platform stack's",
    "admission": "the cluster-wide guards are the platform stack's; this stack adds only its namespaces' own",
}


def _stack_kind_problems(raw: dict[str, Any]) -> list[str]:
    platform = raw.get("platform")
    if platform is None:
        return [] if "cluster" in raw else [
            "cluster: required; set exactly one of name, stackReference or create, or make this a tenant stack "
            "with platform: <org/project/stack> of its platform stack"
        ]
    problems = [
        f"{key}: a tenant stack (platform: {platform}) sets no {key}: {why}; remove it, or set it in the platform stack"
        for key, why in PLATFORM_KEYS.items()
        if key in raw
    ]
    irsa = raw.get("irsa") if isinstance(raw.get("irsa"), dict) else {}
    if irsa.get("mode", "per-namespace") != "per-namespace":
        problems.append(
            f"irsa.mode: a tenant stack's roles are per-namespace: a {irsa.get('mode')} role's name is its "
            "environment's, which every tenant stack of the platform shares, and each team's namespaces get "
            "their own role; remove irsa.mode"
        )
    return problems


def _cluster_rules_problems(admission: AdmissionConfig, eso: EsoConfig) -> list[str]:
    # The config alone: as a new stack would resolve it.
    if not admission.allow_static_credentials_in or defines_cluster_policies(admission.cluster_rules, eso.install, {}):
        return []
    return [
        "admission.allowStaticCredentialsIn: a cluster-wide rule, and this stack requires the cluster-wide "
        "policies that another stack of the cluster defines (eso.install: false); list the namespaces in that "
        "stack's config, or set admission.clusterRules: define if no other stack of this cluster defines them"
    ]


def _pod_identity_problems(raw: dict[str, Any], eso: Optional[EsoConfig], admission: Optional[AdmissionConfig]) -> list[str]:
    """What Pod Identity cannot keep apart, or has no use for."""
    problems = []
    irsa = raw.get("irsa") if isinstance(raw.get("irsa"), dict) else {}
    if admission is not None and not admission.enabled:
        problems.append(
            "admission.enabled: identity podIdentity needs the admission guard. The namespace roles "
            "trust the controller's session for the namespace in its esoNamespace tag, which ESO sets "
            "from the ExternalSecret's namespace only with sessionTagsPolicy: Simple; a store with "
            "sessionTagsPolicy: None may set that tag to any namespace, and IAM cannot tell the two "
            "requests apart. Set enabled: true, or use identity: irsa"
        )
    if eso is not None and not eso.install:
        problems.append(
            "identity: podIdentity needs eso.install: true. EKS gives a pod its Pod Identity "
            "credentials only if the association exists when the pod is created, and the program "
            "restarts the controller only for a release it installs; use identity: irsa with an "
            "operator someone else installed"
        )
    if irsa.get("mode") == "shared-wildcard":
        problems.append(
            "irsa.mode: shared-wildcard trusts every namespace, and under identity podIdentity the "
            "trust names namespaces, not ServiceAccounts; use per-namespace, or shared (one role "
            "trusting the stack's namespaces by name)"
        )
    if "serviceAccountName" in irsa:
        problems.append(
            "irsa.serviceAccountName: identity podIdentity creates no tenant ServiceAccount (stores "
            "authenticate as the controller and assume the namespace role); remove it"
        )
    return problems


def _static_credentials_problems(admission: AdmissionConfig, managed: set[str]) -> list[str]:
    return [
        f"admission.allowStaticCredentialsIn[{index}]: {namespace!r} is a namespace eso-platform manages, "
        "where stores authenticate only as its managed ServiceAccount; remove it"
        for index, namespace in enumerate(admission.allow_static_credentials_in)
        if namespace in managed
    ]


def _resolve(config: StackConfig, aws_region: str, identity: DeployingIdentity) -> Stack:
    classes = {**DEFAULT_REFRESH_CLASSES, **config.refresh_classes}
    services = tuple(
        Service(
            name=s.name,
            namespace=s.namespace,
            sensitivity_class=s.sensitivity_class,
            secret_path=render_secret_path(config.secret_path_template, config.environment, s.namespace, s.name),
            secret_name=s.secret_name or s.renamed_from or s.name,
            refresh_interval=s.refresh_interval or classes[s.sensitivity_class],
            region=s.region or aws_region,
            keys=tuple(s.keys) if s.keys is not None else None,
            external_secret_name=s.renamed_from or s.name,
            on_remove=s.on_remove,
            adopt=s.adopt,
            protect=config.protect_external_secrets if s.protect is None else s.protect,
        )
        for s in config.services
    )
    tenant = config.platform is not None
    return Stack(
        environment=config.environment,
        region=aws_region,
        # A tenant stack reaches the cluster through its platform stack; the operator and the
        # cluster-wide policies are that stack's (the operator's namespace is read at deploy).
        cluster=ClusterConfig(stackReference=config.platform) if tenant else config.cluster,
        eso=EsoConfig(install=False) if tenant else config.eso,
        irsa=config.irsa,
        admission=AdmissionConfig(clusterRules="require") if tenant else config.admission,
        platform=config.platform,
        force_sync=config.force_sync,
        services=services,
        deploying_identity=identity,
        secret_path_pattern=render_secret_path(config.secret_path_template, config.environment, "*", "*"),
        identity=config.identity,
    )
