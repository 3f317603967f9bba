"""`Idempotency-Key`: a POST sent again with the same key is answered, never done, a second time.

A partner whose request timed out cannot tell whether FamilyLink recorded it; sending it again
without a key records it twice (two apprehensions, or a custody transfer that opens a second,
zero-length period). With a key, the retry gets the first answer, marked `Idempotent-Replayed:
true`, and nothing is written. This is beyond the contract: a client that sends no key is served
exactly as before.

- A key is its caller's own: two users' keys never meet, and no answer reaches another user.
- A key is 1 to 255 visible ASCII characters (a UUID is usual); anything else is a 400 naming the
  header.
- Only a success (2xx) is kept. A refused request changed nothing, so the same key may be sent
  again with the request corrected.
- The same key with another request (method, path with its query, or body) is a 422 naming the
  header: the key was spent on something else.
- Requests sent at once with one key run one at a time (a transaction-level advisory lock on the
  key): the first runs, the others get its answer.
- The request's writes and the kept answer commit together, in one transaction, or not at all.
"""

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.http.request import RawPostDataException
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from .errors import ValidationFailed

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# The answer's headers a client may act on; the rest (Vary, Allow...) the view sets again.
KEPT_HEADERS = ("Location", "ETag")
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
BAD_KEY = (
    "Send 1 to 255 visible ASCII characters, no spaces (a new UUID for each request is usual), "
    "and the same key again only to retry that request."
)
# pg_advisory_xact_lock(int, int): a space of its own, apart from the one-bigint locks of the
# audit chain and the worklist build.
LOCK_NAMESPACE = 0x1D3B  # "idempotency"


def asked(request: HttpRequest | Request) -> bool:
    """Whether the request asks for idempotency: a POST carrying the header."""
    return request.method == "POST" and HEADER in request.headers


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"


class Replay(Exception):  # noqa: N818 - not an error: the kept answer, raised to skip the view
    """The kept answer to a request already done; `ApiDialect.handle_exception` returns it."""

    def __init__(self, kept: Any) -> None:
        super().__init__("replay")
        self.kept = kept

    def response(self) -> Response:
        headers = {**(self.kept.headers or {}), REPLAYED_HEADER: "true"}
        return Response(self.kept.response, status=self.kept.status_code, headers=headers)


@dataclass(frozen=True)
class Claim:
    """A key not used before, held (locked) by this request until its transaction ends."""

    user: Any
    key: str
    fingerprint: str
    method: str
    path: str


def claim(request: Request) -> Claim:
    """Hold the request's key: a `Claim` when it is new; raises `Replay` with the kept answer when
    this request was done before, `KeyReused` (422) when the key was spent on another request, and
    ValidationFailed (400) when the key is not one. Call inside the request's transaction."""
    from .models import IdempotentRequest

    if not connection.in_atomic_block:  # ApiDialect.dispatch opens it; the lock lives as long
        raise RuntimeError("an Idempotency-Key is claimed inside the request's transaction")
    key = request.headers.get(HEADER, "")
    if not KEY_PATTERN.fullmatch(key):
        raise ValidationFailed({HEADER: [BAD_KEY]})
    user = request.user
    method = request.method or "POST"
    path = request.get_full_path()[:1000]
    fingerprint = _fingerprint(request, method, path)
    lock = int.from_bytes(hashlib.sha256(f"{user.pk}:{key}".encode()).digest()[:4], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, lock])
    kept = IdempotentRequest.objects.filter(created_by=user, key=key).first()
    if kept is None:
        return Claim(user=user, key=key, fingerprint=fingerprint, method=method, path=path)
    if kept.fingerprint != fingerprint:
        raise KeyReused(
            {
                HEADER: [
                    f"This key was already used, on {kept.created_at:%Y-%m-%d %H:%M:%S} UTC, for "
                    f"another request ({kept.method} {kept.path}); send a new key for a new request."
                ]
            }
        )
    raise Replay(kept)


def keep(claim: Claim, response: Response) -> None:
    """Keep a success's answer under its key (in the request's transaction); keep nothing else."""
    from .models import IdempotentRequest

    if not 200 <= response.status_code < 300:
        return
    body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
    record = IdempotentRequest(
        key=claim.key,
        fingerprint=claim.fingerprint,
        method=claim.method,
        path=claim.path,
        status_code=response.status_code,
        response=body,
        headers={name: response[name] for name in KEPT_HEADERS if response.has_header(name)},
        created_by=claim.user,
    )
    record._change_reason = f"answer kept for {HEADER} retries"
    record._history_user = claim.user
    record.save()


def _fingerprint(request: Request, method: str, path: str) -> str:
    digest = hashlib.sha256(f"{method}\n{path}\n".encode())
    try:
        digest.update(request._request.body)
    except RawPostDataException:  # the body was read as a stream (a file upload): its parsed form
        digest.update(json.dumps(request.data, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def atomic_if_asked(request: HttpRequest) -> Any:
    """The transaction a keyed request runs in (its writes and its kept answer are one), else none."""
    return transaction.atomic() if asked(request) else contextlib.nullcontext()
