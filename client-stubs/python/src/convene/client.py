"""Convene stubs over a grpc.Channel the caller owns, with the credential and a default deadline.

The channel stays the caller's: it decides TLS (grpc.secure_channel with
grpc.ssl_channel_credentials()), load balancing and retries (see channel_options()). This helper
only attaches `authorization: Bearer <credential>` to every call and gives calls without a
timeout of their own DEFAULT_TIMEOUT seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from convene.v1 import session_service_pb2_grpc

DEFAULT_TIMEOUT = 10.0
"""Seconds a call may take when it sets no timeout itself."""


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

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [m for m in (details.metadata or []) if m[0] != "authorization"]
        metadata.append(self._header)
        timeout = details.timeout if details.timeout is not None else self._default_timeout
        return _CallDetails(
            details.method,
            timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)


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
        self.sessions = session_service_pb2_grpc.SessionServiceStub(self._channel)
        """convene.v1.SessionService."""

    def __repr__(self) -> str:
        return "ConveneClient(<redacted>)"


def service_config() -> dict:
    """Retries every convene.v1 call on UNAVAILABLE (a replica or the database briefly away), up to
    4 attempts with exponential backoff. Creates are safe to retry when they carry a request_id."""
    return {
        "methodConfig": [
            {
                "name": [{"service": "convene.v1.SessionService"}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
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
