"""Convene stubs over a grpc.Channel the caller owns, with the credential and a default deadline.

The channel stays the caller's: it decides TLS (grpc.secure_channel with
grpc.ssl_channel_credentials()), load balancing and retries (see channel_options()). This helper
only attaches `authorization: Bearer <credential>` to every call and gives calls without a
timeout of their own DEFAULT_TIMEOUT seconds (unary calls; watch streams get no default deadline).

Retries follow the contract: channel_options() retries only the methods whose descriptors declare
idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT, and ConveneClient.create_session() retries a
create that carries a request_id. Nothing else is repeated: an UNAVAILABLE can come from a
connection that broke after the server applied a change.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import FrozenSet, List, Optional, Sequence, Tuple

import grpc
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from convene.v1 import (call_service_pb2, credential_service_pb2, group_service_pb2, invitation_service_pb2,
                        provider_config_service_pb2, session_service_pb2, session_service_pb2_grpc, token_service_pb2,
                        user_service_pb2, event_service_pb2, webhook_service_pb2)

DEFAULT_TIMEOUT = 10.0
"""Seconds a call may take when it sets no timeout itself."""

MAX_ATTEMPTS = 4
"""Attempts of a call that is safe to repeat, the first included."""
INITIAL_BACKOFF = 0.1
"""Seconds of backoff before the first retry; each later one may wait BACKOFF_MULTIPLIER times longer."""
MAX_BACKOFF = 2.0
"""The longest backoff between two attempts, in seconds."""
BACKOFF_MULTIPLIER = 2.0

# The generated modules whose services the retry policy covers: every method is read from its
# descriptor, so a new RPC is retried once it declares an idempotency_level, and not before.
_CONTRACT = (session_service_pb2, token_service_pb2, call_service_pb2, credential_service_pb2,
             provider_config_service_pb2, group_service_pb2, invitation_service_pb2, user_service_pb2,
             event_service_pb2, webhook_service_pb2)
_SAFE_LEVELS = (descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS, descriptor_pb2.MethodOptions.IDEMPOTENT)
_CREATE_RETRIED_ON = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


class _BearerAndDeadline(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
):
    """Adds the bearer header (on any channel, plaintext included) and a default timeout."""

    def __init__(self, credential: str, default_timeout: Optional[float]):
        self._header = ("authorization", f"Bearer {credential}")
        self._default_timeout = default_timeout

    def __repr__(self) -> str:
        return "_BearerAndDeadline(<redacted>)"

    def _details(self, details: grpc.ClientCallDetails, default_timeout: Optional[float]) -> grpc.ClientCallDetails:
        metadata = [m for m in (details.metadata or []) if m[0] != "authorization"]
        metadata.append(self._header)
        timeout = details.timeout if details.timeout is not None else default_timeout
        return _CallDetails(
            details.method,
            timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details, self._default_timeout), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        # Watch streams live until the caller leaves: no default deadline (a caller may set one).
        return continuation(self._details(client_call_details, None), request)


class ConveneClient:
    """Typed Convene stubs over the caller's channel.

    >>> channel = grpc.secure_channel("edge.example.com:443", grpc.ssl_channel_credentials(),
    ...                               options=channel_options())
    >>> sessions = ConveneClient(channel, api_key).sessions
    >>> sessions.GetSession(GetSessionRequest(session_id="ses_..."))
    """

    def __init__(self, channel: grpc.Channel, credential: str, *, default_timeout: Optional[float] = DEFAULT_TIMEOUT):
        if not credential or not credential.strip():
            raise ValueError("credential is empty")
        self._channel = grpc.intercept_channel(channel, _BearerAndDeadline(credential.strip(), default_timeout))
        self._default_timeout = default_timeout
        self.sessions = session_service_pb2_grpc.SessionServiceStub(self._channel)
        """convene.v1.SessionService."""

    def create_session(self, request, *, timeout: Optional[float] = None, metadata=None):
        """CreateSession, retried when that is safe.

        With a request_id the server returns the session the first attempt created, so an attempt
        that failed with UNAVAILABLE, RESOURCE_EXHAUSTED, UNKNOWN (COMMIT_OUTCOME_UNKNOWN: it may
        have been applied) or DEADLINE_EXCEEDED is repeated with the same request, up to
        MAX_ATTEMPTS attempts with the backoff of service_config(), while `timeout` (seconds for all
        attempts together; default the client's default timeout) leaves time. Any other failure,
        INVALID_ARGUMENT (REQUEST_ID_REUSED) included, is raised at once, as is every failure of a
        create without a request_id: that one is never repeated. Raises the last attempt's
        grpc.RpcError.
        """
        budget = timeout if timeout is not None else self._default_timeout
        deadline = None if budget is None else time.monotonic() + budget
        backoff = INITIAL_BACKOFF
        attempt = 1
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                return self.sessions.CreateSession(request, timeout=remaining, metadata=metadata)
            except grpc.RpcError as error:
                if not request.request_id or attempt >= MAX_ATTEMPTS or error.code() not in _CREATE_RETRIED_ON:
                    raise
                pause = random.uniform(0, backoff)  # full jitter, as gRPC's own retries
                backoff = min(backoff * BACKOFF_MULTIPLIER, MAX_BACKOFF)
                if deadline is not None and deadline - time.monotonic() <= pause:
                    raise
                time.sleep(pause)
                attempt += 1

    def __repr__(self) -> str:
        return "ConveneClient(<redacted>)"


def retried_methods() -> FrozenSet[str]:
    """Full names ("convene.v1.SessionService/GetSession") of the methods whose contract declares
    idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT, read from the generated descriptors: repeating
    them changes nothing more than one call would, so service_config() retries them."""
    return frozenset(
        f"{service.full_name}/{method.name}"
        for module in _CONTRACT
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
        if method.GetOptions().idempotency_level in _SAFE_LEVELS
    )


def service_config() -> dict:
    """Retries the retried_methods() on UNAVAILABLE (a replica or the database briefly away) and
    RESOURCE_EXHAUSTED (the server shed the call), up to MAX_ATTEMPTS attempts with exponential
    backoff, within the call's timeout. Other methods get no retry policy: an UNAVAILABLE can
    follow a change the server applied. ConveneClient.create_session() retries creates that carry
    a request_id."""
    names = [
        {"service": service, "method": method}
        for service, method in (name.split("/") for name in sorted(retried_methods()))
    ]
    if not names:
        return {}
    return {
        "methodConfig": [
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": MAX_ATTEMPTS,
                    "initialBackoff": f"{INITIAL_BACKOFF:g}s",
                    "maxBackoff": f"{MAX_BACKOFF:g}s",
                    "backoffMultiplier": BACKOFF_MULTIPLIER,
                    "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
                },
            }
        ]
    }


def channel_options() -> List[Tuple[str, object]]:
    """Options for grpc.secure_channel / grpc.insecure_channel that apply service_config()."""
    return [("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(service_config()))]


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass(frozen=True)
class ErrorDetails:
    """What a failed call says: its gRPC code, message and Convene's structured details."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    """The stable google.rpc.ErrorInfo reason, e.g. "SESSION_NOT_FOUND"; "" if none was sent."""
    domain: str = ""
    field_violations: Sequence[FieldViolation] = field(default_factory=tuple)
    """For INVALID_ARGUMENT: the google.rpc.BadRequest field violations."""

    @property
    def error_reason(self) -> int:
        """The reason as a generated constant to switch on (``errors_pb2.SESSION_NOT_FOUND``);
        ``errors_pb2.ERROR_REASON_UNSPECIFIED`` for none, or for one this client is too old to know."""
        from convene.v1 import errors_pb2

        try:
            return errors_pb2.ErrorReason.Value(self.reason)
        except ValueError:
            return errors_pb2.ERROR_REASON_UNSPECIFIED


def error_details(error: grpc.RpcError) -> ErrorDetails:
    """Decodes grpc-status-details-bin of a failed call into ErrorDetails."""
    status = rpc_status.from_call(error)
    details = ErrorDetails(code=error.code(), message=error.details() or "")
    if status is None:
        return details
    reason, domain, violations = "", "", []
    for any_detail in status.details:
        if any_detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR) and not reason:
            info = error_details_pb2.ErrorInfo()
            any_detail.Unpack(info)
            reason, domain = info.reason, info.domain
        elif any_detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            any_detail.Unpack(bad)
            violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
    return ErrorDetails(details.code, status.message, reason, domain, tuple(violations))
