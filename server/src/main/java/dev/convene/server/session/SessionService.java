package dev.convene.server.session;

import static dev.convene.server.session.SessionStatusMachine.CANCELLED;
import static dev.convene.server.session.SessionStatusMachine.COMPLETED;
import static dev.convene.server.session.SessionStatusMachine.FAILED;
import static dev.convene.server.session.SessionStatusMachine.IN_PROGRESS;
import static dev.convene.server.session.SessionStatusMachine.NO_SHOW;
import static dev.convene.server.session.SessionStatusMachine.SCHEDULED;

import dev.convene.server.IdGenerator;
import dev.convene.server.auth.Principal;
import dev.convene.server.db.Json;
import dev.convene.server.event.EventDao;
import dev.convene.server.event.EventLog;
import dev.convene.server.event.EventRow;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ErrorReasons;
import dev.convene.server.grpc.PageTokens;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.v1.*;
import io.grpc.stub.StreamObserver;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.statement.UnableToExecuteStatementException;

/** convene.v1.SessionService: sessions, their roster and presence, lifecycle, events and statistics. */
public final class SessionService extends SessionServiceGrpc.SessionServiceImplBase {
  static final int DEFAULT_MAX_PARTICIPANTS = 50;
  static final Duration DEFAULT_NO_SHOW_GRACE = Duration.ofMinutes(15);
  static final Duration DEFAULT_EMPTY_TIMEOUT = Duration.ofMinutes(5);
  static final int MAX_ROSTER = 200;

  private final Jdbi jdbi;
  private final Clock clock;
  private final IdGenerator ids;

  public SessionService(Jdbi jdbi, Clock clock, IdGenerator ids) {
    this.jdbi = jdbi;
    this.clock = clock;
    this.ids = ids;
  }

  static ConveneException sessionNotFound(String id) {
    return ConveneException.notFound(ErrorReasons.SESSION_NOT_FOUND, "session " + id + " not found");
  }

  /** Runs {@code work} on the caller's tenant in one transaction. */
  private <T> T inTransaction(Function<SessionTransaction, T> work) {
    Principal principal = Principal.current();
    return jdbi.inTransaction(h -> work.apply(new SessionTransaction(h, principal.tenantId(), clock,
        principal.actor())));
  }

  private static <T> void reply(StreamObserver<T> observer, T response) {
    observer.onNext(response);
    observer.onCompleted();
  }

  @Override
  public void createSession(CreateSessionRequest req, StreamObserver<CreateSessionResponse> observer) {
    String tenantId = Principal.current().tenantId();
    Optional<SessionRow> earlier = req.getRequestId().isEmpty() ? Optional.empty()
        : jdbi.withExtension(SessionDao.class, dao -> dao.findByRequestId(tenantId, req.getRequestId()));
    SessionRow created = earlier.orElseGet(() -> insert(req));
    reply(observer, CreateSessionResponse.newBuilder().setSession(SessionMapper.toProto(created)).build());
  }

  private SessionRow insert(CreateSessionRequest req) {
    try {
      return inTransaction(tx -> {
        Instant now = tx.now();
        SessionSettings in = req.getSettings();
        long grace = (in.hasNoShowGrace() ? ProtoTime.javaDuration(in.getNoShowGrace()) : DEFAULT_NO_SHOW_GRACE).toMillis();
        Instant start = ProtoTime.instant(req.getScheduledStartTime());
        SessionRow row = new SessionRow(ids.next("ses"), Principal.current().tenantId(), req.getExternalRef(),
            req.getRequestId().isEmpty() ? null : req.getRequestId(), req.getTitle(), SessionMapper.name(req.getMedia()),
            SCHEDULED, start, ProtoTime.instant(req.getScheduledEndTime()),
            in.getMaxParticipants() == 0 ? DEFAULT_MAX_PARTICIPANTS : in.getMaxParticipants(), in.getLobbyEnabled(),
            grace,
            (in.hasEmptyTimeout() ? ProtoTime.javaDuration(in.getEmptyTimeout()) : DEFAULT_EMPTY_TIMEOUT).toMillis(),
            Json.ofStringMap(req.getMetadataMap()), "", new String[0], now, now, null, null, null,
            start.plusMillis(grace), 0);
        if (!tx.dao().insertSession(row)) {
          // A concurrent retry with the same request_id won the insert; return its session.
          return tx.dao().findByRequestId(row.tenantId(), row.requestId()).orElseThrow();
        }
        tx.event(row, SessionEventType.SESSION_EVENT_TYPE_SESSION_CREATED,
            Map.of("external_ref", row.externalRef(), "status", SCHEDULED));
        for (ParticipantSpec p : req.getParticipantsList()) {
          addToRoster(tx, row, p);
        }
        // Read back what was stored (times at PostgreSQL's microsecond precision).
        return tx.dao().find(row.tenantId(), row.id()).orElseThrow();
      });
    } catch (UnableToExecuteStatementException e) {
      if (isUniqueViolation(e, "sessions_external_ref")) {
        throw ConveneException.alreadyExists(ErrorReasons.EXTERNAL_REF_ALREADY_EXISTS,
            "the tenant already has a session with this external_ref");
      }
      throw e;
    }
  }

  private static boolean isUniqueViolation(Exception e, String constraint) {
    return e.getCause() instanceof SQLException sql && "23505".equals(sql.getSQLState())
        && sql.getMessage() != null && sql.getMessage().contains(constraint);
  }

  private static ParticipantRow addToRoster(SessionTransaction tx, SessionRow s, ParticipantSpec p) {
    ParticipantRow row = tx.dao().insertParticipant(s.tenantId(), s.id(), p.getUserId(), p.getDisplayName(),
            SessionMapper.name(p.getRole()), tx.now())
        .orElseThrow(() -> ConveneException.alreadyExists(ErrorReasons.PARTICIPANT_ALREADY_EXISTS,
            "user " + p.getUserId() + " is already on the roster of session " + s.id()));
    tx.event(s, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_ADDED,
        Map.of("user_id", row.userId(), "role", row.role()));
    return row;
  }

  @Override
  public void getSession(GetSessionRequest req, StreamObserver<GetSessionResponse> observer) {
    String tenantId = Principal.current().tenantId();
    SessionRow row = jdbi.withExtension(SessionDao.class, dao -> dao.find(tenantId, req.getSessionId()))
        .orElseThrow(() -> sessionNotFound(req.getSessionId()));
    reply(observer, GetSessionResponse.newBuilder().setSession(SessionMapper.toProto(row)).build());
  }

  @Override
  public void listSessions(ListSessionsRequest req, StreamObserver<ListSessionsResponse> observer) {
    String tenantId = Principal.current().tenantId();
    int size = PageTokens.pageSize(req.getPageSize(), 50, 200);
    Instant afterTime = null;
    String afterId = null;
    if (!req.getPageToken().isEmpty()) {
      List<String> keys = PageTokens.decode(req.getPageToken(), "sessions", 2);
      afterTime = parseInstant(keys.get(0));
      afterId = keys.get(1);
    }
    Instant from = req.hasScheduledStartFrom() ? ProtoTime.instant(req.getScheduledStartFrom()) : null;
    Instant before = req.hasScheduledStartBefore() ? ProtoTime.instant(req.getScheduledStartBefore()) : null;
    String status = req.getStatus() == SessionStatus.SESSION_STATUS_UNSPECIFIED ? null : SessionMapper.name(req.getStatus());
    Instant at = afterTime;
    String aid = afterId;
    List<SessionRow> rows = jdbi.withExtension(SessionDao.class, dao -> dao.list(tenantId, status,
        emptyToNull(req.getExternalRef()), emptyToNull(req.getUserId()), from, before, at, aid, size + 1));
    ListSessionsResponse.Builder out = ListSessionsResponse.newBuilder();
    rows.stream().limit(size).forEach(r -> out.addSessions(SessionMapper.toProto(r)));
    if (rows.size() > size) {
      SessionRow last = rows.get(size - 1);
      out.setNextPageToken(PageTokens.encode("sessions", last.scheduledStartTime().toString(), last.id()));
    }
    reply(observer, out.build());
  }

  private static Instant parseInstant(String s) {
    try {
      return Instant.parse(s);
    } catch (RuntimeException e) {
      throw PageTokens.invalid();
    }
  }

  private static String emptyToNull(String s) {
    return s.isEmpty() ? null : s;
  }

  @Override
  public void addParticipant(AddParticipantRequest req, StreamObserver<AddParticipantResponse> observer) {
    ParticipantRow row = inTransaction(tx -> {
      SessionRow s = tx.lock(req.getSessionId());
      SessionTransaction.requireOpen(s);
      if (tx.dao().rosterSize(s.id()) >= MAX_ROSTER) {
        throw ConveneException.resourceExhausted(ErrorReasons.ROSTER_FULL,
            "session " + s.id() + " already has " + MAX_ROSTER + " roster entries");
      }
      return addToRoster(tx, s, req.getParticipant());
    });
    reply(observer, AddParticipantResponse.newBuilder().setParticipant(SessionMapper.toProto(row)).build());
  }

  @Override
  public void removeParticipant(RemoveParticipantRequest req, StreamObserver<RemoveParticipantResponse> observer) {
    ParticipantRow removed = inTransaction(tx -> {
      SessionRow s = tx.lock(req.getSessionId());
      SessionTransaction.requireOpen(s);
      ParticipantRow p = tx.participant(s, req.getUserId());
      if (p.present()) {
        p = tx.leaveSession(s, p).participant();
      }
      tx.dao().deleteParticipant(p.id());
      tx.event(s, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_REMOVED, Map.of("user_id", p.userId()));
      return p;
    });
    reply(observer, RemoveParticipantResponse.newBuilder().setParticipant(SessionMapper.toProto(removed)).build());
  }

  @Override
  public void listParticipants(ListParticipantsRequest req, StreamObserver<ListParticipantsResponse> observer) {
    String tenantId = Principal.current().tenantId();
    int size = PageTokens.pageSize(req.getPageSize(), 50, 200);
    long afterId = 0;
    if (!req.getPageToken().isEmpty()) {
      afterId = parseLong(PageTokens.decode(req.getPageToken(), "participants", 1).get(0));
    }
    long after = afterId;
    List<ParticipantRow> rows = jdbi.withExtension(SessionDao.class, dao -> {
      dao.find(tenantId, req.getSessionId()).orElseThrow(() -> sessionNotFound(req.getSessionId()));
      return dao.listParticipants(req.getSessionId(), after, size + 1);
    });
    ListParticipantsResponse.Builder out = ListParticipantsResponse.newBuilder();
    rows.stream().limit(size).forEach(r -> out.addParticipants(SessionMapper.toProto(r)));
    if (rows.size() > size) {
      out.setNextPageToken(PageTokens.encode("participants", Long.toString(rows.get(size - 1).id())));
    }
    reply(observer, out.build());
  }

  private static long parseLong(String s) {
    try {
      return Long.parseLong(s);
    } catch (NumberFormatException e) {
      throw PageTokens.invalid();
    }
  }

  @Override
  public void joinSession(JoinSessionRequest req, StreamObserver<JoinSessionResponse> observer) {
    SessionTransaction.JoinResult r = inTransaction(tx -> {
      SessionRow s = tx.lock(req.getSessionId());
      return tx.join(s, tx.participant(s, req.getUserId()));
    });
    reply(observer, JoinSessionResponse.newBuilder().setSession(SessionMapper.toProto(r.session()))
        .setParticipant(SessionMapper.toProto(r.participant())).build());
  }

  @Override
  public void leaveSession(LeaveSessionRequest req, StreamObserver<LeaveSessionResponse> observer) {
    SessionTransaction.JoinResult r = inTransaction(tx -> {
      SessionRow s = tx.lock(req.getSessionId());
      return tx.leaveSession(s, tx.participant(s, req.getUserId()));
    });
    reply(observer, LeaveSessionResponse.newBuilder().setSession(SessionMapper.toProto(r.session()))
        .setParticipant(SessionMapper.toProto(r.participant())).build());
  }

  private Session move(String sessionId, String to, String reason) {
    SessionRow moved = inTransaction(tx -> tx.moveTo(tx.lock(sessionId), to, reason));
    return SessionMapper.toProto(moved);
  }

  @Override
  public void startSession(StartSessionRequest req, StreamObserver<StartSessionResponse> observer) {
    reply(observer, StartSessionResponse.newBuilder().setSession(move(req.getSessionId(), IN_PROGRESS, "")).build());
  }

  @Override
  public void endSession(EndSessionRequest req, StreamObserver<EndSessionResponse> observer) {
    reply(observer, EndSessionResponse.newBuilder().setSession(move(req.getSessionId(), COMPLETED, "")).build());
  }

  @Override
  public void cancelSession(CancelSessionRequest req, StreamObserver<CancelSessionResponse> observer) {
    reply(observer, CancelSessionResponse.newBuilder()
        .setSession(move(req.getSessionId(), CANCELLED, req.getReason())).build());
  }

  @Override
  public void markSessionFailed(MarkSessionFailedRequest req, StreamObserver<MarkSessionFailedResponse> observer) {
    reply(observer, MarkSessionFailedResponse.newBuilder()
        .setSession(move(req.getSessionId(), FAILED, req.getReason())).build());
  }

  @Override
  public void listSessionEvents(ListSessionEventsRequest req, StreamObserver<ListSessionEventsResponse> observer) {
    String tenantId = Principal.current().tenantId();
    int size = PageTokens.pageSize(req.getPageSize(), 100, 500);
    long after = req.getPageToken().isEmpty() ? req.getAfterSequence()
        : parseLong(PageTokens.decode(req.getPageToken(), "events", 1).get(0));
    List<EventRow> rows = jdbi.withHandle(h -> {
      h.attach(SessionDao.class).find(tenantId, req.getSessionId())
          .orElseThrow(() -> sessionNotFound(req.getSessionId()));
      return h.attach(EventDao.class).list(tenantId, req.getSessionId(), after, size + 1);
    });
    ListSessionEventsResponse.Builder out = ListSessionEventsResponse.newBuilder();
    rows.stream().limit(size).forEach(r -> out.addEvents(EventLog.toProto(r)));
    if (rows.size() > size) {
      out.setNextPageToken(PageTokens.encode("events", Long.toString(rows.get(size - 1).sequence())));
    }
    reply(observer, out.build());
  }

  @Override
  public void getSessionStats(GetSessionStatsRequest req, StreamObserver<GetSessionStatsResponse> observer) {
    String tenantId = Principal.current().tenantId();
    List<SessionDao.StatusTotals> totals = jdbi.withExtension(SessionDao.class, dao -> dao.totals(tenantId,
        emptyToNull(req.getHostUserId()), ProtoTime.instant(req.getStartTime()), ProtoTime.instant(req.getEndTime())));
    GetSessionStatsResponse.Builder out = GetSessionStatsResponse.newBuilder();
    long count = 0;
    long completed = 0;
    long noShow = 0;
    long completedMs = 0;
    for (SessionDao.StatusTotals t : totals) {
      count += t.sessions();
      out.addStatusCounts(StatusCount.newBuilder().setStatus(SessionMapper.status(t.status())).setCount(t.sessions()));
      if (t.status().equals(COMPLETED)) {
        completed = t.sessions();
        completedMs = t.durationMs();
      } else if (t.status().equals(NO_SHOW)) {
        noShow = t.sessions();
      }
    }
    out.setSessionCount(count)
        .setCompletedCount(completed)
        .setTotalDuration(ProtoTime.millis(completedMs))
        .setAverageDuration(ProtoTime.millis(completed == 0 ? 0 : completedMs / completed))
        .setNoShowRate(completed + noShow == 0 ? 0 : (double) noShow / (completed + noShow));
    reply(observer, out.build());
  }
}
