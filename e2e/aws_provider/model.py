"""The per-type table's vocabulary and the rules every bridged resource shares.

A resource type is a `ResourceType` subclass with a tuple of `Field`s (its inputs, as the
terraform schema declares them) and four AWS calls. What pulumi-terraform-bridge does around
those calls lives here, once, so adding a type means describing its fields and writing its calls:

* `check`: the bridge's Provider.Check (pkg/tfbridge/provider.go) with the default machinery of
  pkg/tfbridge/schema.go `applyDefaults`: validation failures, auto-names, terraform defaults and
  the `__defaults` list.
* `diff`: Provider.Diff with the PlanResourceChange shim (the planned state against the prior
  state, pkg/tfbridge/detailed_diff.go `MakeDetailedDiffV2`), the replace keys and
  `nameRequiresDeleteBeforeReplace` (pkg/tfbridge/schema.go).
* `preview_outputs` / `planned_outputs`: what Create/Update answer with preview=True.
"""

import dataclasses
import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from e2e.aws_provider import documents
from e2e.aws_provider.wire import UNKNOWN, contains_unknown, is_unknown

# pkg/reservedkeys/keys.go: the input property listing the keys that defaults populated.
DEFAULTS_KEY = "__defaults"


class ProviderError(Exception):
    """An error the engine should show as the operation's failure (a gRPC error)."""


@dataclass(frozen=True)
class Field:
    """One input of a terraform schema, under its Pulumi name.

    `computed` is terraform's Optional+Computed: a value left out of the program keeps the
    prior state's. `default` is the schema's `Default`. `autoname` marks the `name` that
    pulumi-aws fills in with `<resource name>-<7 random hex>` when the program sets none.
    """

    name: str
    tf: str
    kind: str  # "string" | "int" | "bool" | "map" | "set" | "document" | "objects"
    required: bool = False
    computed: bool = False
    force_new: bool = False
    default: Any = None
    autoname: bool = False
    conflicts_with: tuple[str, ...] = ()
    validate: Optional[Callable[[str, Any], list[str]]] = None


def with_force_new(names: tuple[str, ...], fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """`fields` with `force_new` set on exactly the named ones (each type's ForceNew table)."""
    known = {f.name for f in fields}
    missing = set(names) - known
    if missing:
        raise ValueError(f"ForceNew names without a field: {sorted(missing)}")
    return tuple(dataclasses.replace(f, force_new=f.name in names) for f in fields)


@dataclass
class CheckResult:
    inputs: dict[str, Any]
    failures: list[tuple[str, str]]  # (property, reason)


@dataclass
class DiffResult:
    changes: bool
    replaces: list[str]
    stables: list[str]
    delete_before_replace: bool
    diffs: list[str]
    detailed: dict[str, str]  # property path -> PropertyDiff kind name ("UPDATE_REPLACE", ...)


@dataclass
class ProviderSettings:
    """What resource handlers need from the provider configuration."""

    region: str = "us-east-1"
    default_tags: dict[str, str] = field(default_factory=dict)
    ignore_tag_keys: tuple[str, ...] = ()
    ignore_tag_prefixes: tuple[str, ...] = ()


def _zero(kind: str) -> Any:
    return {"string": "", "document": "", "int": 0, "bool": False, "map": {}, "set": [], "objects": []}[kind]


def _sort_key(item: Any) -> str:
    import json

    return json.dumps(item, sort_keys=True)


def same(kind: str, old: Any, new: Any) -> bool:
    """Terraform's notion of "no change" for one attribute (SDKv2 treats an unset primitive and
    its zero value alike; sets compare without order; documents by equivalence)."""
    if is_unknown(new) or contains_unknown(new):
        return False
    old = _zero(kind) if old is None else old
    new = _zero(kind) if new is None else new
    if kind == "document":
        if old == "" or new == "":
            return old == new
        return documents.equivalent(old, new)
    if kind == "set":
        return sorted(old, key=_sort_key) == sorted(new, key=_sort_key)
    if kind == "objects":
        return _objects_equivalent(old, new)
    return old == new


def _objects_equivalent(old: list, new: list) -> bool:
    # Role.inline_policy: `inlinePoliciesEquivalent` (role.go) matches by name, documents by equivalence.
    def named(items):
        return {item.get("name"): item.get("policy") for item in items if item.get("name")}

    a, b = named(old), named(new)
    return a.keys() == b.keys() and all(documents.equivalent(a[k], b[k]) for k in a)


def property_key(parent: str, key: str) -> str:
    """A detailed-diff path element the way the bridge's propertyPath.Key() writes it."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{parent}.{key}"
    return f'{parent}["{key}"]'


# Naming -------------------------------------------------------------------------------------

_unique_lock = threading.Lock()
_unique_counter = 0


def prefixed_unique_id(prefix: str) -> str:
    """terraform-plugin-sdk helper/id.PrefixedUniqueId: prefix + a 26-hex-digit suffix (a UTC
    timestamp to 1/10000 s, then an 8-hex-digit counter), so names sort by creation."""
    global _unique_counter
    with _unique_lock:
        _unique_counter += 1
        counter = _unique_counter
    now = time.time()
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + f"{int(now * 10000) % 10000:04d}"
    return f"{prefix}{stamp}{counter:08x}"


def terraform_name(name: Optional[str], name_prefix: Optional[str]) -> str:
    """internal/create/naming.go `Name`: the name, else prefix + unique id, else terraform-<id>."""
    if name:
        return name
    if name_prefix:
        return prefixed_unique_id(name_prefix)
    return prefixed_unique_id("terraform-")


def name_prefix_from_name(name: Optional[str]) -> str:
    """internal/create/naming.go `NamePrefixFromName`: the part before a 26-hex-digit unique-id
    suffix, or nothing (which state holds as "")."""
    if not name or not re.search(r"[0-9A-Fa-f]{26}$", name):
        return ""
    prefix = name[: len(name) - 26]
    return prefix if prefix else ""


def autoname(urn: str, seed: bytes, maxlen: int, autonaming: Any = None) -> str:
    """pkg/tfbridge/info/autonaming.go `ComputeAutoNameDefault` with pulumi-aws's options
    (separator "-", 7 random characters from 0-9a-f): `<resource name>-<7 hex>`.

    The engine's autonaming proposal (CheckRequest.autonaming) wins when present: mode PROPOSE
    uses the proposed name (checked against maxlen), ENFORCE uses it as is, DISABLE is an error.
    The random part is derived from the engine's random seed (sha256 of it), so a given seed
    always gives the same name; the digits differ from the bridge's frand stream, the shape not.
    """
    resource_name = urn.rsplit("::", 1)[-1]
    if autonaming is not None and autonaming.ListFields():
        mode = autonaming.mode
        proposed = autonaming.proposed_name
        if mode == 0:  # PROPOSE
            if maxlen and len(proposed) > maxlen:
                raise ProviderError(f"calculated name '{proposed}' exceeds maximum length of {maxlen}")
            return proposed
        if mode == 1:  # ENFORCE
            return proposed
        raise ProviderError("automatic naming is disabled but no explicit name was provided")
    prefix = f"{resource_name}-"
    if maxlen and len(prefix) + 7 > maxlen:
        raise ProviderError(f"name '{prefix}' plus 7 random chars is longer than maximum length {maxlen}")
    digest = hashlib.sha256(seed or hashlib.sha256(str(time.time_ns()).encode()).digest()).digest()
    return prefix + "".join("0123456789abcdef"[byte % 16] for byte in digest[:7])


# The type table's base class --------------------------------------------------------------------


class ResourceType:
    token: str = ""
    tf_type: str = ""
    fields: tuple[Field, ...] = ()
    # Output-only properties (besides the inputs and "id"), unknown in a create preview.
    computed_outputs: tuple[str, ...] = ()
    # pulumi-aws ResourceInfo.DeleteBeforeReplace (provider/resources.go).
    delete_before_replace: bool = False
    # Maximum length pulumi-aws gives the auto-name (AutoName(..., maxlen, "-") / SetAutonaming).
    autoname_maxlen: int = 255
    # Whether the type has tags/tags_all (tftags.TagsSchema / TagsSchemaComputed).
    tagged: bool = False

    # The four calls; `aws` is a config.AwsSession. Outputs are Pulumi-named, "id" included.
    def create(self, aws, settings: ProviderSettings, inputs: dict) -> tuple[str, dict]:
        raise NotImplementedError

    def read(self, aws, settings: ProviderSettings, resource_id: str, state: dict) -> Optional[dict]:
        raise NotImplementedError

    def update(self, aws, settings: ProviderSettings, resource_id: str, state: dict, planned: dict,
               changed: set[str]) -> dict:
        raise NotImplementedError

    def delete(self, aws, settings: ProviderSettings, resource_id: str, state: dict) -> None:
        raise NotImplementedError

    # Shared rules -------------------------------------------------------------------------

    @property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @property
    def force_new(self) -> tuple[str, ...]:
        return tuple(sorted(f.name for f in self.fields if f.force_new))

    def check(self, urn: str, olds: Optional[dict], news: dict, seed: bytes, autonaming: Any = None) -> CheckResult:
        resource_name = urn.rsplit("::", 1)[-1]
        spec = self.by_name
        failures: list[tuple[str, str]] = []
        inputs: dict[str, Any] = {}
        for key, value in news.items():
            if key == DEFAULTS_KEY:
                continue
            if key not in spec:
                failures.append(("", f"Invalid or unknown key. Examine values at '{resource_name}.{key}'."))
                continue
            # pulumi-aws gives policy documents tfbridge.TransformJSONDocument: an object is
            # sent as its JSON text.
            if spec[key].kind == "document" and isinstance(value, (dict, list)):
                value = documents.normalize(value)
            inputs[key] = value

        for f in self.fields:
            value = inputs.get(f.name)
            if f.required and value is None:
                # pkg/tfbridge/check_failures.go missingRequiredKey (no Property, by design there).
                failures.append(("", f"Missing required property '{f.name}'"))
                continue
            if value is None or contains_unknown(value):
                continue
            for other in f.conflicts_with:
                if inputs.get(other) is not None:
                    failures.append(("", f'"{f.tf}": conflicts with {self.by_name[other].tf}. '
                                         f"Examine values at '{resource_name}.{f.name}'."))
            if f.validate is not None:
                for message in f.validate(f.tf, value):
                    failures.append(("", f"{message}. Examine values at '{resource_name}.{f.name}'."))

        inputs = self._apply_defaults(urn, olds or {}, inputs, seed, autonaming)
        return CheckResult(inputs, failures)

    def _apply_defaults(self, urn: str, olds: dict, inputs: dict, seed: bytes, autonaming: Any) -> dict:
        # pkg/tfbridge/schema.go applyDefaults: an old value is reused for a key only if the old
        # inputs listed it in __defaults (or had no such list at all).
        old_defaults = olds.get(DEFAULTS_KEY)
        if isinstance(old_defaults, list):
            reusable = set(old_defaults)

            def use_old(key: str) -> bool:
                return key in reusable and key in olds
        else:
            def use_old(key: str) -> bool:
                return key in olds

        result = dict(inputs)
        added: list[str] = []

        def conflicts(f: Field) -> bool:
            return any(result.get(other) is not None for other in f.conflicts_with)

        # First the overlay defaults (pulumi-aws's AutoName on `name`).
        for f in self.fields:
            if f.autoname and f.name not in result and not conflicts(f):
                result[f.name] = olds[f.name] if use_old(f.name) else autoname(urn, seed, self.autoname_maxlen, autonaming)
                added.append(f.name)
        # Then terraform schema defaults. A freshly synthesized falsy default (false, 0, "") is
        # left out since pulumi/pulumi-terraform-bridge#3398 (commit 6e33544, "Fix RawConfig
        # parity for omitted falsy TF defaults", in v3.127.0+); one replayed from old inputs is kept.
        for f in self.fields:
            if f.default is None or f.name in result or conflicts(f):
                continue
            if use_old(f.name):
                result[f.name] = olds[f.name]
            elif f.default in (False, 0, ""):
                continue
            else:
                result[f.name] = f.default
            added.append(f.name)
        result[DEFAULTS_KEY] = sorted(added)
        return result

    def plan(self, state: dict, news: dict, settings: ProviderSettings) -> dict:
        """The planned value of every input (and tagsAll) for `news` against prior `state`."""
        planned: dict[str, Any] = {}
        for f in self.fields:
            if f.name in news:
                value = news[f.name]
                # DiffSuppressFunc verify.SuppressEquivalentPolicyDiffs keeps the prior text.
                if f.kind == "document" and not is_unknown(value) and same(f.kind, state.get(f.name), value):
                    value = state.get(f.name)
                planned[f.name] = value
            elif f.computed:
                planned[f.name] = state.get(f.name)
            elif f.default is not None:
                planned[f.name] = f.default
            else:
                planned[f.name] = None
        if self.tagged:
            planned["tagsAll"] = tags_all(settings, planned.get("tags"))
        return planned

    def diff(self, state: dict, news: dict, settings: ProviderSettings, ignore_changes: list[str] = ()) -> DiffResult:
        news = dict(news)
        for path in ignore_changes:
            top = re.split(r"[.\[]", path, maxsplit=1)[0]
            if top in state:
                news[top] = state[top]
            else:
                news.pop(top, None)
        planned = self.plan(state, news, settings)
        detailed: dict[str, str] = {}
        kinds = {f.name: f.kind for f in self.fields}
        if self.tagged:
            kinds["tagsAll"] = "map"
        force_new = set(self.force_new)
        for name, kind in kinds.items():
            old, new = state.get(name), planned.get(name)
            if same(kind, old, new):
                continue
            replace = "_REPLACE" if name in force_new else ""
            if kind == "map" and isinstance(old, dict) and isinstance(new, dict):
                for key in sorted(set(old) | set(new)):
                    if old.get(key) == new.get(key) and not is_unknown(new.get(key)):
                        continue
                    base = "ADD" if key not in old else "DELETE" if key not in new else "UPDATE"
                    detailed[property_key(name, key)] = base + replace
                continue
            if is_unknown(new):
                base = "UPDATE"
            elif old is None:
                base = "ADD"
            elif new is None:
                base = "DELETE"
            else:
                base = "UPDATE"
            detailed[name] = base + replace
        tops = sorted({re.split(r"[.\[]", path, maxsplit=1)[0] for path in detailed})
        replaces = sorted({re.split(r"[.\[]", path, maxsplit=1)[0] for path, kind in detailed.items()
                           if kind.endswith("_REPLACE")})
        stables = sorted(force_new - set(replaces))
        dbr = bool(replaces) and (self.delete_before_replace or name_requires_delete_before_replace(self, news))
        return DiffResult(bool(detailed), replaces, stables, dbr, tops, detailed)

    def preview_outputs(self, inputs: dict, settings: ProviderSettings) -> dict:
        """Create with preview=True: the inputs, defaults, and unknown for what only AWS knows."""
        outputs: dict[str, Any] = {}
        for f in self.fields:
            if f.name in inputs:
                outputs[f.name] = inputs[f.name]
            elif f.computed:
                outputs[f.name] = UNKNOWN
            elif f.default is not None:
                outputs[f.name] = f.default
        for name in self.computed_outputs:
            outputs[name] = UNKNOWN
        if self.tagged:
            outputs["tagsAll"] = tags_all(settings, inputs.get("tags"))
        outputs["id"] = UNKNOWN
        return outputs

    def planned_outputs(self, state: dict, news: dict, settings: ProviderSettings) -> dict:
        """Update with preview=True: the prior state with the planned inputs over it."""
        outputs = dict(state)
        outputs.update({key: value for key, value in self.plan(state, news, settings).items() if value is not None})
        return outputs

    def read_back(self, aws, settings: ProviderSettings, resource_id: str, state: dict, missing: str) -> dict:
        """The resource as read right after a create or update: terraform's Create and Update
        end with Read, and a resource that is not there then is the error `missing`."""
        outputs = self.read(aws, settings, resource_id, state)
        if outputs is None:
            raise ProviderError(missing)
        return outputs

    def state_only(self, inputs: dict) -> dict:
        """Inputs terraform keeps in state without reading them back (e.g. force_detach_policies)."""
        return {}

    def as_state(self, values: dict) -> dict:
        """Values as terraform stores them: documents through their StateFunc (normalized)."""
        out = dict(values)
        for f in self.fields:
            value = out.get(f.name)
            if f.kind == "document" and isinstance(value, str) and value and not is_unknown(value):
                try:
                    out[f.name] = documents.normalize(value)
                except ValueError:
                    pass
        return out


def name_requires_delete_before_replace(rt: ResourceType, news: dict) -> bool:
    """pkg/tfbridge/schema.go `nameRequiresDeleteBeforeReplace` (called from Provider.Diff in
    pkg/tfbridge/provider.go as `len(replaces) > 0 && (res.Schema.DeleteBeforeReplace ||
    nameRequiresDeleteBeforeReplace(news, olds, schema, res.Schema))`): true when the checked
    inputs carry a `__defaults` list and an auto-named property is set but not listed there, i.e.
    the program named the resource itself. No `__defaults` list (state older than the list)
    counts as auto-named. None of these types sets UniqueNameFields, so that branch is absent."""
    defaults = news.get(DEFAULTS_KEY)
    if not isinstance(defaults, list):
        return False
    listed = {key for key in defaults if isinstance(key, str)}
    return any(f.autoname and f.name in news and f.name not in listed for f in rt.fields)


def tags_all(settings: ProviderSettings, tags: Any) -> Any:
    """tags_all as verify.SetTagsDiff plans it: the provider's default_tags under the resource's."""
    if is_unknown(tags) or contains_unknown(tags):
        return UNKNOWN
    merged = dict(settings.default_tags)
    merged.update(tags or {})
    return merged


def read_tags(settings: ProviderSettings, aws_tags: Optional[list]) -> tuple[dict, dict]:
    """(tags, tags_all) from AWS tags: `KeyValueTags(...).IgnoreAWS().IgnoreConfig(...)`, and
    tags without the default tags that have the same value (RemoveDefaultConfig)."""
    everything = {}
    for tag in aws_tags or []:
        key = tag["Key"]
        if key.startswith("aws:") or key in settings.ignore_tag_keys:
            continue
        if any(key.startswith(prefix) for prefix in settings.ignore_tag_prefixes):
            continue
        everything[key] = tag["Value"]
    own = {k: v for k, v in everything.items() if settings.default_tags.get(k) != v}
    return own, everything


def rfc3339(value: Any) -> str:
    """`time.Format(time.RFC3339)` of an AWS timestamp (UTC, seconds)."""
    import datetime

    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)
