package dev.convene.server.event;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.convene.server.db.Json;
import dev.convene.v1.SessionEvent;
import dev.convene.v1.SessionEventType;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Handle;

/** Writes events in the caller's transaction and turns stored rows back into protos. */
public final class EventLog {
  private static final String TYPE_PREFIX = "SESSION_EVENT_TYPE_";

  private EventLog() {}

  /** Appends an event in the transaction of {@code handle}. */
  public static void append(Handle handle, String tenantId, String sessionId, SessionEventType type,
      Instant at, String actor, Map<String, ?> payload) {
    handle.attach(EventDao.class).insert(tenantId, sessionId, type.name().substring(TYPE_PREFIX.length()), at,
        actor, Json.print(toStruct(payload)));
  }

  public static SessionEvent toProto(EventRow row) {
    Struct.Builder payload = Struct.newBuilder();
    Json.merge(row.payload(), payload);
    return SessionEvent.newBuilder()
        .setSequence(row.sequence())
        .setSessionId(row.sessionId())
        .setType(SessionEventType.valueOf(TYPE_PREFIX + row.type()))
        .setEventTime(dev.convene.server.grpc.ProtoTime.timestamp(row.eventTime()))
        .setActor(row.actor())
        .setPayload(payload)
        .build();
  }

  static Struct toStruct(Map<String, ?> map) {
    Struct.Builder b = Struct.newBuilder();
    map.forEach((k, v) -> b.putFields(k, value(v)));
    return b.build();
  }

  private static Value value(Object v) {
    if (v instanceof Number n) {
      return Value.newBuilder().setNumberValue(n.doubleValue()).build();
    }
    if (v instanceof Boolean bool) {
      return Value.newBuilder().setBoolValue(bool).build();
    }
    if (v instanceof List<?> list) {
      com.google.protobuf.ListValue.Builder lb = com.google.protobuf.ListValue.newBuilder();
      list.forEach(item -> lb.addValues(value(item)));
      return Value.newBuilder().setListValue(lb).build();
    }
    return Value.newBuilder().setStringValue(String.valueOf(v)).build();
  }
}
