package dev.convene.server.event;

import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.EventLog;
import dev.convene.server.platform.EventRow;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionRow;
import dev.convene.v1.EventServiceGrpc;
import dev.convene.v1.Heartbeat;
import dev.convene.v1.LoggedEvent;
import dev.convene.v1.WatchEventsRequest;
import dev.convene.v1.WatchEventsResponse;
import dev.convene.v1.WatchSessionRequest;
import dev.convene.v1.WatchSessionResponse;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.jdbi.v3.core.Jdbi;

/** EventService: a session's events, or the tenant's whole log, replayed and then followed live. */
final class EventService extends EventServiceGrpc.EventServiceImplBase {
  private final Jdbi jdbi;
  private final EventLog log;
  private final EventHub hub;

  EventService(Jdbi jdbi, EventLog log, EventHub hub) {
    this.jdbi = jdbi;
    this.log = log;
    this.hub = hub;
  }

  @Override
  public void watchSession(WatchSessionRequest req, StreamObserver<WatchSessionResponse> observer) {
    Principal caller = Principal.current();
    String sessionId = req.getSessionId();
    SessionRow session = jdbi.withHandle(h -> {
      Rosters.requireVisible(h, caller, sessionId);
      return Rosters.read(h, caller.tenantId(), sessionId);
    }).orElseThrow(() -> Rosters.notFound(sessionId));
    SessionWatcher w = new SessionWatcher(caller, sessionId, cast(observer), req.getAfterSequence());
    if (Rosters.terminal(session)) {
      w.endAtEnd();
    }
    hub.open(w);
  }

  @Override
  public void watchEvents(WatchEventsRequest req, StreamObserver<WatchEventsResponse> observer) {
    long after = req.getStartAtEnd() ? log.readableHead() : req.getAfterPosition();
    hub.open(new LogWatcher(Principal.current(), cast(observer), after, Set.copyOf(req.getAggregateTypesList()),
        Set.copyOf(req.getTypesList()), Set.copyOf(req.getAggregateIdsList())));
  }

  @SuppressWarnings("unchecked")
  private static <R> ServerCallStreamObserver<R> cast(StreamObserver<R> observer) {
    return (ServerCallStreamObserver<R>) observer;
  }

  /** WatchSession's stream: one session's events by sequence, ending after the session ends. */
  private final class SessionWatcher extends Watcher<WatchSessionResponse> {
    private final String sessionId;

    SessionWatcher(Principal caller, String sessionId, ServerCallStreamObserver<WatchSessionResponse> out,
        long afterSequence) {
      super(caller, out, hub, "convene.v1.EventService/WatchSession", afterSequence);
      this.sessionId = sessionId;
    }

    @Override
    boolean wants(EventRow e) {
      return e.aggregateId().equals(sessionId) && e.aggregateType().equals(Rosters.AGGREGATE);
    }

    @Override
    long key(EventRow e) {
      return e.aggregateSeq();
    }

    @Override
    boolean matches(EventRow e) {
      return true;
    }

    @Override
    List<EventRow> read(long after, int limit) {
      return log.ofAggregate(tenantId, Rosters.AGGREGATE, sessionId, after, limit);
    }

    @Override
    boolean leavesHole(EventRow e) {
      // One session's events commit in sequence order (under its row lock), but their positions,
      // from transaction ids, may not be in that order: the log has what the feed has not yet.
      return e.aggregateSeq() != cursor + 1;
    }

    @Override
    boolean ends(EventRow e) {
      return Rosters.ends(e);
    }

    @Override
    ConveneException lostAccess(EventRow e) {
      // A user or guest taken off the roster sees that last event, then the session as a stranger
      // does; replaying an old removal of someone added back since does not end the stream.
      if (caller.isTenant() || !e.type().equals("PARTICIPANT_REMOVED")) {
        return null;
      }
      com.google.protobuf.Value user = EventLog.payload(e).getFieldsMap().get("user_id");
      if (user == null || !user.getStringValue().equals(caller.userId())) {
        return null;
      }
      try {
        jdbi.useHandle(h -> Rosters.requireVisible(h, caller, sessionId));
        return null;
      } catch (ConveneException notVisible) {
        return notVisible;
      }
    }

    @Override
    WatchSessionResponse event(EventRow e) {
      return WatchSessionResponse.newBuilder().setEvent(Rosters.toProto(e)).build();
    }

    @Override
    WatchSessionResponse heartbeat(Instant now, long cursor) {
      return WatchSessionResponse.newBuilder().setHeartbeat(heartbeatOf(now, cursor)).build();
    }
  }

  /** WatchEvents' stream: the tenant's log by position, filtered. */
  private final class LogWatcher extends Watcher<WatchEventsResponse> {
    private final Set<String> aggregateTypes;
    private final Set<String> types;
    private final Set<String> aggregateIds;

    LogWatcher(Principal caller, ServerCallStreamObserver<WatchEventsResponse> out, long afterPosition,
        Set<String> aggregateTypes, Set<String> types, Set<String> aggregateIds) {
      super(caller, out, hub, "convene.v1.EventService/WatchEvents", afterPosition);
      this.aggregateTypes = aggregateTypes;
      this.types = types;
      this.aggregateIds = aggregateIds;
    }

    @Override
    boolean wants(EventRow e) {
      return true; // passed-over events still move the cursor that heartbeats report
    }

    @Override
    long key(EventRow e) {
      return e.position();
    }

    @Override
    boolean matches(EventRow e) {
      return (aggregateTypes.isEmpty() || aggregateTypes.contains(e.aggregateType()))
          && (types.isEmpty() || types.contains(e.type()))
          && (aggregateIds.isEmpty() || aggregateIds.contains(e.aggregateId()));
    }

    @Override
    List<EventRow> read(long after, int limit) {
      return log.follow(tenantId, after, limit);
    }

    @Override
    boolean leavesHole(EventRow e) {
      return false; // the feed reads the log in position order and never skips
    }

    @Override
    boolean ends(EventRow e) {
      return false;
    }

    @Override
    WatchEventsResponse event(EventRow e) {
      return WatchEventsResponse.newBuilder().setEvent(LoggedEvent.newBuilder()
          .setPosition(e.position()).setAggregateType(e.aggregateType()).setAggregateId(e.aggregateId())
          .setAggregateSequence(e.aggregateSeq()).setType(e.type()).setActor(e.actor())
          .setEventTime(ProtoTime.timestamp(e.eventTime())).setPayload(EventLog.payload(e))).build();
    }

    @Override
    WatchEventsResponse heartbeat(Instant now, long cursor) {
      return WatchEventsResponse.newBuilder().setHeartbeat(heartbeatOf(now, cursor)).build();
    }
  }

  private static Heartbeat heartbeatOf(Instant now, long cursor) {
    return Heartbeat.newBuilder().setHeartbeatTime(ProtoTime.timestamp(now)).setPosition(cursor).build();
  }
}
