package dev.convene.server.session;

import static dev.convene.server.session.SessionFixtures.stub;
import static dev.convene.server.session.SessionFixtures.visit;
import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.badFields;
import static dev.convene.server.testing.TestServer.T0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.platform.Pages;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.*;
import io.grpc.Status.Code;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Page tokens are signed and bound to tenant and filters; pages are bounded by bytes as well as count. */
class SessionPagingTest {
  @RegisterExtension
  static final TestServerExtension servers = new TestServerExtension();
  static TestServer server;
  static SessionServiceGrpc.SessionServiceBlockingStub a;
  static SessionServiceGrpc.SessionServiceBlockingStub b;
  static final int BIG = 70;

  @BeforeAll
  static void sessions() {
    server = servers.get();
    a = stub(server, server.tenantA.key());
    b = stub(server, server.tenantB.key());
    // Each session carries about 18 KB of metadata: 70 of them are more than a page may hold.
    for (int i = 0; i < BIG; i++) {
      CreateSessionRequest.Builder req = visit("big-" + i, T0.plus(Duration.ofMinutes(i)));
      for (int k = 0; k < 32; k++) {
        req.putMetadata("k" + k, "x".repeat(512));
      }
      a.createSession(req.build());
    }
    b.createSession(visit("b-1", T0).build());
    b.createSession(visit("b-2", T0).build());
  }

  private static String firstToken(ListSessionsRequest.Builder req) {
    String token = a.listSessions(req.setPageSize(2).build()).getNextPageToken();
    assertFalse(token.isEmpty());
    return token;
  }

  @Test
  void aPage_staysUnderTheByteBound_andPagingStillReturnsEverySession() {
    List<String> ids = new ArrayList<>();
    String token = "";
    int pages = 0;
    do {
      ListSessionsResponse page = a.listSessions(ListSessionsRequest.newBuilder().setPageSize(200)
          .setPageToken(token).build());
      assertTrue(page.getSerializedSize() <= Pages.MAX_BYTES + 1024, "page of " + page.getSerializedSize() + " bytes");
      page.getSessionsList().forEach(s -> ids.add(s.getId()));
      token = page.getNextPageToken();
      pages++;
    } while (!token.isEmpty());
    assertEquals(BIG, ids.size());
    assertEquals(BIG, ids.stream().distinct().count());
    assertTrue(pages >= 2, "all " + BIG + " sessions fit one page");
  }

  @Test
  void aTamperedToken_isInvalidPageToken() {
    String token = firstToken(ListSessionsRequest.newBuilder());
    int dot = token.indexOf('.');
    // Change one character of the signed payload.
    char c = token.charAt(dot - 1);
    String tampered = token.substring(0, dot - 1) + (c == 'A' ? 'B' : 'A') + token.substring(dot);
    var e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN",
        () -> a.listSessions(ListSessionsRequest.newBuilder().setPageToken(tampered).build()));
    assertEquals(List.of("page_token"), badFields(e));
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN",
        () -> a.listSessions(ListSessionsRequest.newBuilder().setPageToken("not a token").build()));
  }

  @Test
  void anotherTenantsToken_isInvalidPageToken() {
    String token = firstToken(ListSessionsRequest.newBuilder());
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN",
        () -> b.listSessions(ListSessionsRequest.newBuilder().setPageToken(token).build()));
  }

  @Test
  void aTokenUsedWithOtherFilters_isInvalidPageToken_withTheSameFiltersItWorks() {
    String token = firstToken(ListSessionsRequest.newBuilder().setStatus(SessionStatus.SESSION_STATUS_SCHEDULED));
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", () -> a.listSessions(ListSessionsRequest.newBuilder()
        .setPageToken(token).build()));
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", () -> a.listSessions(ListSessionsRequest.newBuilder()
        .setStatus(SessionStatus.SESSION_STATUS_CANCELLED).setPageToken(token).build()));
    // The page size may change between pages; the filters may not.
    assertEquals(5, a.listSessions(ListSessionsRequest.newBuilder().setStatus(SessionStatus.SESSION_STATUS_SCHEDULED)
        .setPageSize(5).setPageToken(token).build()).getSessionsCount());
  }

  @Test
  void aParticipantsToken_isBoundToItsSession() {
    String first = a.listSessions(ListSessionsRequest.newBuilder().setPageSize(2).build()).getSessions(0).getId();
    String second = a.listSessions(ListSessionsRequest.newBuilder().setPageSize(2).build()).getSessions(1).getId();
    String token = a.listParticipants(ListParticipantsRequest.newBuilder().setSessionId(first).setPageSize(1).build())
        .getNextPageToken();
    assertFalse(token.isEmpty());
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", () -> a.listParticipants(ListParticipantsRequest
        .newBuilder().setSessionId(second).setPageToken(token).build()));
    assertEquals("pat", a.listParticipants(ListParticipantsRequest.newBuilder().setSessionId(first).setPageToken(token)
        .build()).getParticipants(0).getUserId());
  }
}
