package dev.convene.server.event;

import java.time.Instant;
import java.util.List;
import org.jdbi.v3.sqlobject.config.RegisterConstructorMapper;
import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/** The append-only session event log. */
@RegisterConstructorMapper(EventRow.class)
public interface EventDao {
  @SqlUpdate("""
      INSERT INTO session_events (tenant_id, session_id, type, event_time, actor, payload)
      VALUES (:tenantId, :sessionId, :type, :eventTime, :actor, CAST(:payload AS jsonb))
      """)
  void insert(@Bind("tenantId") String tenantId, @Bind("sessionId") String sessionId, @Bind("type") String type,
      @Bind("eventTime") Instant eventTime, @Bind("actor") String actor, @Bind("payload") String payload);

  /** Events of one session after a sequence, in order. */
  @SqlQuery("""
      SELECT sequence, session_id, type, event_time, actor, payload::text AS payload
      FROM session_events
      WHERE tenant_id = :tenantId AND session_id = :sessionId AND sequence > :afterSequence
      ORDER BY sequence
      LIMIT :limit
      """)
  List<EventRow> list(@Bind("tenantId") String tenantId, @Bind("sessionId") String sessionId,
      @Bind("afterSequence") long afterSequence, @Bind("limit") int limit);
}
