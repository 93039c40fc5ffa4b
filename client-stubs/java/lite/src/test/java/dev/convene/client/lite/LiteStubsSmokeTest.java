package dev.convene.client.lite;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.GetSessionRequest;
import dev.convene.v1.MediaType;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ParticipantSpec;
import dev.convene.v1.Session;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.SessionStatus;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The lite stubs against the real server jar, started as its own process on a fresh embedded
 * database. Android apps use grpc-okhttp; its 1.83.0 jar is missing from the Maven Central these
 * machines reach, so the test uses Netty: the lite messages and stubs are what is under test.
 */
class LiteStubsSmokeTest {
  static Process server;
  static ManagedChannel channel;
  static String key;

  static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @BeforeAll
  static void startServer() throws Exception {
    Path jar = Path.of(System.getProperty("convene.serverJar"));
    assertTrue(Files.exists(jar), "build the server first: " + jar);
    int grpcPort = freePort();
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-jar", jar.toString()).redirectErrorStream(true);
    pb.environment().put("CONVENE_GRPC_PORT", Integer.toString(grpcPort));
    pb.environment().put("CONVENE_EMBEDDED_PORT", Integer.toString(freePort()));
    pb.environment().put("CONVENE_EMBEDDED_DATA_DIR", Files.createTempDirectory("convene-lite").toString());
    server = pb.start();
    BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
    Pattern keyLine = Pattern.compile("(cvk_[A-Za-z0-9_]+)");
    String line;
    while ((line = out.readLine()) != null) {
      Matcher m = keyLine.matcher(line);
      if (m.find()) {
        key = m.group(1);
      }
      if (line.contains("serving gRPC")) {
        break;
      }
    }
    assertTrue(key != null && line != null, "the server did not start");
    Thread drain = new Thread(() -> out.lines().forEach(l -> { }));
    drain.setDaemon(true);
    drain.start();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", grpcPort).usePlaintext().build();
  }

  @AfterAll
  static void stop() throws Exception {
    if (channel != null) {
      channel.shutdownNow();
    }
    if (server != null) {
      server.destroy();
      server.waitFor(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void liteStubs_createAndGetASession_andSeeStructuredErrors() {
    Metadata auth = new Metadata();
    auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
    var stub = SessionServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth))
        .withDeadlineAfter(30, TimeUnit.SECONDS);

    Session created = stub.createSession(CreateSessionRequest.newBuilder()
        .setExternalRef("android-1")
        .setMedia(MediaType.MEDIA_TYPE_AUDIO)
        .setScheduledStartTime(Timestamp.newBuilder().setSeconds(1_900_000_000L))
        .setScheduledEndTime(Timestamp.newBuilder().setSeconds(1_900_001_800L))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
        .build()).getSession();
    assertEquals(SessionStatus.SESSION_STATUS_SCHEDULED, created.getStatus());
    assertEquals(created, stub.getSession(GetSessionRequest.newBuilder().setSessionId(created.getId()).build())
        .getSession());

    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> stub.getSession(GetSessionRequest.newBuilder().setSessionId("ses_missing").build()));
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
  }
}
