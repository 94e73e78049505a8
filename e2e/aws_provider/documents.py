"""IAM JSON policy documents as terraform-provider-aws treats them.

* `normalize`: what `structure.NormalizeJsonString` (terraform-plugin-sdk helper/structure)
  returns: the document parsed and marshalled again by Go's encoding/json, so compact, object
  keys sorted, and `<`, `>`, `&` escaped. It is the StateFunc of Role.assume_role_policy and
  Policy.policy (internal/service/iam/role.go, policy.go), so state holds this form. RolePolicy
  uses `verify.LegacyPolicyNormalize`, which only reorders within the document; this module uses
  the same compact form for it, which is the one place the text (never the meaning) may differ.
* `equivalent`: what `verify.SuppressEquivalentPolicyDiffs` decides with
  github.com/hashicorp/awspolicyequivalence: a reformatted document, a single string where a
  list was, statements or list items in another order, are all the same policy.
* `validation_errors`: `verify.ValidIAMPolicyJSON` (internal/verify/validate.go).
"""

import json
from typing import Any, Optional

# Elements whose value may be one string or a list of strings, compared as sets.
_STRING_OR_LIST = ("Action", "NotAction", "Resource", "NotResource")


def parse(document: Any) -> Any:
    if isinstance(document, str):
        return json.loads(document)
    return document


def normalize(document: Any) -> str:
    text = json.dumps(parse(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _as_sorted_list(value: Any) -> list:
    items = value if isinstance(value, list) else [value]
    return sorted((_canonical(item) for item in items), key=lambda item: json.dumps(item, sort_keys=True))


def _canonical_principal(value: Any) -> Any:
    if value == "*":
        return {"AWS": ["*"]}
    if isinstance(value, dict):
        return {key: _as_sorted_list(item) for key, item in sorted(value.items())}
    return value


def _canonical_condition(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {
        operator: {key: _as_sorted_list(item) for key, item in sorted(block.items())}
        if isinstance(block, dict)
        else block
        for operator, block in sorted(value.items())
    }


def _canonical_statement(statement: Any) -> Any:
    if not isinstance(statement, dict):
        return _canonical(statement)
    out = {}
    for key, value in statement.items():
        if key in _STRING_OR_LIST:
            out[key] = _as_sorted_list(value)
        elif key in ("Principal", "NotPrincipal"):
            out[key] = _canonical_principal(value)
        elif key == "Condition":
            out[key] = _canonical_condition(value)
        else:
            out[key] = _canonical(value)
    return out


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def _canonical_policy(document: Any) -> Any:
    if not isinstance(document, dict):
        return _canonical(document)
    out = {key: _canonical(value) for key, value in document.items() if key != "Statement"}
    if "Statement" in document:
        statements = document["Statement"]
        statements = statements if isinstance(statements, list) else [statements]
        out["Statement"] = sorted(
            (_canonical_statement(statement) for statement in statements),
            key=lambda item: json.dumps(item, sort_keys=True),
        )
    return out


def equivalent(a: Any, b: Any) -> bool:
    """Whether two documents (JSON text or parsed) are the same policy; unparsable text is only
    equivalent to identical text."""
    try:
        return _canonical_policy(parse(a)) == _canonical_policy(parse(b))
    except (TypeError, ValueError):
        return a == b


def validation_errors(key: str, value: Any) -> list[str]:
    """The messages of verify.ValidIAMPolicyJSON for the attribute `key` (its terraform name)."""
    if not isinstance(value, str):
        return [f"{key!r} must be a JSON string"]
    if not value:
        return [f'"{key}" is an empty string, which is not a valid JSON value']
    if value[:1] in (" ", "\t", "\r", "\n"):
        return [f'"{key}" contains an invalid JSON policy: leading space characters are not allowed']
    if value[:1] != "{":
        return [f'"{key}" contains an invalid JSON policy']
    try:
        json.loads(value)
    except ValueError as error:
        return [f'"{key}" contains an invalid JSON: {error}']
    return []


def from_aws(document: Optional[Any]) -> Optional[str]:
    """A document as boto3 returns it (IAM documents are URL-decoded and parsed by botocore)
    in the normalized text form."""
    if document is None:
        return None
    return normalize(document)
