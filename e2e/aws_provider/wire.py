"""Pulumi property values on the wire (`google.protobuf.Struct`) and back.

The conventions are the Python SDK's (`pulumi.runtime.rpc`): an unknown value is the string
`rpc.UNKNOWN`; a secret is an object whose `rpc._special_sig_key` is `rpc._special_secret_sig`
with the plain value under "value". The constants are imported, never spelled out here.

This plugin answers Configure with acceptSecrets=False (as pulumi-aws does, see
`server.CONFIGURE_RESPONSE`), so the engine strips secrets before calling it and marks outputs
secret itself. A secret that arrives anyway is unwrapped; its secretness is the engine's to keep.
"""

from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime import rpc

UNKNOWN = rpc.UNKNOWN
SIG_KEY = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value == UNKNOWN


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_unknown(item) for item in value)
    return False


def _from_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [_from_value(item) for item in value.list_value.values]
    fields = {key: _from_value(item) for key, item in value.struct_value.fields.items()}
    if fields.get(SIG_KEY) == SECRET_SIG:
        return fields.get("value")
    return fields


def to_python(struct: struct_pb2.Struct, skip_nulls: bool = True) -> dict[str, Any]:
    """A property map as plain values; nulls dropped, as the bridge's SkipNulls does for news."""
    result = {key: _from_value(item) for key, item in struct.fields.items()}
    if skip_nulls:
        result = {key: item for key, item in result.items() if item is not None}
    return result


def _to_value(value: Any) -> struct_pb2.Value:
    out = struct_pb2.Value()
    if value is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, (int, float)):
        out.number_value = float(value)
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, dict):
        for key, item in value.items():
            out.struct_value.fields[key].CopyFrom(_to_value(item))
        out.struct_value.SetInParent()
    elif isinstance(value, (list, tuple)):
        out.list_value.SetInParent()
        for item in value:
            out.list_value.values.append(_to_value(item))
    else:
        raise TypeError(f"cannot put {type(value).__name__} on the wire: {value!r}")
    return out


def to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    for key, item in values.items():
        struct.fields[key].CopyFrom(_to_value(item))
    return struct
