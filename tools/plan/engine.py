"""Runs the real program (`__main__.py`) under the Pulumi SDK's mock engine, offline.

The cluster's lookups are answered with clearly marked placeholders; every resource the
program registers is recorded as the engine received it.
"""

import asyncio
import atexit
import base64
import gc
import hashlib
import logging
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.kubeconfig import exec_kubeconfig
from components.resource_types import (
    CRD,
    GET_CALLER_IDENTITY,
    GET_CLUSTER,
    GET_OIDC_PROVIDER,
    MANAGED_POLICY,
    POD_IDENTITY_ASSOCIATION,
    READ_STACK_OUTPUTS,
    ROLE,
)
from components.operator import CONTROLLER_SERVICE_ACCOUNT
from stacks.loading import PROJECT
from stacks.tenancy import KUBECONFIG_OUTPUT, PLATFORM_OUTPUT, platform_output_values

PROGRAM = Path(__file__).resolve().parents[2] / "__main__.py"
PLACEHOLDER_ACCOUNT = "123456789012"
PLACEHOLDER_CA = base64.b64encode(b"placeholder certificate authority").decode()
REDACTED = "[secret]"
# The organization of a stack on a self-managed backend (`pulumi login --local`, s3://...).
ORGANIZATION = "organization"


def placeholder_issuer(cluster: str, region: str) -> str:
    """A stable, obviously fake OIDC issuer derived from the cluster's name."""
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:32].upper()
    return f"oidc.eks.{region}.amazonaws.com/id/{digest}"


@dataclass(frozen=True)
class Registration:
    type: str
    name: str
    urn: str
    parent: Optional[str]
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]
    custom: bool
    provider: Optional[str] = None
    retain_on_delete: bool = False
    # Pulumi's protect: the engine refuses to delete it.
    protect: bool = False
    # Per input, the resources its value comes from (not those it merely waits for, `depends_on`).
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The URNs of the resource's aliases: each one a deployed resource it takes over.
    aliases: tuple[str, ...] = ()
    # The ID of an existing object the program reads (`Resource.get`), not one it manages.
    read_id: Optional[str] = None
    # The ID of an existing object the program takes under management (`import_`).
    import_id: Optional[str] = None


@dataclass
class ProgramRun:
    project: str
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    # The outputs the engine would store encrypted.
    secret_outputs: frozenset[str] = frozenset()

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]


class PlaceholderCloud(pulumi.runtime.Mocks):
    """Answers the program's AWS lookups and fills in what providers would compute."""

    def __init__(
        self,
        region: str,
        account_id: str = PLACEHOLDER_ACCOUNT,
        oidc_issuer: Optional[str] = None,
        previous_outputs: Optional[dict[str, Any]] = None,
    ):
        self.region = region
        self.account_id = account_id
        self.oidc_issuer = oidc_issuer.removeprefix("https://") if oidc_issuer else None
        # The stack's own outputs from its last deployment: none for a stack not deployed yet.
        self.previous_outputs = previous_outputs or {}

    def platform_outputs(self, name: str) -> dict[str, Any]:
        """A platform stack as a tenant stack reads it: of the tenant's own environment, its
        operator where the chart puts it by default."""
        environment = pulumi.Config(PROJECT).get("environment") or ""
        return {
            PLATFORM_OUTPUT: platform_output_values(environment, "irsa", "external-secrets", CONTROLLER_SERVICE_ACCOUNT),
            KUBECONFIG_OUTPUT: self.kubeconfig(name.replace("/", "-")),
        }

    def namespace_claims(self, kubeconfig: str, namespaces: list[str]) -> dict[str, tuple[str, str]]:
        """Which stack manages each namespace: none, offline."""
        return {}

    def issuer(self, cluster: str) -> str:
        return self.oidc_issuer or placeholder_issuer(cluster, self.region)

    def provider_arn(self, cluster: str) -> str:
        return self._provider_arn_of(self.issuer(cluster))

    def _provider_arn_of(self, issuer: str) -> str:
        return f"arn:aws:iam::{self.account_id}:oidc-provider/{issuer}"

    def kubeconfig(self, cluster: str) -> str:
        return exec_kubeconfig(cluster, self.region, self.endpoint(cluster), PLACEHOLDER_CA)

    def endpoint(self, cluster: str) -> str:
        digest = hashlib.sha256(cluster.encode()).hexdigest()[:32].upper()
        return f"https://{digest}.gr7.{self.region}.eks.amazonaws.com"

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == GET_CLUSTER:
            name = args.args["name"]
            return {
                "name": name,
                "arn": f"arn:aws:eks:{self.region}:{self.account_id}:cluster/{name}",
                "endpoint": self.endpoint(name),
                "certificateAuthorities": [{"data": PLACEHOLDER_CA}],
                "identities": [{"oidcs": [{"issuer": f"https://{self.issuer(name)}"}]}],
            }
        if args.token == GET_OIDC_PROVIDER:
            issuer = args.args["url"].removeprefix("https://")
            return {
                "arn": self._provider_arn_of(issuer),
                "url": issuer,
                "clientIdLists": ["sts.amazonaws.com"],
            }
        if args.token == GET_CALLER_IDENTITY:
            arn = f"arn:aws:iam::{self.account_id}:user/deployer"
            return {"accountId": self.account_id, "arn": arn, "userId": "AIDAPLACEHOLDER", "id": self.account_id}
        if args.token == READ_STACK_OUTPUTS and args.args["name"] == f"{ORGANIZATION}/{pulumi.get_project()}/{pulumi.get_stack()}":
            return {"name": args.args["name"], "outputs": self.previous_outputs, "secretOutputNames": []}
        if args.token == READ_STACK_OUTPUTS:
            return {"name": args.args["name"], "outputs": self.platform_outputs(args.args["name"]), "secretOutputNames": []}
        raise NotImplementedError(f"the offline plan has no placeholder for the lookup {args.token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == ROLE:
            outputs["arn"] = f"arn:aws:iam::{self.account_id}:role{args.inputs.get('path', '/')}{args.inputs['name']}"
            return args.inputs["name"], outputs
        if args.typ == MANAGED_POLICY:
            outputs["arn"] = f"arn:aws:iam::{self.account_id}:policy{args.inputs['path']}{args.inputs['name']}"
            return outputs["arn"], outputs
        if args.typ == "pulumi:pulumi:StackReference":
            stack_name = args.inputs.get("name") or args.resource_id or args.name
            outputs["outputs"] = {
                # A cluster named after the referenced stack, as a name EKS allows.
                "kubeconfig": self.kubeconfig(stack_name.replace("/", "-")),
                "oidcProviderArn": self.provider_arn(stack_name),
            }
            outputs["secretOutputNames"] = []
            return stack_name, outputs
        if args.typ == POD_IDENTITY_ASSOCIATION:
            # EKS's form: `a-` and 17 lowercase letters and digits.
            association = "a-" + hashlib.sha256(args.name.encode()).hexdigest()[:17]
            outputs["associationId"] = association
            outputs["associationArn"] = (
                f"arn:aws:eks:{self.region}:{self.account_id}:podidentityassociation/{args.inputs['clusterName']}/{association}"
            )
            return association, outputs
        if args.typ == CRD and args.resource_id:
            outputs["spec"] = {"group": "external-secrets.io", "versions": [{"name": "v1", "served": True, "storage": True}]}
            return args.resource_id, outputs
        if args.typ == "eks:index:Cluster":
            outputs.update(
                kubeconfigJson=self.kubeconfig(args.name),
                oidcProviderArn=self.provider_arn(args.name),
                oidcProviderUrl=f"https://{self.issuer(args.name)}",
                oidcIssuer=self.issuer(args.name),
            )
        return f"{args.name}-id", outputs


def _plain(value: Any) -> Any:
    """Secrets redacted, and whole numbers as integers: the wire format carries every number as a double."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return REDACTED
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _name_of(urn: str) -> Optional[str]:
    return urn.rsplit("::", 1)[-1] if urn else None


STACK_TYPE = "pulumi:pulumi:Stack"


def _type_chain(urn: str) -> str:
    return urn.split("::")[2]


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, also keeping each registration's parent, dependencies, inputs and aliases."""

    def __init__(self, cloud: PlaceholderCloud):
        super().__init__(cloud)
        self.registrations: list[Registration] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN as the engine makes it: the parent's whole type chain, the stack's excepted
        (the SDK's mock keeps only the parent's own type)."""
        if parent and _type_chain(parent) != STACK_TYPE:
            type_ = f"{_type_chain(parent)}${type_}"
        return "urn:pulumi:" + "::".join([settings.get_stack(), settings.get_project(), type_, name])

    def _alias_urns(self, request) -> tuple[str, ...]:
        urns = []
        for alias in getattr(request, "aliases", []):
            if alias.urn:
                urns.append(alias.urn)
                continue
            spec = alias.spec
            parent = spec.parentUrn or ("" if spec.noParent else request.parent)
            urns.append(self.make_urn(parent, spec.type or request.type, spec.name or request.name))
        return tuple(sorted(urns))

    def _record(self, request, urn: str, properties, read_id: Optional[str] = None) -> None:
        inputs = rpc.deserialize_properties(properties, keep_unknowns=False)
        parent = _name_of(request.parent)
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=urn,
                parent=None if parent == f"{PROJECT}-{settings.get_stack()}" else parent,
                inputs=_plain(inputs),
                dependencies=tuple(sorted(_name_of(dep) for dep in getattr(request, "dependencies", []))),
                custom=getattr(request, "custom", True),
                provider=request.provider.split("::")[-2] if request.provider else None,
                retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
                protect=bool(getattr(request, "protect", False)),
                property_dependencies={
                    key: tuple(sorted(_name_of(urn) for urn in deps.urns))
                    for key, deps in sorted(getattr(request, "propertyDependencies", {}).items()) if deps.urns
                },
                aliases=self._alias_urns(request),
                read_id=read_id,
                import_id=getattr(request, "importId", "") or None,
            )
        )

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self._record(request, response.urn, request.object)
        return response

    def ReadResource(self, request):
        response = super().ReadResource(request)
        self._record(request, response.urn, request.properties, read_id=request.id)
        return response


def identity_clashes(run: ProgramRun) -> dict[str, list[Registration]]:
    """Each URN that more than one resource claims, as its own URN or as an alias: the real
    engine stops on these ("Duplicate resource URN", "Duplicate resource alias"); the SDK's
    mock engine does not."""
    claims: dict[str, list[Registration]] = {}
    for resource in run.resources:
        for urn in {resource.urn, *resource.aliases}:
            claims.setdefault(urn, []).append(resource)
    return {urn: claimants for urn, claimants in sorted(claims.items()) if len(claimants) > 1}


class _WarningCollector(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _close_worker_loops() -> None:
    """Closes the event loops the SDK opened in its worker threads, at exit: the threads are
    reused by every run, so their loops must stay open until then. Left open, they are
    finalized after their file descriptors are gone and print a spurious 'Invalid file
    descriptor' traceback on a successful run."""
    own = asyncio.get_event_loop()
    for candidate in gc.get_objects():
        if isinstance(candidate, asyncio.AbstractEventLoop) and candidate is not own:
            if not candidate.is_running() and not candidate.is_closed():
                candidate.close()


atexit.register(_close_worker_loops)


def record(
    build: Callable[[], Any],
    stack: str,
    cloud: PlaceholderCloud,
    config: Optional[dict[str, str]] = None,
    project: str = PROJECT,
    monitor: Optional[RecordingMonitor] = None,
    secret_keys: tuple[str, ...] = (),
) -> ProgramRun:
    """Runs `build` under the mock engine with `config` (Pulumi's `namespace:key` to string form)
    and records every resource it registers. Its stack exports become the run's outputs.

    Exceptions of `build`, `pulumi.RunError` for bad config among them, propagate.
    """
    monitor = monitor or RecordingMonitor(cloud)
    collector = _WarningCollector()
    logger = logging.getLogger(f"eso-platform.engine.{id(monitor)}")
    logger.propagate = False
    logger.addHandler(collector)
    # A run that failed leaves its tasks behind; they must not fail the next run.
    settings.SETTINGS.outputs.clear()
    settings.SETTINGS.rpc_manager.clear()
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        cloud, project=project, stack=stack, preview=False, logger=logger, monitor=monitor, organization=ORGANIZATION
    )
    pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys))
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()

    async def program() -> None:
        build()
        root = settings.get_root_resource()
        for name, value in (root.outputs or {}).items():
            exported = pulumi.Output.from_input(value)
            outputs[name] = await exported.future()
            if await exported.is_secret():
                secret_outputs.add(name)

    try:
        _sync_await(run_pulumi_func(program))
    finally:
        logger.removeHandler(collector)
    resources = sorted(monitor.registrations, key=lambda r: (r.name, r.type))
    return ProgramRun(project, stack, resources, outputs, collector.messages, frozenset(secret_outputs))


def run_program(
    config: dict[str, str],
    stack: str,
    cloud: PlaceholderCloud,
    monitor: Optional[RecordingMonitor] = None,
    secret_keys: tuple[str, ...] = (),
) -> ProgramRun:
    """Runs the real `__main__.py` with a stack's config; see `record`."""
    return record(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        stack,
        cloud,
        config,
        monitor=monitor,
        secret_keys=secret_keys,
    )
