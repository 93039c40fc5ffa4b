"""Smoke test of the installed client against a running Convene (directly or through Envoy).

Needs CONVENE_TARGET (host:port, plaintext, e.g. 127.0.0.1:8080) and CONVENE_API_KEY; skipped
without them.
"""

import os
import time
import uuid

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from convene import ConveneClient, channel_options, error_details
from convene.v1 import errors_pb2, session_pb2, session_service_pb2

TARGET = os.environ.get("CONVENE_TARGET")
API_KEY = os.environ.get("CONVENE_API_KEY")

pytestmark = pytest.mark.skipif(not TARGET or not API_KEY, reason="set CONVENE_TARGET and CONVENE_API_KEY")


@pytest.fixture
def channel():
    # Plaintext only because the test stack runs on 127.0.0.1; deployments pass a secure channel.
    with grpc.insecure_channel(TARGET, options=channel_options()) as ch:
        yield ch


def _ts(seconds_from_now: int) -> Timestamp:
    ts = Timestamp()
    ts.FromSeconds(int(time.time()) + seconds_from_now)
    return ts


def _create_request(external_ref: str) -> session_service_pb2.CreateSessionRequest:
    return session_service_pb2.CreateSessionRequest(
        request_id=uuid.uuid4().hex,
        external_ref=external_ref,
        title="python smoke",
        media=session_pb2.MEDIA_TYPE_AUDIO,
        scheduled_start_time=_ts(86400),
        scheduled_end_time=_ts(86400 + 1800),
        participants=[
            session_pb2.ParticipantSpec(user_id="host-1", display_name="Host", role=session_pb2.PARTICIPANT_ROLE_HOST)
        ],
    )


def test_create_get_list_session(channel):
    sessions = ConveneClient(channel, API_KEY).sessions
    external_ref = f"py-smoke-{uuid.uuid4().hex[:12]}"

    created = sessions.CreateSession(_create_request(external_ref)).session

    assert created.id.startswith("ses_")
    assert created.external_ref == external_ref
    assert created.status == session_pb2.SESSION_STATUS_SCHEDULED
    assert sessions.GetSession(session_service_pb2.GetSessionRequest(session_id=created.id)).session.id == created.id
    listed = sessions.ListSessions(session_service_pb2.ListSessionsRequest(external_ref=external_ref))
    assert [s.id for s in listed.sessions] == [created.id]


def test_create_with_same_request_id_returns_first_session(channel):
    sessions = ConveneClient(channel, API_KEY).sessions
    request = _create_request(f"py-retry-{uuid.uuid4().hex[:12]}")

    first = sessions.CreateSession(request).session
    second = sessions.CreateSession(request).session

    assert second.id == first.id


def test_bad_input_is_invalid_argument_naming_the_field(channel):
    sessions = ConveneClient(channel, API_KEY).sessions
    request = _create_request("")

    with pytest.raises(grpc.RpcError) as raised:
        sessions.CreateSession(request)

    details = error_details(raised.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.reason == "INVALID_ARGUMENT"
    assert details.domain == "convene.dev"
    assert "external_ref" in [v.field for v in details.field_violations]


def test_unknown_session_is_not_found(channel):
    sessions = ConveneClient(channel, API_KEY).sessions

    with pytest.raises(grpc.RpcError) as raised:
        sessions.GetSession(session_service_pb2.GetSessionRequest(session_id="ses_doesnotexist0000"))

    assert error_details(raised.value).code == grpc.StatusCode.NOT_FOUND
    assert error_details(raised.value).reason == "SESSION_NOT_FOUND"
    assert error_details(raised.value).error_reason == errors_pb2.SESSION_NOT_FOUND


def test_wrong_credential_is_unauthenticated(channel):
    sessions = ConveneClient(channel, "cvk_not_a_real_key").sessions

    with pytest.raises(grpc.RpcError) as raised:
        sessions.ListSessions(session_service_pb2.ListSessionsRequest())

    assert error_details(raised.value).code == grpc.StatusCode.UNAUTHENTICATED
    assert error_details(raised.value).reason == "INVALID_CREDENTIAL"


def test_default_timeout_applies_when_call_sets_none(channel):
    # A deadline far too short to be met: the helper must have passed it on, so the call fails
    # with DEADLINE_EXCEEDED instead of succeeding.
    sessions = ConveneClient(channel, API_KEY, default_timeout=0.000001).sessions

    with pytest.raises(grpc.RpcError) as raised:
        sessions.ListSessions(session_service_pb2.ListSessionsRequest())

    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_empty_credential_is_refused():
    with pytest.raises(ValueError):
        ConveneClient(grpc.insecure_channel("127.0.0.1:1"), " ")
