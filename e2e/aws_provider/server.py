"""The `aws` resource provider plugin: Pulumi's ResourceProvider gRPC service over the type table.

Started by the engine as `pulumi-resource-aws [flags] <engine address>`, it listens on a free
127.0.0.1 port, writes just that port number to stdout, and serves until the engine sends Cancel
(then it finishes what is in flight and exits) or the process gets SIGTERM/SIGINT.

Anything this stand-in does not implement answers a gRPC error that names it: a resource type or
invoke token outside `registry` (UNIMPLEMENTED, naming the token), and the RPCs a deployment of
the program does not use (Handshake, Parameterize, Call, Construct, Attach, GetMapping(s), List:
UNIMPLEMENTED, which the engine itself treats as "not supported" for Handshake and GetMapping).
"""

import logging
import signal
import sys
import threading
import traceback
from concurrent import futures
from typing import Any, Callable, Optional

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from e2e.aws_provider import registry
from e2e.aws_provider.config import AwsSession, ProviderConfig
from e2e.aws_provider.invokes import InvokeFailure
from e2e.aws_provider.model import DEFAULTS_KEY, ProviderError, ProviderSettings, ResourceType, same
from e2e.aws_provider.schema import PLUGIN_VERSION, package_schema
from e2e.aws_provider.wire import contains_unknown, to_python, to_struct

log = logging.getLogger("e2e.aws_provider")

# What pulumi-aws answers Configure with: it muxes the SDKv2 bridge (pkg/tfbridge/provider.go
# Configure returns SupportsPreview and SupportsAutonamingConfiguration only) with the Plugin
# Framework bridge (pkg/pf/internal/plugin/provider_server.go: AcceptResources true, AcceptSecrets
# false), and pkg/x/muxer/muxer.go Configure ANDs the answers. So: no secrets (the engine strips
# them and marks outputs secret from secret inputs itself), no resource references, no output
# values, previews yes, engine autonaming yes.
CONFIGURE_RESPONSE = dict(
    acceptSecrets=False,
    supportsPreview=True,
    acceptResources=False,
    acceptOutputs=False,
    supports_autonaming_configuration=True,
)

_KIND = {name: value for name, value in provider_pb2.PropertyDiff.Kind.items()}


def urn_type(urn: str) -> str:
    # urn:pulumi:<stack>::<project>::<parent types$>type::<name>
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) >= 4 else ""


class AwsProvider(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self, resources: Optional[dict[str, ResourceType]] = None, invokes: Optional[dict] = None,
                 on_cancel: Optional[Callable[[], None]] = None):
        self.resources = registry.RESOURCES if resources is None else resources
        self.invokes = registry.INVOKES if invokes is None else invokes
        self.on_cancel = on_cancel
        self.config: Optional[ProviderConfig] = None
        self.settings = ProviderSettings()
        self._aws: Optional[AwsSession] = None
        self.cancelled = threading.Event()

    # Plumbing -------------------------------------------------------------------------------

    @property
    def aws(self) -> AwsSession:
        if self._aws is None:
            raise ProviderError("the aws provider is not configured (Configure was not called)")
        return self._aws

    def _type(self, request, context, operation: str) -> ResourceType:
        token = getattr(request, "type", "") or urn_type(request.urn)
        handler = self.resources.get(token)
        if handler is None:
            context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                f"aws stand-in provider: resource type '{token}' is not implemented ({operation}); "
                f"it implements {', '.join(sorted(self.resources))}",
            )
        return handler

    @staticmethod
    def _guard(context, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ProviderError as error:
            context.abort(grpc.StatusCode.UNKNOWN, str(error))
        except (grpc.RpcError, InvokeFailure):
            raise
        except Exception as error:  # a bug here, or an AWS answer the handler did not expect
            log.error("%s failed:\n%s", what, traceback.format_exc())
            context.abort(grpc.StatusCode.INTERNAL, f"aws stand-in provider: {what}: {type(error).__name__}: {error}")

    def _unimplemented(self, method: str, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"aws stand-in provider: {method} is not implemented")

    # Plugin ---------------------------------------------------------------------------------

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=PLUGIN_VERSION)

    def GetSchema(self, request, context):
        if request.version > 1:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported schema version {request.version}")
        return provider_pb2.GetSchemaResponse(schema=package_schema(self.resources, self.invokes))

    def Cancel(self, request, context):
        self.cancelled.set()
        if self.on_cancel is not None:
            self.on_cancel()
        return empty_pb2.Empty()

    # Provider configuration -----------------------------------------------------------------

    def CheckConfig(self, request, context):
        news = to_python(request.news)
        failures = ProviderConfig.from_inputs(news).failures()
        if failures:
            return provider_pb2.CheckResponse(
                failures=[provider_pb2.CheckFailure(property=p, reason=r) for p, r in failures])
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        # pkg/tfbridge/provider.go configDiffer.DiffConfig: an input diff, never a replacement
        # (no pulumi-aws config key sets ForcesProviderReplace), never delete-before-replace.
        olds = to_python(request.old_inputs if request.HasField("old_inputs") else request.olds)
        news = to_python(request.news)
        detailed = {}
        for key in sorted(set(olds) | set(news)):
            if key in olds and key in news and olds[key] == news[key] and not contains_unknown(news[key]):
                continue
            kind = "ADD" if key not in olds else "DELETE" if key not in news else "UPDATE"
            detailed[key] = provider_pb2.PropertyDiff(kind=_KIND[kind], inputDiff=True)
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if detailed else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=sorted(detailed), detailedDiff=detailed, hasDetailedDiff=True,
        )

    def Configure(self, request, context):
        values = to_python(request.args) if request.HasField("args") else {}
        if not values:
            values = {key.split(":", 1)[-1]: value for key, value in request.variables.items()}

        def configure():
            config = ProviderConfig.from_inputs(values)
            session = AwsSession(config)
            if not any(contains_unknown(value) for value in values.values()):
                session.validate_credentials()
            self.config, self.settings, self._aws = config, config.settings(), session

        self._guard(context, "Configure", configure)
        return provider_pb2.ConfigureResponse(**CONFIGURE_RESPONSE)

    # Resources ------------------------------------------------------------------------------

    def Check(self, request, context):
        rt = self._type(request, context, "Check")
        olds = to_python(request.olds) if request.HasField("olds") else None
        news = to_python(request.news)
        autonaming = request.autonaming if request.HasField("autonaming") else None
        result = self._guard(context, f"Check({request.urn})",
                             lambda: rt.check(request.urn, olds, news, request.randomSeed, autonaming))
        return provider_pb2.CheckResponse(
            inputs=to_struct(result.inputs),
            failures=[provider_pb2.CheckFailure(property=p, reason=r) for p, r in result.failures],
        )

    def Diff(self, request, context):
        rt = self._type(request, context, "Diff")
        state, news = to_python(request.olds), to_python(request.news)
        result = self._guard(context, f"Diff({request.urn})",
                             lambda: rt.diff(state, news, self.settings, list(request.ignoreChanges)))
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if result.changes else provider_pb2.DiffResponse.DIFF_NONE,
            replaces=result.replaces,
            stables=result.stables,
            deleteBeforeReplace=result.delete_before_replace,
            diffs=result.diffs,
            detailedDiff={path: provider_pb2.PropertyDiff(kind=_KIND[kind]) for path, kind in result.detailed.items()},
            hasDetailedDiff=True,
        )

    def Create(self, request, context):
        rt = self._type(request, context, "Create")
        inputs = to_python(request.properties)
        if request.preview:
            outputs = rt.preview_outputs(inputs, self.settings)
            return provider_pb2.CreateResponse(id="", properties=to_struct(outputs))

        def create():
            resource_id, outputs = rt.create(self.aws, self.settings, inputs)
            outputs.update(rt.state_only(inputs))
            return resource_id, outputs

        resource_id, outputs = self._guard(context, f"Create({request.urn})", create)
        return provider_pb2.CreateResponse(id=resource_id, properties=to_struct(outputs))

    def Read(self, request, context):
        rt = self._type(request, context, "Read")
        state = to_python(request.properties)
        old_inputs = to_python(request.inputs)
        outputs = self._guard(context, f"Read({request.urn}, {request.id})",
                              lambda: rt.read(self.aws, self.settings, request.id, state))
        if outputs is None:
            # Gone: an empty id tells the engine to drop it from the state.
            return provider_pb2.ReadResponse()
        inputs = extract_inputs(rt, old_inputs, outputs, is_refresh=bool(state))
        return provider_pb2.ReadResponse(id=outputs.get("id") or request.id, properties=to_struct(outputs),
                                         inputs=to_struct(inputs))

    def Update(self, request, context):
        rt = self._type(request, context, "Update")
        state, news = to_python(request.olds), to_python(request.news)

        def update():
            planned = rt.plan(state, news, self.settings)
            kinds = {f.name: f.kind for f in rt.fields}
            if rt.tagged:
                kinds["tagsAll"] = "map"
            changed = {name for name, kind in kinds.items() if not same(kind, state.get(name), planned.get(name))}
            if request.preview:
                outputs = rt.planned_outputs(state, news, self.settings)
            else:
                outputs = rt.update(self.aws, self.settings, request.id, state, planned, changed)
            outputs.update(rt.state_only(news))
            return outputs

        outputs = self._guard(context, f"Update({request.urn}, {request.id})", update)
        return provider_pb2.UpdateResponse(properties=to_struct(outputs))

    def Delete(self, request, context):
        rt = self._type(request, context, "Delete")
        state = to_python(request.properties)
        self._guard(context, f"Delete({request.urn}, {request.id})",
                    lambda: rt.delete(self.aws, self.settings, request.id, state))
        return empty_pb2.Empty()

    def Invoke(self, request, context):
        function = self.invokes.get(request.tok)
        if function is None:
            context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                f"aws stand-in provider: invoke '{request.tok}' is not implemented; "
                f"it implements {', '.join(sorted(self.invokes))}",
            )
        args = to_python(request.args)
        try:
            result = self._guard(context, f"Invoke({request.tok})", lambda: function(self.aws, self.settings, args))
        except InvokeFailure as failure:
            return provider_pb2.InvokeResponse(
                failures=[provider_pb2.CheckFailure(property=failure.property, reason=failure.reason)])
        return provider_pb2.InvokeResponse(**{"return": to_struct(result)})

    # Not implemented: named, never silent -------------------------------------------------------

    def Handshake(self, request, context):
        self._unimplemented("Handshake", context)

    def Parameterize(self, request, context):
        self._unimplemented("Parameterize", context)

    def Call(self, request, context):
        self._unimplemented("Call", context)

    def Construct(self, request, context):
        self._unimplemented("Construct", context)

    def Attach(self, request, context):
        self._unimplemented("Attach", context)

    def GetMapping(self, request, context):
        self._unimplemented("GetMapping", context)

    def GetMappings(self, request, context):
        self._unimplemented("GetMappings", context)

    def List(self, request, context):
        self._unimplemented("List", context)


def extract_inputs(rt: ResourceType, old_inputs: dict, outputs: dict, is_refresh: bool) -> dict:
    """pkg/tfbridge/schema.go ExtractInputsFromOutputs as Provider.Read uses it.

    Refresh: each old input takes its refreshed value (a key the state no longer has is
    dropped), except documents (they have a StateFunc, so the old input text stays), and
    `__defaults` is removed (deleteDefaultsKey). Import/get: the input properties of the
    outputs, leaving out unset, zero and default values of optional ones, with an empty
    `__defaults`."""
    spec = rt.by_name
    if is_refresh:
        inputs = {}
        for key, value in old_inputs.items():
            if key == DEFAULTS_KEY:
                continue
            if key not in outputs:
                continue
            field = spec.get(key)
            inputs[key] = value if field is not None and field.kind == "document" else outputs[key]
        return inputs
    inputs = {}
    for field in rt.fields:
        value = outputs.get(field.name)
        if value is None:
            continue
        if not field.required and (value == field.default or same(field.kind, None, value)):
            continue
        inputs[field.name] = value
    inputs[DEFAULTS_KEY] = []
    return inputs


def serve(argv: Optional[list[str]] = None, out=None) -> int:
    """Run the plugin until Cancel or a signal. `argv` is what the engine passed (flags and its
    own address, unused here); the chosen port goes to `out` (stdout), alone on its line."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[aws stand-in] %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stop = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)])
    provider = AwsProvider(on_cancel=stop.set)
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(provider, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(port, file=out or sys.stdout, flush=True)
    stop.wait()
    # Let the Cancel call itself, and anything in flight, answer before the port closes.
    server.stop(grace=2).wait()
    return 0
