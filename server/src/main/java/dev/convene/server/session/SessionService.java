package dev.convene.server.session;

import static dev.convene.server.grpc.Unary.reply;

import dev.convene.server.platform.RequestFingerprint;
import org.postgresql.util.PSQLException;

import static dev.convene.server.session.SessionStatusMachine.CANCELLED;
import static dev.convene.server.session.SessionStatusMachine.COMPLETED;
import static dev.convene.server.session.SessionStatusMachine.FAILED;
import static dev.convene.server.session.SessionStatusMachine.IN_PROGRESS;
import static dev.convene.server.session.SessionStatusMachine.NO_SHOW;
import static dev.convene.server.session.SessionStatusMachine.SCHEDULED;

import dev.convene.server.auth.Principal;
import dev.convene.server.db.Json;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.EventLog;
import dev.convene.server.platform.EventRow;
import dev.convene.server.platform.IdGenerator;
import dev.convene.server.platform.IdKind;
import dev.convene.server.platform.PageTokens;
import dev.convene.server.platform.Pages;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.UnitOfWork;
import dev.convene.v1.*;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.jdbi.v3.core.statement.UnableToExecuteStatementException;

/** convene.v1.SessionService: sessions, their roster and presence, lifecycle, events and statistics. */
public final class SessionService extends SessionServiceGrpc.SessionServiceImplBase {
  static final int DEFAULT_MAX_PARTICIPANTS = 50;
  static final Duration DEFAULT_NO_SHOW_GRACE = Duration.ofMinutes(15);
  static final Duration DEFAULT_EMPTY_TIMEOUT = Duration.ofMinutes(5);
  static final Duration DEFAULT_JOIN_LEAD = Duration.ofMinutes(10);
  static final int MAX_ROSTER = 200;

  private final UnitOfWork uow;
  private final IdGenerator ids;
  private final EventLog events;
  private final PageTokens pageTokens;
  private final SessionStore store;
  private final org.jdbi.v3.core.Jdbi jdbi;

  SessionService(Platform platform, SessionStore store) {
    this.jdbi = platform.jdbi();
    this.uow = platform.uow();
    this.ids = platform.ids();
    this.events = platform.events();
    this.pageTokens = platform.pageTokens();
    this.store = store;
  }

  static ConveneException sessionNotFound(String id) {
    return ConveneException.notFound(ErrorReason.SESSION_NOT_FOUND, "session " + id + " not found");
  }

  /** Runs {@code work} for the caller in one transaction (see {@link UnitOfWork}). */
  private <T> T inTransaction(Function<SessionChanges, T> work) {
    return uow.write(tx -> work.apply(new SessionChanges(tx)));
  }


  @Override
  public void createSession(CreateSessionRequest req, StreamObserver<CreateSessionResponse> observer) {
    String tenantId = Principal.current().tenantId();
    byte[] fingerprint = req.getRequestId().isEmpty() ? null : RequestFingerprint.of(req.toBuilder().clearRequestId().build());
    SessionRow created = (fingerprint == null ? Optional.<SessionRow>empty() : earlier(tenantId, req, fingerprint))
        .orElseGet(() -> insert(req, fingerprint));
    reply(observer, CreateSessionResponse.newBuilder().setSession(SessionMapper.toProto(created)).build());
  }

  /**
   * The session an earlier create with this request's request_id made; INVALID_ARGUMENT
   * (REQUEST_ID_REUSED) when that create asked for something else.
   */
  private Optional<SessionRow> earlier(String tenantId, CreateSessionRequest req, byte[] fingerprint) {
    return store.findByRequestId(tenantId, req.getRequestId()).map(c -> {
      if (!RequestFingerprint.matches(c.fingerprint(), fingerprint)) {
        throw ConveneException.invalidArgument(ErrorReason.REQUEST_ID_REUSED, "request_id",
            "this request_id was used for a different request; use a new request_id for a new request");
      }
      return c.session();
    });
  }

  private SessionRow insert(CreateSessionRequest req, byte[] fingerprint) {
    try {
      return inTransaction(changes -> {
        Optional<SessionRow> stored = create(changes, ids, req, fingerprint);
        // Empty: a concurrent create with the same request_id won the insert; return its session.
        return stored.orElseGet(() -> earlier(changes.tx().tenantId(), req, fingerprint).orElseThrow());
      });
    } catch (UnableToExecuteStatementException e) {
      if (isUniqueViolation(e, "sessions_external_ref")) {
        // A concurrent retry of this very create may have inserted first: PostgreSQL can report
        // the external_ref index before the request_id one it was told to skip on. Then this is
        // that create's answer, not a conflict.
        Optional<SessionRow> twin = fingerprint == null ? Optional.empty()
            : earlier(Principal.current().tenantId(), req, fingerprint);
        return twin.orElseThrow(() -> ConveneException.alreadyExists(ErrorReason.EXTERNAL_REF_ALREADY_EXISTS,
            "the tenant already has a session with this external_ref"));
      }
      throw e;
    }
  }

  /**
   * Inserts the session {@code req} asks for, with its roster, events and no-show job, in the
   * transaction of {@code changes}; empty when another create took its request id (not when
   * {@code fingerprint} is null: then it has none). ALREADY_EXISTS for a taken external_ref surfaces
   * as the insert's unique violation.
   */
  static Optional<SessionRow> create(SessionChanges changes, IdGenerator ids, CreateSessionRequest req,
      byte[] fingerprint) {
    var tx = changes.tx();
    Instant now = tx.now();
    SessionSettings in = req.getSettings();
    long grace = (in.hasNoShowGrace() ? ProtoTime.javaDuration(in.getNoShowGrace()) : DEFAULT_NO_SHOW_GRACE).toMillis();
    Instant start = ProtoTime.instant(req.getScheduledStartTime());
    SessionRow row = new SessionRow(ids.next(IdKind.SESSION), tx.tenantId(), req.getExternalRef(),
        req.getRequestId().isEmpty() ? null : req.getRequestId(), req.getTitle(), SessionMapper.name(req.getMedia()),
        SCHEDULED, start, ProtoTime.instant(req.getScheduledEndTime()),
        in.getMaxParticipants() == 0 ? DEFAULT_MAX_PARTICIPANTS : in.getMaxParticipants(), in.getLobbyEnabled(),
        grace,
        (in.hasEmptyTimeout() ? ProtoTime.javaDuration(in.getEmptyTimeout()) : DEFAULT_EMPTY_TIMEOUT).toMillis(),
        Json.ofStringMap(req.getMetadataMap()), "", new String[0], now, now, null, null, null,
        start.plusMillis(grace), 0,
        (in.hasJoinLead() ? ProtoTime.javaDuration(in.getJoinLead()) : DEFAULT_JOIN_LEAD).toMillis(),
        req.getProvider() == ProviderKind.PROVIDER_KIND_UNSPECIFIED ? SessionRow.Room.NONE
            : new SessionRow.Room(req.getProvider().name(), null, null, null),
        in.getDuplicateIdentity() == DuplicateIdentityPolicy.DUPLICATE_IDENTITY_POLICY_UNSPECIFIED
            ? "REPLACE_EXISTING" : in.getDuplicateIdentity().name().substring("DUPLICATE_IDENTITY_POLICY_".length()),
        SessionRow.Recording.OFF);
    // The contract guarantees the roster repeats no user, so it goes in with the session.
    Optional<SessionRow> stored = SessionStore.insertSession(tx.handle(), row, fingerprint, req.getParticipantsList());
    if (stored.isEmpty()) {
      return stored;
    }
    changes.event(row, SessionEventType.SESSION_EVENT_TYPE_SESSION_CREATED,
        Map.of("external_ref", row.externalRef(), "status", SCHEDULED));
    for (ParticipantSpec p : req.getParticipantsList()) {
      changes.participantAdded(row, p.getUserId(), SessionMapper.name(p.getRole()));
    }
    tx.schedule(SessionChanges.NO_SHOW_JOB, row.id(), row.noShowDeadline());
    return stored;
  }

  /** True when {@code e} is a unique violation of {@code constraint}, by the name PostgreSQL reports. */
  private static boolean isUniqueViolation(Exception e, String constraint) {
    return e.getCause() instanceof PSQLException sql && "23505".equals(sql.getSQLState())
        && sql.getServerErrorMessage() != null && constraint.equals(sql.getServerErrorMessage().getConstraint());
  }

  /**
   * Adds one participant to the locked, open session's roster: RESOURCE_EXHAUSTED (ROSTER_FULL) or
   * ALREADY_EXISTS (PARTICIPANT_ALREADY_EXISTS) when it cannot.
   */
  static ParticipantRow addOne(SessionChanges changes, SessionRow s, ParticipantSpec spec) {
    if (SessionStore.rosterSize(changes.tx().handle(), s.tenantId(), s.id()) >= MAX_ROSTER) {
      throw ConveneException.resourceExhausted(ErrorReason.ROSTER_FULL,
          "session " + s.id() + " already has " + MAX_ROSTER + " roster entries");
    }
    return addToRoster(changes, s, List.of(spec)).get(0);
  }

  /** Adds {@code specs} to the roster in one statement; ALREADY_EXISTS if one is on it already. */
  private static List<ParticipantRow> addToRoster(SessionChanges changes, SessionRow s, List<ParticipantSpec> specs) {
    List<ParticipantRow> added = SessionStore.insertParticipants(changes.tx().handle(), s.tenantId(), s.id(), specs,
        changes.tx().now());
    if (added.size() < specs.size()) {
      throw ConveneException.alreadyExists(ErrorReason.PARTICIPANT_ALREADY_EXISTS,
          "a user is already on the roster of session " + s.id());
    }
    for (ParticipantRow row : added) {
      changes.participantAdded(s, row.userId(), row.role());
    }
    return added;
  }

  @Override
  public void getSession(GetSessionRequest req, StreamObserver<GetSessionResponse> observer) {
    Principal caller = Principal.current();
    String tenantId = caller.tenantId();
    if (!caller.isTenant()) {
      jdbi.useHandle(h -> Rosters.requireVisible(h, caller, req.getSessionId()));
    }
    SessionRow row = store.find(tenantId, req.getSessionId()).orElseThrow(() -> sessionNotFound(req.getSessionId()));
    reply(observer, GetSessionResponse.newBuilder().setSession(SessionMapper.toProto(row)).build());
  }

  @Override
  public void listSessions(ListSessionsRequest req, StreamObserver<ListSessionsResponse> observer) {
    String tenantId = Principal.current().tenantId();
    int size = PageTokens.pageSize(req.getPageSize(), 50, 200);
    Instant afterTime = null;
    String afterId = null;
    if (!req.getPageToken().isEmpty()) {
      List<String> keys = pageTokens.decode(req.getPageToken(), tenantId, "sessions", req, 2);
      afterTime = PageTokens.instantKey(keys.get(0));
      afterId = keys.get(1);
    }
    Instant from = req.hasScheduledStartFrom() ? ProtoTime.instant(req.getScheduledStartFrom()) : null;
    Instant before = req.hasScheduledStartBefore() ? ProtoTime.instant(req.getScheduledStartBefore()) : null;
    String status = req.getStatus() == SessionStatus.SESSION_STATUS_UNSPECIFIED ? null : SessionMapper.name(req.getStatus());
    String userFilter = emptyToNull(req.getUserId());
    if (!Principal.current().isTenant()) {
      // An end user lists only sessions on whose roster it is.
      if (userFilter != null) {
        Rosters.requireSelf(Principal.current(), userFilter);
      }
      userFilter = Principal.current().userId();
    }
    List<SessionRow> rows = store.list(tenantId, status, emptyToNull(req.getExternalRef()),
        userFilter, from, before, afterTime, afterId, size + 1);
    List<Session> sessions = rows.stream().map(SessionMapper::toProto).toList();
    int n = Pages.fit(sessions, size);
    ListSessionsResponse.Builder out = ListSessionsResponse.newBuilder().addAllSessions(sessions.subList(0, n));
    if (rows.size() > n) {
      SessionRow last = rows.get(n - 1);
      out.setNextPageToken(pageTokens.encode(tenantId, "sessions", req, last.scheduledStartTime().toString(),
          last.id()));
    }
    reply(observer, out.build());
  }


  private static String emptyToNull(String s) {
    return s.isEmpty() ? null : s;
  }

  @Override
  public void addParticipant(AddParticipantRequest req, StreamObserver<AddParticipantResponse> observer) {
    ParticipantRow row = inTransaction(changes -> {
      SessionRow s = changes.lock(req.getSessionId());
      SessionChanges.requireOpen(s);
      return addOne(changes, s, req.getParticipant());
    });
    reply(observer, AddParticipantResponse.newBuilder().setParticipant(SessionMapper.toProto(row)).build());
  }

  @Override
  public void removeParticipant(RemoveParticipantRequest req, StreamObserver<RemoveParticipantResponse> observer) {
    ParticipantRow removed = inTransaction(changes -> {
      SessionRow s = changes.lock(req.getSessionId());
      SessionChanges.requireOpen(s);
      ParticipantRow p = changes.participant(s, req.getUserId());
      if (p.present()) {
        p = changes.leaveSession(s, p).participant();
      }
      SessionStore.deleteParticipant(changes.tx().handle(), s.tenantId(), p);
      changes.event(s, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_REMOVED, Map.of("user_id", p.userId()));
      return p;
    });
    reply(observer, RemoveParticipantResponse.newBuilder().setParticipant(SessionMapper.toProto(removed)).build());
  }

  @Override
  public void listParticipants(ListParticipantsRequest req, StreamObserver<ListParticipantsResponse> observer) {
    String tenantId = Principal.current().tenantId();
    if (!Principal.current().isTenant()) {
      jdbi.useHandle(h -> Rosters.requireVisible(h, Principal.current(), req.getSessionId()));
    }
    int size = PageTokens.pageSize(req.getPageSize(), 50, 200);
    long after = req.getPageToken().isEmpty() ? 0
        : PageTokens.longKey(pageTokens.decode(req.getPageToken(), tenantId, "participants", req, 1).get(0));
    List<ParticipantRow> rows = store.listParticipants(tenantId, req.getSessionId(), after, size + 1);
    if (rows.isEmpty() && !store.exists(tenantId, req.getSessionId())) {
      throw sessionNotFound(req.getSessionId());
    }
    List<Participant> participants = rows.stream().map(SessionMapper::toProto).toList();
    int n = Pages.fit(participants, size);
    ListParticipantsResponse.Builder out = ListParticipantsResponse.newBuilder()
        .addAllParticipants(participants.subList(0, n));
    if (rows.size() > n) {
      out.setNextPageToken(pageTokens.encode(tenantId, "participants", req, Long.toString(rows.get(n - 1).id())));
    }
    reply(observer, out.build());
  }


  @Override
  public void joinSession(JoinSessionRequest req, StreamObserver<JoinSessionResponse> observer) {
    Rosters.requireSelf(Principal.current(), req.getUserId());
    SessionChanges.JoinResult r = inTransaction(changes -> {
      Rosters.requireVisible(changes.tx().handle(), Principal.current(), req.getSessionId());
      SessionRow s = changes.lock(req.getSessionId());
      return changes.join(s, changes.participant(s, req.getUserId()));
    });
    reply(observer, JoinSessionResponse.newBuilder().setSession(SessionMapper.toProto(r.session()))
        .setParticipant(SessionMapper.toProto(r.participant())).build());
  }

  @Override
  public void leaveSession(LeaveSessionRequest req, StreamObserver<LeaveSessionResponse> observer) {
    Rosters.requireSelf(Principal.current(), req.getUserId());
    SessionChanges.JoinResult r = inTransaction(changes -> {
      Rosters.requireVisible(changes.tx().handle(), Principal.current(), req.getSessionId());
      SessionRow s = changes.lock(req.getSessionId());
      return changes.leaveSession(s, changes.participant(s, req.getUserId()));
    });
    reply(observer, LeaveSessionResponse.newBuilder().setSession(SessionMapper.toProto(r.session()))
        .setParticipant(SessionMapper.toProto(r.participant())).build());
  }

  private Session move(String sessionId, String to, String reason) {
    SessionRow moved = inTransaction(changes -> changes.moveTo(changes.lock(sessionId), to, reason));
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
        : PageTokens.longKey(pageTokens.decode(req.getPageToken(), tenantId, "events", req, 1).get(0));
    List<EventRow> rows = events.ofAggregate(tenantId, SessionChanges.AGGREGATE, req.getSessionId(), after, size + 1);
    // Every session has its SESSION_CREATED event: no events and no session is NOT_FOUND.
    if (rows.isEmpty() && !store.exists(tenantId, req.getSessionId())) {
      throw sessionNotFound(req.getSessionId());
    }
    List<SessionEvent> protos = rows.stream().map(SessionMapper::toProto).toList();
    int n = Pages.fit(protos, size);
    ListSessionEventsResponse.Builder out = ListSessionEventsResponse.newBuilder().addAllEvents(protos.subList(0, n));
    if (rows.size() > n) {
      out.setNextPageToken(pageTokens.encode(tenantId, "events", req, Long.toString(rows.get(n - 1).aggregateSeq())));
    }
    reply(observer, out.build());
  }

  @Override
  public void getSessionStats(GetSessionStatsRequest req, StreamObserver<GetSessionStatsResponse> observer) {
    String tenantId = Principal.current().tenantId();
    List<SessionStore.StatusTotals> totals = store.totals(tenantId, emptyToNull(req.getHostUserId()),
        ProtoTime.instant(req.getStartTime()), ProtoTime.instant(req.getEndTime()));
    GetSessionStatsResponse.Builder out = GetSessionStatsResponse.newBuilder();
    long count = 0;
    long completed = 0;
    long noShow = 0;
    long completedMs = 0;
    for (SessionStore.StatusTotals t : totals) {
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
