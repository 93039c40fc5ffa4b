package dev.convene.client;

import dev.convene.server.testing.TestServerExtension;
import org.junit.jupiter.api.extension.RegisterExtension;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.Timestamps;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.ListSessionsRequest;
import dev.convene.v1.ListSessionsResponse;
import dev.convene.v1.MediaType;
import dev.convene.v1.SessionServiceGrpc;
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
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The helper against the real server (in-process), and its retry policy against a flaky one. */
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
}
