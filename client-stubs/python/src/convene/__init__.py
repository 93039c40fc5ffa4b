"""Convene's Python client: generated convene.v1 stubs plus a small helper (convene.client)."""

from convene.client import (
    DEFAULT_TIMEOUT,
    ConveneClient,
    ErrorDetails,
    FieldViolation,
    channel_options,
    error_details,
    retried_methods,
    service_config,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ConveneClient",
    "ErrorDetails",
    "FieldViolation",
    "channel_options",
    "error_details",
    "retried_methods",
    "service_config",
]
