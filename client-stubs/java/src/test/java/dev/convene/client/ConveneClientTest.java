package dev.convene.client;

import dev.convene.server.testing.TestServerExtension;
import org.junit.jupiter.api.extension.RegisterExtension;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.util.Timestamps;
import com.google.rpc.ErrorInfo;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.AddParticipantRequest;
import dev.convene.v1.AddParticipantResponse;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.CreateSessionResponse;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.GetSessionRequest;
import dev.convene.v1.GetSessionResponse;
import dev.convene.v1.JoinSessionRequest;
import dev.convene.v1.JoinSessionResponse;
import dev.convene.v1.ListSessionsRequest;
import dev.convene.v1.ListSessionsResponse;
import dev.convene.v1.MediaType;
import dev.convene.v1.Session;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.StartSessionRequest;
import dev.convene.v1.StartSessionResponse;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The helper against the real server (in-process), and its retry rules against a scripted flaky one. */
class ConveneClientTest {
  @RegisterExtension
  static final TestServerExtension servers = new TestServerExtension();
  static TestServer server;

  @BeforeAll
  static void server() {
    server = servers.get();
  }

  @Test
  void apiKeyIsAttached_andCallsSucceed() {
    ConveneClient client = ConveneClient.withApiKey(server.channel, server.tenantA.key());
    var created = client.sessions().createSession(CreateSessionRequest.newBuilder()
        .setExternalRef("client-helper-1").setMedia(MediaType.MEDIA_TYPE_AUDIO)
        .setScheduledStartTime(Timestamps.fromSeconds(2_000_000_000L))
        .setScheduledEndTime(Timestamps.fromSeconds(2_000_001_800L)).build()).getSession();
    assertTrue(created.getId().startsWith("ses_"));

    var wrong = ConveneClient.withApiKey(server.channel, "cvk_wrong_key");
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> wrong.sessions().listSessions(ListSessionsRequest.getDefaultInstance()));
    assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    assertEquals(dev.convene.v1.ErrorReason.INVALID_CREDENTIAL, ConveneClient.errorReason(e));
    StatusRuntimeException missing = assertThrows(StatusRuntimeException.class, () -> client.sessions()
        .getSession(dev.convene.v1.GetSessionRequest.newBuilder().setSessionId("ses_missing").build()));
    assertEquals(dev.convene.v1.ErrorReason.SESSION_NOT_FOUND, ConveneClient.errorReason(missing));
    assertEquals(dev.convene.v1.ErrorReason.ERROR_REASON_UNSPECIFIED,
        ConveneClient.errorReason(new IllegalStateException("not a gRPC error")));
    assertFalse(ConveneClient.bearer("cvk_secret").toString().contains("secret"));
  }

  @Test
  void defaultDeadline_appliesOnlyToCallsWithoutOne() {
    AtomicReference<Deadline> seen = new AtomicReference<>();
    ClientInterceptor capture = new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> m, CallOptions o, Channel next) {
        seen.set(o.getDeadline());
        return next.newCall(m, o);
      }
    };
    Channel observed = ClientInterceptors.intercept(server.channel, capture);
    ConveneClient client = ConveneClient.withApiKey(observed, server.tenantA.key()).withDefaultDeadline(Duration.ofSeconds(7));

    client.sessions().listSessions(ListSessionsRequest.getDefaultInstance());
    assertNotNull(seen.get());
    long left = seen.get().timeRemaining(TimeUnit.MILLISECONDS);
    assertTrue(left > 5_000 && left <= 7_000, "remaining " + left);

    client.sessions().withDeadlineAfter(60, TimeUnit.SECONDS).listSessions(ListSessionsRequest.getDefaultInstance());
    assertTrue(seen.get().timeRemaining(TimeUnit.SECONDS) > 50);

    SessionServiceGrpc.newBlockingStub(observed).withCallCredentials(ConveneClient.bearer(server.tenantA.key()))
        .listSessions(ListSessionsRequest.getDefaultInstance());
    assertNull(seen.get());
  }

  @Test
  void retryPolicy_retriesUnavailable_onTheCallersChannel() throws Exception {
    AtomicInteger attempts = new AtomicInteger();
    SessionServiceGrpc.SessionServiceImplBase flaky = new SessionServiceGrpc.SessionServiceImplBase() {
      @Override
      public void listSessions(ListSessionsRequest request, StreamObserver<ListSessionsResponse> observer) {
        if (attempts.incrementAndGet() < 3) {
          observer.onError(Status.UNAVAILABLE.withDescription("replica restarting").asRuntimeException());
          return;
        }
        observer.onNext(ListSessionsResponse.newBuilder().setNextPageToken("third-time").build());
        observer.onCompleted();
      }
    };
    String name = InProcessServerBuilder.generateName();
    Server flakyServer = InProcessServerBuilder.forName(name).addService(flaky).build().start();
    ManagedChannel channel = ConveneClient.configureRetries(InProcessChannelBuilder.forName(name)).build();
    try {
      ListSessionsResponse r = ConveneClient.withApiKey(channel, "cvk_any_key").sessions()
          .listSessions(ListSessionsRequest.getDefaultInstance());
      assertEquals("third-time", r.getNextPageToken());
      assertEquals(3, attempts.get());
    } finally {
      channel.shutdownNow();
      flakyServer.shutdownNow();
    }
  }

  @Test
  void createSession_helper_sameRequestId_returnsFirstSession_onTheRealServer() {
    ConveneClient client = ConveneClient.withApiKey(server.channel, server.tenantA.key());
    CreateSessionRequest request = create("client-helper-create").toBuilder().setRequestId("helper-create-1").build();

    Session first = client.createSession(request).getSession();
    Session again = client.createSession(request).getSession();

    assertEquals(first.getId(), again.getId());
  }

  // ---- retry rules, against a server that fails the first attempts as scripted ----

  /** Fails each method's next attempts with the queued errors, then answers; counts attempts. */
  static final class Flaky extends SessionServiceGrpc.SessionServiceImplBase {
    final Map<String, Deque<StatusRuntimeException>> failures = new java.util.concurrent.ConcurrentHashMap<>();
    final Map<String, AtomicInteger> attempts = new java.util.concurrent.ConcurrentHashMap<>();
    final List<CreateSessionRequest> creates = Collections.synchronizedList(new ArrayList<>());
    volatile boolean createHangs;

    void fail(String method, StatusRuntimeException... errors) {
      failures.computeIfAbsent(method, m -> new ArrayDeque<>()).addAll(List.of(errors));
    }

    int attempts(String method) {
      return attempts.computeIfAbsent(method, m -> new AtomicInteger()).get();
    }

    private <T> void answer(String method, T response, StreamObserver<T> observer) {
      attempts.computeIfAbsent(method, m -> new AtomicInteger()).incrementAndGet();
      StatusRuntimeException next;
      synchronized (failures) {
        next = failures.getOrDefault(method, new ArrayDeque<>()).poll();
      }
      if (next != null) {
        observer.onError(next);
        return;
      }
      observer.onNext(response);
      observer.onCompleted();
    }

    @Override
    public void getSession(GetSessionRequest request, StreamObserver<GetSessionResponse> observer) {
      answer("GetSession", GetSessionResponse.newBuilder().setSession(Session.newBuilder().setId(request.getSessionId())).build(), observer);
    }

    @Override
    public void joinSession(JoinSessionRequest request, StreamObserver<JoinSessionResponse> observer) {
      answer("JoinSession", JoinSessionResponse.getDefaultInstance(), observer);
    }

    @Override
    public void startSession(StartSessionRequest request, StreamObserver<StartSessionResponse> observer) {
      answer("StartSession", StartSessionResponse.getDefaultInstance(), observer);
    }

    @Override
    public void addParticipant(AddParticipantRequest request, StreamObserver<AddParticipantResponse> observer) {
      answer("AddParticipant", AddParticipantResponse.getDefaultInstance(), observer);
    }

    @Override
    public void createSession(CreateSessionRequest request, StreamObserver<CreateSessionResponse> observer) {
      creates.add(request);
      if (createHangs) {
        attempts.computeIfAbsent("CreateSession", m -> new AtomicInteger()).incrementAndGet();
        return; // never answers: the attempt ends with its deadline
      }
      answer("CreateSession", CreateSessionResponse.newBuilder().setSession(Session.newBuilder().setId("ses_created")).build(), observer);
    }
  }

  /** An error as the server sends it: code, message and an ErrorInfo with the reason. */
  static StatusRuntimeException error(Status.Code code, ErrorReason reason) {
    return StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
        .setCode(code.value())
        .setMessage("scripted " + reason)
        .addDetails(Any.pack(ErrorInfo.newBuilder().setDomain("convene.dev").setReason(reason.name()).build()))
        .build());
  }

  static CreateSessionRequest create(String externalRef) {
    return CreateSessionRequest.newBuilder()
        .setExternalRef(externalRef).setMedia(MediaType.MEDIA_TYPE_AUDIO)
        .setScheduledStartTime(Timestamps.fromSeconds(2_000_000_000L))
        .setScheduledEndTime(Timestamps.fromSeconds(2_000_001_800L)).build();
  }

  final Flaky flaky = new Flaky();
  Server flakyServer;
  ManagedChannel flakyChannel;

  /** A client over a channel configured with {@link ConveneClient#configureRetries}, to {@link #flaky}. */
  ConveneClient flakyClient() throws Exception {
    String name = InProcessServerBuilder.generateName();
    flakyServer = InProcessServerBuilder.forName(name).addService(flaky).build().start();
    flakyChannel = ConveneClient.configureRetries(InProcessChannelBuilder.forName(name)).build();
    return ConveneClient.withApiKey(flakyChannel, "cvk_any_key");
  }

  @AfterEach
  void stopFlaky() {
    if (flakyChannel != null) {
      flakyChannel.shutdownNow();
    }
    if (flakyServer != null) {
      flakyServer.shutdownNow();
    }
  }

  @Test
  void retriedMethods_areExactlyThoseTheContractDeclaresIdempotent() {
    assertEquals(Set.of(
            "convene.v1.CallService/AdmitParticipant",
            "convene.v1.CallService/DenyParticipant",
            "convene.v1.CallService/KickParticipant",
            "convene.v1.CallService/ListLobby",
            "convene.v1.CallService/SetRecordingConsent",
            "convene.v1.CallService/StartRecording",
            "convene.v1.CallService/StopRecording",
            "convene.v1.CallService/UnbanParticipant",
            "convene.v1.CredentialService/GetSigningKeys",
            // Watch streams: gRPC retries a stream only before its first message arrived.
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
            "convene.v1.WebhookService/UpdateWebhookEndpoint"),
        ConveneClient.retriedMethods());

    // Every name in the service config names one method: none covers a whole service.
    @SuppressWarnings("unchecked")
    var methodConfig = (List<Map<String, ?>>) ConveneClient.serviceConfig().get("methodConfig");
    assertEquals(1, methodConfig.size());
    @SuppressWarnings("unchecked")
    var names = (List<Map<String, String>>) methodConfig.get(0).get("name");
    assertEquals(49, names.size());
    assertTrue(names.stream().allMatch(n -> n.get("method") != null && !n.get("method").isEmpty()), names.toString());
    assertEquals(Map.of(
            "maxAttempts", 4.0, "initialBackoff", "0.1s", "maxBackoff", "2s", "backoffMultiplier", 2.0,
            "retryableStatusCodes", List.of("UNAVAILABLE", "RESOURCE_EXHAUSTED")),
        methodConfig.get(0).get("retryPolicy"));
  }

  @Test
  void noSideEffectsMethod_isRetriedOnUnavailable_andSucceeds() throws Exception {
    ConveneClient client = flakyClient();
    flaky.fail("GetSession",
        error(Status.Code.UNAVAILABLE, ErrorReason.DATABASE_UNAVAILABLE),
        Status.UNAVAILABLE.withDescription("connection reset").asRuntimeException());

    GetSessionResponse r = client.sessions().getSession(GetSessionRequest.newBuilder().setSessionId("ses_1").build());

    assertEquals("ses_1", r.getSession().getId());
    assertEquals(3, flaky.attempts("GetSession"));
  }

  @Test
  void idempotentMethod_isRetriedOnResourceExhausted_andSucceeds() throws Exception {
    ConveneClient client = flakyClient();
    flaky.fail("JoinSession", error(Status.Code.RESOURCE_EXHAUSTED, ErrorReason.SERVER_OVERLOADED));

    client.sessions().joinSession(JoinSessionRequest.newBuilder().setSessionId("ses_1").setUserId("u").build());

    assertEquals(2, flaky.attempts("JoinSession"));
  }

  @Test
  void noSideEffectsMethod_givesUpAfterFourAttempts() throws Exception {
    ConveneClient client = flakyClient();
    for (int i = 0; i < 5; i++) {
      flaky.fail("GetSession", error(Status.Code.UNAVAILABLE, ErrorReason.DATABASE_UNAVAILABLE));
    }

    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> client.sessions().getSession(GetSessionRequest.newBuilder().setSessionId("ses_1").build()));

    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
    assertEquals(4, flaky.attempts("GetSession"));
  }

  @Test
  void noSideEffectsMethod_isNotRetriedOnOtherCodes() throws Exception {
    ConveneClient client = flakyClient();
    flaky.fail("GetSession", error(Status.Code.UNKNOWN, ErrorReason.INTERNAL));

    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> client.sessions().getSession(GetSessionRequest.newBuilder().setSessionId("ses_1").build()));

    assertEquals(Status.Code.UNKNOWN, e.getStatus().getCode());
    assertEquals(1, flaky.attempts("GetSession"));
  }

  @Test
  void nonIdempotentMethods_areAttemptedOnce_onUnavailable() throws Exception {
    ConveneClient client = flakyClient();
    flaky.fail("StartSession", Status.UNAVAILABLE.withDescription("connection reset after commit").asRuntimeException());
    flaky.fail("AddParticipant", error(Status.Code.UNAVAILABLE, ErrorReason.DATABASE_UNAVAILABLE));
    flaky.fail("CreateSession", Status.UNAVAILABLE.asRuntimeException());

    StatusRuntimeException start = assertThrows(StatusRuntimeException.class,
        () -> client.sessions().startSession(StartSessionRequest.newBuilder().setSessionId("ses_1").build()));
    StatusRuntimeException add = assertThrows(StatusRuntimeException.class,
        () -> client.sessions().addParticipant(AddParticipantRequest.newBuilder().setSessionId("ses_1").build()));
    // The plain stub never repeats a create, request_id or not; the helper below does.
    StatusRuntimeException created = assertThrows(StatusRuntimeException.class,
        () -> client.sessions().createSession(create("x").toBuilder().setRequestId("r-1").build()));

    assertEquals(Status.Code.UNAVAILABLE, start.getStatus().getCode());
    assertEquals(Status.Code.UNAVAILABLE, add.getStatus().getCode());
    assertEquals(Status.Code.UNAVAILABLE, created.getStatus().getCode());
    assertEquals(1, flaky.attempts("StartSession"));
    assertEquals(1, flaky.attempts("AddParticipant"));
    assertEquals(1, flaky.attempts("CreateSession"));
  }

  @Test
  void createSession_withRequestId_isRetriedOnUnavailableUnknownAndDeadline_andSucceeds() throws Exception {
    ConveneClient client = flakyClient();
    flaky.fail("CreateSession",
        Status.UNAVAILABLE.withDescription("connection reset").asRuntimeException(),
        error(Status.Code.UNKNOWN, ErrorReason.COMMIT_OUTCOME_UNKNOWN),
        error(Status.Code.DEADLINE_EXCEEDED, ErrorReason.DEADLINE_EXCEEDED));
    CreateSessionRequest request = create("appt-1").toBuilder().setRequestId("create-appt-1").build();

    CreateSessionResponse r = client.createSession(request);

    assertEquals("ses_created", r.getSession().getId());
    assertEquals(4, flaky.attempts("CreateSession"));
    assertEquals(List.of(request, request, request, request), flaky.creates);
  }

  @Test
  void createSession_withRequestId_isRetriedOnResourceExhausted_andGivesUpAfterFourAttempts() throws Exception {
    ConveneClient client = flakyClient();
    for (int i = 0; i < 5; i++) {
      flaky.fail("CreateSession", error(Status.Code.RESOURCE_EXHAUSTED, ErrorReason.SERVER_OVERLOADED));
    }

    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> client.createSession(create("appt-2").toBuilder().setRequestId("create-appt-2").build()));

    assertEquals(ErrorReason.SERVER_OVERLOADED, ConveneClient.errorReason(e));
    assertEquals(4, flaky.attempts("CreateSession"));
  }

  @Test
  void createSession_withoutRequestId_isAttemptedOnce() throws Exception {
    ConveneClient client = flakyClient();
    flaky.fail("CreateSession", Status.UNAVAILABLE.withDescription("connection reset").asRuntimeException());

    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> client.createSession(create("appt-3")));

    assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
    assertEquals(1, flaky.attempts("CreateSession"));
  }

  @Test
  void createSession_requestIdReused_isNotRetried() throws Exception {
    ConveneClient client = flakyClient();
    flaky.fail("CreateSession", error(Status.Code.INVALID_ARGUMENT, ErrorReason.REQUEST_ID_REUSED));

    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> client.createSession(create("appt-4").toBuilder().setRequestId("create-appt-4").build()));

    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertEquals(ErrorReason.REQUEST_ID_REUSED, ConveneClient.errorReason(e));
    assertEquals(1, flaky.attempts("CreateSession"));
  }

  @Test
  void createSession_withRequestId_isNotRetriedOnOtherCodes() throws Exception {
    ConveneClient client = flakyClient();
    flaky.fail("CreateSession", error(Status.Code.ALREADY_EXISTS, ErrorReason.EXTERNAL_REF_ALREADY_EXISTS));

    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> client.createSession(create("appt-5").toBuilder().setRequestId("create-appt-5").build()));

    assertEquals(ErrorReason.EXTERNAL_REF_ALREADY_EXISTS, ConveneClient.errorReason(e));
    assertEquals(1, flaky.attempts("CreateSession"));
  }

  @Test
  void createSession_withRequestId_stopsAtTheOverallDeadline() throws Exception {
    ConveneClient client = flakyClient();
    flaky.createHangs = true;
    long started = System.nanoTime();

    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> client.createSession(
        create("appt-6").toBuilder().setRequestId("create-appt-6").build(), Deadline.after(300, TimeUnit.MILLISECONDS)));

    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
    assertEquals(1, flaky.attempts("CreateSession"), "no attempt after the deadline passed");
    assertTrue(tookMs < 2_000, "took " + tookMs + " ms");
  }
}
