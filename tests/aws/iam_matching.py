"""IAM wildcard matching and a deliberately small IAM policy evaluator, used by the tests.

Why a local evaluator: moto 5.2.5 does not implement `iam:SimulatePrincipalPolicy`, and its
opt-in access control cannot judge resource grants: Secrets Manager requests are authorized
against the resource "*", and its matcher only turns `*` into `.*`, leaving `?` and `.` as
regular-expression syntax. So moto proves the documents are accepted by an IAM API, and this
module proves what they grant.

Matching rules (IAM's rules for `Resource` ARNs and for the `StringLike` condition operator):

* `*` matches any run of characters, the empty run included, and crosses `:` and `/`;
* `?` matches exactly one character (never the empty string);
* every other character matches only itself, case-sensitively: `.`, `+`, `/`, `[`, `(`, `\\`
  and the like are literal;
* the pattern must match the whole value, not a part of it.

IAM documents per-segment matching, with a trailing `*` of a segment allowed to expand beyond
the segment's colons. Letting every `*` cross colons is the broader reading: a claim that no
statement matches an ARN, proven under it, also holds under IAM's. The program's own patterns
contain only `?`, in the resource segment, where the two readings agree.

Action names are case-insensitive in IAM (`secretsmanager:getsecretvalue` is the same action
as `secretsmanager:GetSecretValue`), so `action_matches` folds case and then uses the same
wildcard rules.

The evaluator handles what the program generates: `Effect`, `Action`, `Resource`, `Sid`, and a
`Condition` judged against the request's context keys, given as a `RequestContext` (IAM's
rules: keys are case-insensitive; `StringEquals`/`StringLike` (and `ArnEquals`/`ArnLike`) hold when the key is present and
matches one of the values, so a request that does not name the key fails them; `Null` `"true"`
holds when the key is absent, `"false"` when present; every operator of a statement must hold).
Anything it cannot judge (`NotAction`, `NotResource`, `Principal` in an identity policy, policy
variables, another condition operator, a `Condition` on a statement that concerns a request
given without context) raises `UnsupportedPolicyElement`, so a test can never pass because the
evaluator silently misread a policy.
"""

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Union

PolicyDocument = Mapping[str, Any]
# A request's condition keys and their values, as IAM keys them (`secretsmanager:VersionStage`).
RequestContext = Mapping[str, str]


class UnsupportedPolicyElement(ValueError):
    """The policy uses something this evaluator does not model; it refuses to guess."""


def wildcard_match(pattern: str, value: str) -> bool:
    """Whether `value` as a whole matches `pattern` under the rules in the module docstring.

    Greedy matching that backtracks to the most recent `*`: on a mismatch, that `*` absorbs
    one more character and matching resumes after it. Earlier stars never need to be
    revisited, because any longer run they could take is also available to the later star.
    """
    p = v = 0
    star = -1  # index in `pattern` of the most recent `*`, or -1
    absorbed_to = 0  # `value` index up to which that `*` has absorbed characters
    while v < len(value):
        if p < len(pattern) and pattern[p] == "*":
            star, absorbed_to = p, v
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == value[v]):
            p += 1
            v += 1
        elif star != -1:
            absorbed_to += 1
            p, v = star + 1, absorbed_to
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: wildcards as in `wildcard_match`, case-insensitive."""
    return wildcard_match(pattern.lower(), action.lower())


def as_list(value: Union[str, Iterable[str]]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def statements(document: PolicyDocument) -> list[Mapping[str, Any]]:
    found = document["Statement"]
    return [found] if isinstance(found, Mapping) else list(found)


def _check_supported(statement: Mapping[str, Any]) -> None:
    for element in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
        if element in statement:
            raise UnsupportedPolicyElement(f"statement {statement.get('Sid')!r} uses {element}")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise UnsupportedPolicyElement(f"statement {statement.get('Sid')!r} has Effect {statement.get('Effect')!r}")
    for resource in as_list(statement["Resource"]):
        if "${" in resource:
            raise UnsupportedPolicyElement(f"resource {resource!r} uses a policy variable")


def concerns(
    statement: Mapping[str, Any], action: str, resource_arn: str, context: Optional[RequestContext] = None
) -> bool:
    """Whether `statement` applies to `action` on `resource_arn` with `context`; raises for what it
    cannot judge."""
    _check_supported(statement)
    if not any(action_matches(pattern, action) for pattern in as_list(statement["Action"])):
        return False
    if not any(wildcard_match(pattern, resource_arn) for pattern in as_list(statement["Resource"])):
        return False
    if "Condition" in statement:
        if context is None:
            raise UnsupportedPolicyElement(
                f"statement {statement.get('Sid')!r} concerns {action} on {resource_arn} only under a "
                "Condition, and the request has no context"
            )
        return _conditions_hold(statement["Condition"], context)
    return True


def is_allowed(
    documents: Iterable[PolicyDocument], action: str, resource_arn: str, context: Optional[RequestContext] = None
) -> bool:
    """IAM's identity-policy decision for one request: an explicit Deny wins, then any Allow,
    else the implicit deny."""
    allowed = False
    for document in documents:
        for statement in statements(document):
            if concerns(statement, action, resource_arn, context):
                if statement["Effect"] == "Deny":
                    return False
                allowed = True
    return allowed


def allow_statements_naming(documents: Iterable[PolicyDocument], resource_arn: str) -> list[str]:
    """Sids (or indexes) of Allow statements with a Resource pattern matching `resource_arn`,
    whatever their actions: the resources a role can touch in any way."""
    found = []
    for document in documents:
        for index, statement in enumerate(statements(document)):
            _check_supported(statement)
            if statement["Effect"] == "Allow" and any(
                wildcard_match(pattern, resource_arn) for pattern in as_list(statement["Resource"])
            ):
                found.append(str(statement.get("Sid", index)))
    return found


# Trust policies --------------------------------------------------------------------------

# ArnEquals/ArnLike compare an ARN as a whole here; IAM compares segment by segment, which
# admits no more (the broader reading, as for Resource).
_STRING_OPERATORS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": wildcard_match,
    "ArnEquals": lambda pattern, value: pattern == value,
    "ArnLike": wildcard_match,
}


@dataclass(frozen=True)
class WebIdentityRequest:
    """An `sts:AssumeRoleWithWebIdentity` call: who federates and the token's claims, keyed as
    IAM keys them (`<issuer>:sub`, `<issuer>:aud`)."""

    federated_provider_arn: str
    claims: Mapping[str, str]
    action: str = "sts:AssumeRoleWithWebIdentity"


def trust_admits(document: PolicyDocument, request: WebIdentityRequest) -> bool:
    """Whether a trust policy lets `request` assume the role.

    Models `Principal.Federated`, `Action`, and `StringEquals`/`StringLike` conditions on
    single-valued keys (every listed key must be present and match one of its values).
    Any other operator, element or Deny raises `UnsupportedPolicyElement`.
    """
    admitted = False
    for statement in statements(document):
        unknown = set(statement) - {"Sid", "Effect", "Principal", "Action", "Condition"}
        if unknown or statement.get("Effect") != "Allow":
            raise UnsupportedPolicyElement(f"trust statement uses {sorted(unknown) or statement.get('Effect')}")
        principal = statement["Principal"]
        if set(principal) != {"Federated"}:
            raise UnsupportedPolicyElement(f"trust principal {principal!r}")
        if request.federated_provider_arn not in as_list(principal["Federated"]):
            continue
        if not any(action_matches(pattern, request.action) for pattern in as_list(statement["Action"])):
            continue
        if _conditions_hold(statement.get("Condition", {}), request.claims):
            admitted = True
    return admitted


def _conditions_hold(condition: Mapping[str, Mapping[str, Any]], claims: Mapping[str, str]) -> bool:
    # Condition keys are case-insensitive in IAM; values are compared as the operator says.
    folded = {key.lower(): value for key, value in claims.items()}
    for operator, tests in condition.items():
        if operator == "Null":
            for key, expected in tests.items():
                if expected not in ("true", "false"):
                    raise UnsupportedPolicyElement(f"Null condition value {expected!r}")
                if (key.lower() not in folded) != (expected == "true"):
                    return False
            continue
        if operator not in _STRING_OPERATORS:
            raise UnsupportedPolicyElement(f"condition operator {operator}")
        compare = _STRING_OPERATORS[operator]
        for key, expected in tests.items():
            value = folded.get(key.lower())
            if value is None or not any(compare(pattern, value) for pattern in as_list(expected)):
                return False
    return True
