"""The client's retry rules against an in-process server that fails the first attempts as scripted.

Needs no running Convene: a grpc.server on 127.0.0.1 with a fake servicer counts the attempts of
each method, over a real channel built with channel_options().
"""

import threading
import time
from collections import defaultdict, deque
from concurrent import futures

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from convene import ConveneClient, channel_options, error_details, retried_methods, service_config
from convene.v1 import errors_pb2, session_pb2, session_service_pb2, session_service_pb2_grpc


def _status(code: int, reason: int) -> grpc.Status:
    """An error as the server sends it: code, message and an ErrorInfo with the reason."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(domain="convene.dev", reason=errors_pb2.ErrorReason.Name(reason)))
    return rpc_status.to_status(status_pb2.Status(code=code, message="scripted", details=[info]))


UNAVAILABLE = _status(code_pb2.UNAVAILABLE, errors_pb2.DATABASE_UNAVAILABLE)
OVERLOADED = _status(code_pb2.RESOURCE_EXHAUSTED, errors_pb2.SERVER_OVERLOADED)
OUTCOME_UNKNOWN = _status(code_pb2.UNKNOWN, errors_pb2.COMMIT_OUTCOME_UNKNOWN)
SERVER_DEADLINE = _status(code_pb2.DEADLINE_EXCEEDED, errors_pb2.DEADLINE_EXCEEDED)
REQUEST_ID_REUSED = _status(code_pb2.INVALID_ARGUMENT, errors_pb2.REQUEST_ID_REUSED)
EXTERNAL_REF_EXISTS = _status(code_pb2.ALREADY_EXISTS, errors_pb2.EXTERNAL_REF_ALREADY_EXISTS)
INTERNAL_UNKNOWN = _status(code_pb2.UNKNOWN, errors_pb2.INTERNAL)


class Flaky(session_service_pb2_grpc.SessionServiceServicer):
    """Fails each method's next attempts with the queued statuses, then answers; counts attempts."""

    def __init__(self):
        self._lock = threading.Lock()
        self.failures = defaultdict(deque)
        self.attempts = defaultdict(int)
        self.creates = []
        self.create_hangs = threading.Event()

    def fail(self, method, *statuses):
        self.failures[method].extend(statuses)

    def _answer(self, method, context, response):
        with self._lock:
            self.attempts[method] += 1
            failure = self.failures[method].popleft() if self.failures[method] else None
        if failure is not None:
            context.abort_with_status(failure)
        return response

    def GetSession(self, request, context):
        return self._answer("GetSession", context, session_service_pb2.GetSessionResponse(
            session=session_pb2.Session(id=request.session_id)))

    def JoinSession(self, request, context):
        return self._answer("JoinSession", context, session_service_pb2.JoinSessionResponse())

    def StartSession(self, request, context):
        return self._answer("StartSession", context, session_service_pb2.StartSessionResponse())

    def AddParticipant(self, request, context):
        return self._answer("AddParticipant", context, session_service_pb2.AddParticipantResponse())

    def CreateSession(self, request, context):
        with self._lock:
            self.creates.append(request)
        if self.create_hangs.is_set():
            with self._lock:
                self.attempts["CreateSession"] += 1
            while context.is_active():  # never answers: the attempt ends with its deadline
                time.sleep(0.01)
            return session_service_pb2.CreateSessionResponse()
        return self._answer("CreateSession", context, session_service_pb2.CreateSessionResponse(
            session=session_pb2.Session(id="ses_created")))


@pytest.fixture
def flaky():
    servicer = Flaky()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    session_service_pb2_grpc.add_SessionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    # Plaintext only because the fake server runs on 127.0.0.1; deployments pass a secure channel.
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=channel_options())
    servicer.client = ConveneClient(channel, "cvk_any_key")
    yield servicer
    channel.close()
    server.stop(0)


def _create(request_id=""):
    return session_service_pb2.CreateSessionRequest(request_id=request_id, external_ref="appt-1")


def test_retried_methods_are_exactly_those_the_contract_declares_idempotent():
    assert retried_methods() == {
        "convene.v1.CallService/AdmitParticipant",
        "convene.v1.CallService/DenyParticipant",
        "convene.v1.CallService/KickParticipant",
        "convene.v1.CallService/ListLobby",
        "convene.v1.CallService/SetRecordingConsent",
        "convene.v1.CallService/StartRecording",
        "convene.v1.CallService/StopRecording",
        "convene.v1.CallService/UnbanParticipant",
        "convene.v1.CredentialService/GetSigningKeys",
        "convene.v1.EventService/WatchEvents",
        "convene.v1.EventService/WatchSession",
        "convene.v1.GroupService/DeleteGroup",
        "convene.v1.GroupService/GetGroup",
        "convene.v1.GroupService/GetGroupUsage",
        "convene.v1.GroupService/GetTenantUsage",
        "convene.v1.GroupService/ListGroupActivities",
        "convene.v1.GroupService/ListGroupCallParticipants",
        "convene.v1.GroupService/ListGroupInvitations",
        "convene.v1.GroupService/ListGroupMembers",
        "convene.v1.GroupService/ListGroups",
        "convene.v1.GroupService/UpdateGroup",
        "convene.v1.GroupService/UpdateGroupMember",
        "convene.v1.InvitationService/DeclineInvitation",
        "convene.v1.InvitationService/GetInvitation",
        "convene.v1.InvitationService/GetInvitationSettings",
        "convene.v1.InvitationService/ListInvitations",
        "convene.v1.InvitationService/RevokeInvitation",
        "convene.v1.InvitationService/SetInvitationSettings",
        "convene.v1.ProviderConfigService/GetProviderConfig",
        "convene.v1.ProviderConfigService/ListProviderConfigs",
        "convene.v1.ProviderConfigService/SetProviderConfig",
        "convene.v1.SessionService/GetSession",
        "convene.v1.SessionService/GetSessionStats",
        "convene.v1.SessionService/JoinSession",
        "convene.v1.SessionService/ListParticipants",
        "convene.v1.SessionService/ListSessionEvents",
        "convene.v1.SessionService/ListSessions",
        "convene.v1.TokenService/ListAccessCodes",
        "convene.v1.TokenService/RevokeAccessCode",
        "convene.v1.UserService/GetUser",
        "convene.v1.UserService/GetUserOverview",
        "convene.v1.UserService/ListUsers",
        "convene.v1.UserService/UpsertUser",
        "convene.v1.WebhookService/DeleteWebhookEndpoint",
        "convene.v1.WebhookService/GetWebhookEndpoint",
        "convene.v1.WebhookService/ListWebhookDeliveries",
        "convene.v1.WebhookService/ListWebhookEndpoints",
        "convene.v1.WebhookService/RedeliverWebhook",
        "convene.v1.WebhookService/UpdateWebhookEndpoint",
    }
    [config] = service_config()["methodConfig"]
    # Every name names one method: none covers a whole service.
    assert all(name.get("method") for name in config["name"])
    assert len(config["name"]) == 49
    assert config["retryPolicy"] == {
        "maxAttempts": 4,
        "initialBackoff": "0.1s",
        "maxBackoff": "2s",
        "backoffMultiplier": 2.0,
        "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
    }


def test_no_side_effects_method_is_retried_on_unavailable_and_succeeds(flaky):
    flaky.fail("GetSession", UNAVAILABLE, UNAVAILABLE)

    response = flaky.client.sessions.GetSession(session_service_pb2.GetSessionRequest(session_id="ses_1"))

    assert response.session.id == "ses_1"
    assert flaky.attempts["GetSession"] == 3


def test_idempotent_method_is_retried_on_resource_exhausted_and_succeeds(flaky):
    flaky.fail("JoinSession", OVERLOADED)

    flaky.client.sessions.JoinSession(session_service_pb2.JoinSessionRequest(session_id="ses_1", user_id="u"))

    assert flaky.attempts["JoinSession"] == 2


def test_no_side_effects_method_gives_up_after_four_attempts(flaky):
    flaky.fail("GetSession", *[UNAVAILABLE] * 5)

    with pytest.raises(grpc.RpcError) as raised:
        flaky.client.sessions.GetSession(session_service_pb2.GetSessionRequest(session_id="ses_1"))

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert flaky.attempts["GetSession"] == 4


def test_no_side_effects_method_is_not_retried_on_other_codes(flaky):
    flaky.fail("GetSession", INTERNAL_UNKNOWN)

    with pytest.raises(grpc.RpcError) as raised:
        flaky.client.sessions.GetSession(session_service_pb2.GetSessionRequest(session_id="ses_1"))

    assert raised.value.code() == grpc.StatusCode.UNKNOWN
    assert flaky.attempts["GetSession"] == 1


def test_non_idempotent_methods_are_attempted_once_on_unavailable(flaky):
    flaky.fail("StartSession", UNAVAILABLE)
    flaky.fail("AddParticipant", UNAVAILABLE)
    flaky.fail("CreateSession", UNAVAILABLE)
    sessions = flaky.client.sessions

    with pytest.raises(grpc.RpcError) as start:
        sessions.StartSession(session_service_pb2.StartSessionRequest(session_id="ses_1"))
    with pytest.raises(grpc.RpcError) as add:
        sessions.AddParticipant(session_service_pb2.AddParticipantRequest(session_id="ses_1"))
    # The plain stub never repeats a create, request_id or not; create_session() does.
    with pytest.raises(grpc.RpcError) as create:
        sessions.CreateSession(_create("r-1"))

    assert [e.value.code() for e in (start, add, create)] == [grpc.StatusCode.UNAVAILABLE] * 3
    assert (flaky.attempts["StartSession"], flaky.attempts["AddParticipant"], flaky.attempts["CreateSession"]) == (1, 1, 1)


def test_create_session_with_request_id_is_retried_on_unavailable_unknown_and_deadline(flaky):
    flaky.fail("CreateSession", UNAVAILABLE, OUTCOME_UNKNOWN, SERVER_DEADLINE)
    request = _create("create-appt-1")

    response = flaky.client.create_session(request)

    assert response.session.id == "ses_created"
    assert flaky.attempts["CreateSession"] == 4
    assert flaky.creates == [request] * 4


def test_create_session_with_request_id_is_retried_on_resource_exhausted_and_gives_up_after_four(flaky):
    flaky.fail("CreateSession", *[OVERLOADED] * 5)

    with pytest.raises(grpc.RpcError) as raised:
        flaky.client.create_session(_create("create-appt-2"))

    assert error_details(raised.value).error_reason == errors_pb2.SERVER_OVERLOADED
    assert flaky.attempts["CreateSession"] == 4


def test_create_session_without_request_id_is_attempted_once(flaky):
    flaky.fail("CreateSession", UNAVAILABLE)

    with pytest.raises(grpc.RpcError) as raised:
        flaky.client.create_session(_create())

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert flaky.attempts["CreateSession"] == 1


def test_create_session_request_id_reused_is_not_retried(flaky):
    flaky.fail("CreateSession", REQUEST_ID_REUSED)

    with pytest.raises(grpc.RpcError) as raised:
        flaky.client.create_session(_create("create-appt-4"))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(raised.value).error_reason == errors_pb2.REQUEST_ID_REUSED
    assert flaky.attempts["CreateSession"] == 1


def test_create_session_with_request_id_is_not_retried_on_other_codes(flaky):
    flaky.fail("CreateSession", EXTERNAL_REF_EXISTS)

    with pytest.raises(grpc.RpcError) as raised:
        flaky.client.create_session(_create("create-appt-5"))

    assert error_details(raised.value).error_reason == errors_pb2.EXTERNAL_REF_ALREADY_EXISTS
    assert flaky.attempts["CreateSession"] == 1


def test_create_session_with_request_id_stops_at_the_overall_deadline(flaky):
    flaky.create_hangs.set()
    started = time.monotonic()

    with pytest.raises(grpc.RpcError) as raised:
        flaky.client.create_session(_create("create-appt-6"), timeout=0.3)

    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert flaky.attempts["CreateSession"] == 1, "no attempt after the deadline passed"
    assert time.monotonic() - started < 2.0
