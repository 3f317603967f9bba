"""OpenAPI schema post-processing: document the error answers every endpoint can give.

The API answers errors in two JSON shapes, from one place (familylink.common.api and .guards):
400 (and the 422 of a reused Idempotency-Key) is an object keyed by field path, each a list of
messages; every other error is `{"detail", "request_id"}`. The schema says so, so a client (and
schemathesis) can rely on it.
"""

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.plumbing import force_instance

FIELD_ERRORS = {
    "type": "object",
    "description": "Keyed by the field at fault (nested fields by path, e.g. persons[1].a_number).",
    "additionalProperties": {
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
    },
}
ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "request_id": {"type": "string"}},
    "required": ["detail"],
}
EVERY_OPERATION = {
    "400": "Invalid input, keyed by field.",
    "401": "Not signed in.",
    "403": "Not allowed for this role.",
    "404": "Unknown or not visible.",
    "405": "Method not allowed (every DELETE on case data).",
    "413": "Request body too large.",
    "415": "Unsupported media type.",
    "429": "Too many requests.",
}
TOKEN_PATH = "/api/v1/auth/token/"
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": (
        "Optional, beyond the contract: send the same key again to retry this request safely. A "
        "request done before is answered as it was then (`Idempotent-Replayed: true`) and not done "
        "again; only successes are kept; the same key with another request is a 422."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}
WRITES = {
    "409": "Conflicts with the state of the records.",
    "412": "Stale If-Match.",
    "428": "If-Match missing.",
}


def document_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("FieldErrors", FIELD_ERRORS)
    components.setdefault("Error", ERROR)
    for path, path_item in result.get("paths", {}).items():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = dict(EVERY_OPERATION)
            if method in ("post", "patch", "put"):
                codes.update(WRITES)
            if method == "post" and path != TOKEN_PATH:
                operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_KEY))
                codes["422"] = "The Idempotency-Key was already used for another request."
            for code, description in codes.items():
                schema = "FieldErrors" if code in ("400", "422") else "Error"
                operation["responses"].setdefault(
                    code,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
                        },
                    },
                )
    return result


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, saying what the API enforces: a request body of a `ClosedInput`
    serializer takes its named fields only (`additionalProperties: false`); any other is a 400."""

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        from familylink.common.api import ClosedInput  # the API module builds its views on this class

        result: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(force_instance(serializer), ClosedInput):
            result["additionalProperties"] = False
        return result
