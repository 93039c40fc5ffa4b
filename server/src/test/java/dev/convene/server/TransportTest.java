package dev.convene.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.convene.server.auth.AuthInterceptor;
import dev.convene.server.grpc.Admission;
import dev.convene.server.testing.GrpcAssertions;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.ListSessionsRequest;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The server on its real transport (Netty on a loopback port, configured as Main configures it):
 * oversized requests and headers fail alone, with a clear status, and the connection, with other
 * calls on it, lives on; keepalive pings like Envoy's are accepted.
 */
class TransportTest {
  @RegisterExtension
  static final TestServerExtension servers = new TestServerExtension();
  private ConveneServer server;
  private Admission admission;
  private ManagedChannel channel;
  private SessionServiceGrpc.SessionServiceBlockingStub stub;

  @BeforeEach
  void start() throws Exception {
    TestServer base = servers.get();
    admission = new Admission(4, 20);
    server = new ConveneServer(Main.netty(0), admission,
        new AuthInterceptor(base.jdbi(), base.clock, Duration.ZERO), Main.validation(),
        Main.services(Main.features(base.platform, new dev.convene.server.provider.ProviderFactory(Duration.ofSeconds(5), null)))).start();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext()
        .keepAliveTime(10, TimeUnit.SECONDS).keepAliveWithoutCalls(true).build();
    stub = SessionServiceGrpc.newBlockingStub(channel).withCallCredentials(TestServer.bearer(base.tenantA.key()));
  }

  @AfterEach
  void stop() {
    channel.shutdownNow();
    server.shutdown(Duration.ofSeconds(1));
    admission.close();
  }

  /** A call succeeds, and the channel's connection is up. */
  private void serves() {
    stub.withDeadlineAfter(20, TimeUnit.SECONDS).listSessions(ListSessionsRequest.getDefaultInstance());
    assertEquals(ConnectivityState.READY, channel.getState(false));
  }

  /** The connection that served before is still up (a GOAWAY would have left the channel IDLE), and serves. */
  private void stillServes() throws InterruptedException {
    Thread.sleep(300);
    assertEquals(ConnectivityState.READY, channel.getState(false), "the connection was closed");
    serves();
  }

  @Test
  void aRequestOverTheLimit_isResourceExhausted_andTheConnectionLivesOn() throws Exception {
    serves();
    CreateSessionRequest huge = CreateSessionRequest.newBuilder().setTitle("x".repeat(ConveneServer.MAX_REQUEST_BYTES)).build();
    StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
        () -> stub.withDeadlineAfter(20, TimeUnit.SECONDS).createSession(huge));
    assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
    stillServes();
  }

  @Test
  void anAuthorizationHeaderOf20KiB_isUnauthenticated_andTheConnectionLivesOn() throws Exception {
    serves();
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer cvk_" + "x".repeat(20 * 1024));
    var oversized = SessionServiceGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    GrpcAssertions.assertStatus(Status.Code.UNAUTHENTICATED, "INVALID_CREDENTIAL",
        () -> oversized.listSessions(ListSessionsRequest.getDefaultInstance()));
    stillServes();
  }

  @Test
  void keepalivePingsEveryTenSeconds_doNotEndTheConnection() throws Exception {
    serves();
    // grpc-java's default would answer a second ping within 5 minutes with GOAWAY too_many_pings.
    Thread.sleep(35_000); // three pings: a server without the permit ends the connection at the third
    stillServes();
  }
}
