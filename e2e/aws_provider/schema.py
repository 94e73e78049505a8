"""A minimal Pulumi package schema for GetSchema, generated from the type table.

A deployment does not ask for it (the engine calls GetSchema for `pulumi package get-schema`,
conversion and code generation), so it only describes the implemented types and invokes: their
input and output property names and types, the required inputs. The authoritative schema is
pulumi-aws 7.51.1's own, whose generated Python SDK is installed with the program.
"""

import json

from components.resource_types import GET_CALLER_IDENTITY, GET_CLUSTER, GET_OIDC_PROVIDER
from e2e.aws_provider.model import ResourceType

PLUGIN_VERSION = "7.51.1"

_TYPES = {
    "string": {"type": "string"},
    "document": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "map": {"type": "object", "additionalProperties": {"type": "string"}},
    "set": {"type": "array", "items": {"type": "string"}},
    "objects": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"}}},
}

_COMPUTED_TYPES = {"attachmentCount": {"type": "integer"}}
_STRING = {"type": "string"}


def _resource(rt: ResourceType) -> dict:
    inputs = {f.name: dict(_TYPES[f.kind]) for f in rt.fields}
    outputs = dict(inputs)
    for name in rt.computed_outputs:
        outputs[name] = dict(_COMPUTED_TYPES.get(name, {"type": "string"}))
    if rt.tagged:
        outputs["tagsAll"] = dict(_TYPES["map"])
    return {
        "inputProperties": inputs,
        "requiredInputs": sorted(f.name for f in rt.fields if f.required),
        "properties": outputs,
        "required": sorted(outputs),
    }


_FUNCTIONS = {
    GET_CLUSTER: {
        "inputs": {"properties": {"name": {"type": "string"}, "region": {"type": "string"},
                                  "tags": dict(_TYPES["map"])}, "required": ["name"], "type": "object"},
        "outputs": {"properties": {key: {"$ref": "pulumi.json#/Any"} for key in (
            "accessConfigs", "arn", "certificateAuthorities", "clusterId", "computeConfigs",
            "controlPlaneScalingConfigs", "createdAt", "deletionProtection", "enabledClusterLogTypes", "endpoint",
            "id", "identities", "kubeApiServerConfigs", "kubeControllerManagerConfigs", "kubeSchedulerConfigs",
            "kubernetesNetworkConfigs", "name", "outpostConfigs", "platformVersion", "region",
            "remoteNetworkConfigs", "roleArn", "status", "storageConfigs", "tags", "upgradePolicies", "version",
            "vpcConfig", "zonalShiftConfigs")}, "type": "object"},
    },
    GET_OIDC_PROVIDER: {
        "inputs": {"properties": {"arn": {"type": "string"}, "tags": dict(_TYPES["map"]), "url": {"type": "string"}},
                   "type": "object"},
        "outputs": {"properties": {
            "arn": {"type": "string"}, "clientIdLists": {"type": "array", "items": {"type": "string"}},
            "id": {"type": "string"}, "tags": dict(_TYPES["map"]),
            "thumbprintLists": {"type": "array", "items": {"type": "string"}}, "url": {"type": "string"},
        }, "type": "object"},
    },
    GET_CALLER_IDENTITY: {
        "inputs": {"properties": {"id": dict(_STRING)}, "type": "object"},
        "outputs": {"properties": {key: dict(_STRING) for key in ("accountId", "arn", "id", "userId")},
                    "required": ["accountId", "arn", "id", "userId"], "type": "object"},
    },
}


def package_schema(resources: dict[str, ResourceType], invokes: dict) -> str:
    return json.dumps({
        "name": "aws",
        "version": PLUGIN_VERSION,
        "description": "A stand-in for pulumi-aws over moto (eso-platform end-to-end suite); only these types.",
        "config": {"variables": {"region": {"type": "string"}, "profile": {"type": "string"},
                                 "assumeRoles": {"type": "array", "items": {"$ref": "pulumi.json#/Any"}}}},
        "provider": {"inputProperties": {"region": {"type": "string"}, "profile": {"type": "string"}}},
        "resources": {token: _resource(rt) for token, rt in resources.items()},
        "functions": {token: spec for token, spec in _FUNCTIONS.items() if token in invokes},
    }, sort_keys=True)
