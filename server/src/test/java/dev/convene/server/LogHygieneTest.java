package dev.convene.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.PatternLayout;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import dev.convene.server.grpc.ErrorMapping;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.CancelSessionRequest;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.ListSessionsRequest;
import dev.convene.v1.MediaType;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ParticipantSpec;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/**
 * No personal data in logs: a scenario puts marker values in every field a client controls
 * (title, display name, metadata keys and values, external ref, reasons), succeeds, fails in every
 * way it can, and then no log line, at any level, with its exception, contains a marker.
 */
class LogHygieneTest {
  @RegisterExtension
  static final TestServerExtension servers = new TestServerExtension();
  private static final String MARK = "MARKERx7Q";
  private static final Instant START = Instant.parse("2030-01-01T10:00:00Z");

  private final ListAppender<ILoggingEvent> captured = new ListAppender<>();
  private Level rootLevel;

  private static Logger root() {
    return (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
  }

  @BeforeEach
  void capture() {
    captured.setContext((LoggerContext) LoggerFactory.getILoggerFactory());
    captured.start();
    root().addAppender(captured);
    rootLevel = root().getLevel();
    root().setLevel(Level.DEBUG);
  }

  @AfterEach
  void release() {
    root().detachAppender(captured);
    root().setLevel(rootLevel);
  }

  private static CreateSessionRequest.Builder visit(String n) {
    return CreateSessionRequest.newBuilder()
        .setExternalRef(MARK + "-ref-" + n)
        .setTitle(MARK + " title")
        .setMedia(MediaType.MEDIA_TYPE_VIDEO)
        .setScheduledStartTime(ProtoTime.timestamp(START))
        .setScheduledEndTime(ProtoTime.timestamp(START.plusSeconds(1800)))
        .putMetadata(MARK + "key", MARK + " value")
        .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setDisplayName(MARK + " Dr Name")
            .setRole(ParticipantRole.PARTICIPANT_ROLE_HOST));
  }

  @Test
  void aScenarioWithMarkersInEveryField_logsNoMarker() {
    TestServer server = servers.get();
    var stub = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    String id = stub.createSession(visit("1").build()).getSession().getId();
    // ALREADY_EXISTS on the marker external_ref.
    assertThrows(StatusRuntimeException.class, () -> stub.createSession(visit("1").build()));
    // INVALID_ARGUMENT on a metadata key that is a phone number, on one with CR/LF, on text fields.
    assertThrows(StatusRuntimeException.class, () -> stub.createSession(visit("2").putMetadata("+1555" + MARK, "v").build()));
    assertThrows(StatusRuntimeException.class,
        () -> stub.createSession(visit("3").putMetadata("k\r\nFORGED " + MARK, "v").build()));
    assertThrows(StatusRuntimeException.class, () -> stub.createSession(visit("4").setTitle(MARK + "\u0000").build()));
    assertThrows(StatusRuntimeException.class,
        () -> stub.listSessions(ListSessionsRequest.newBuilder().setExternalRef(MARK + "\n").build()));
    stub.cancelSession(CancelSessionRequest.newBuilder().setSessionId(id).setReason(MARK + " reason").build());
    // FAILED_PRECONDITION: already cancelled.
    assertThrows(StatusRuntimeException.class,
        () -> stub.cancelSession(CancelSessionRequest.newBuilder().setSessionId(id).setReason(MARK + " again").build()));
    // Errors of the database itself, carrying the values in their statement: a check violation
    // (unexpected: logged as an ERROR with its exception) and a data exception.
    RuntimeException check = assertThrows(RuntimeException.class, () -> server.platform.uow().write(
        server.tenantA.tenantId(), "test", tx -> tx.handle().createUpdate(
            "UPDATE sessions SET status = :s, title = :t WHERE id = :id")
            .bind("s", MARK + " status").bind("t", MARK + " title").bind("id", id).execute()));
    ErrorMapping.toStatus(check, "test/Check");
    RuntimeException data = assertThrows(RuntimeException.class, () -> server.platform.uow().write(
        server.tenantA.tenantId(), "test", tx -> tx.handle().createQuery("SELECT CAST(:v AS integer)")
            .bind("v", MARK).mapTo(Integer.class).one()));
    ErrorMapping.toStatus(data, "test/Data");

    List<String> lines = captured.list.stream().map(e -> e.getFormattedMessage()
        + (e.getThrowableProxy() == null ? "" : "\n" + ThrowableProxyUtil.asString(e.getThrowableProxy()))).toList();
    assertTrue(lines.stream().anyMatch(l -> l.contains("test/Check failed with an unexpected error")),
        "the scenario logged its failures: " + lines);
    for (String line : lines) {
      assertFalse(line.contains(MARK), "a log line carries a client value: " + line);
    }
  }

  @Test
  void theServingLogPattern_escapesControlCharacters() throws Exception {
    String xml = Files.readString(Path.of("src/main/resources/logback.xml"));
    Matcher m = Pattern.compile("<pattern>(.*)</pattern>").matcher(xml);
    assertTrue(m.find(), "logback.xml has a pattern");
    PatternLayout layout = new PatternLayout();
    layout.setContext((LoggerContext) LoggerFactory.getILoggerFactory());
    layout.setPattern(m.group(1));
    layout.start();
    LoggingEvent event = new LoggingEvent("x", root(), Level.INFO, "value {} end", null,
        new Object[] {"a\r\n12:00:00.000 ERROR forged\u0000\u001b[31m"});
    String out = layout.doLayout(event);
    assertEquals(1, out.split("\n", -1).length - 1, "one line: " + out);
    assertFalse(out.contains("\r") || out.contains("\u0000") || out.contains("\u001b"), out);
    assertTrue(out.contains("forged"), out);
  }
}
