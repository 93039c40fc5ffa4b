package dev.convene.server.invitation;

import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.Phones;
import dev.convene.server.platform.IdKind;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.Tx;
import dev.convene.v1.AccessCode;
import dev.convene.v1.CreateInvitationRequest;
import dev.convene.v1.GroupRole;
import dev.convene.v1.Invitation;
import dev.convene.v1.InvitationChannel;
import dev.convene.v1.InvitationDelivery;
import dev.convene.v1.InvitationStatus;
import dev.convene.v1.ParticipantRole;
import java.nio.charset.StandardCharsets;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.statement.Query;

/** The invitations table: its rows, and how they read in the contract. */
final class Invitations {
  /**
   * A stored invitation (the sealed number and code stay in the table): into a session, or (with
   * {@code groupId} and {@code groupRole}) into a group.
   */
  record Row(String tenantId, String id, String sessionId, String userId, String guestRole, String guestDisplayName,
      String channel, String phoneMasked, String accessCodeId, String delivery, String deliveryErrorCode,
      String status, byte[] fingerprint, Instant createTime, Instant answerTime, String groupId, String groupRole) {
    Row with(String delivery, String deliveryErrorCode, String status, Instant answerTime) {
      return new Row(tenantId, id, sessionId, userId, guestRole, guestDisplayName, channel, phoneMasked, accessCodeId,
          delivery, deliveryErrorCode, status, fingerprint, createTime, answerTime, groupId, groupRole);
    }

    /** The session or group it invites into. */
    String targetId() {
      return sessionId != null ? sessionId : groupId;
    }
  }

  private static final String COLUMNS = """
      tenant_id, id, session_id, user_id, guest_role, guest_display_name, channel, phone_masked, access_code_id,
      delivery, delivery_error_code, status, request_fingerprint, create_time, answer_time, group_id, group_role""";

  /** {@link #COLUMNS} of the invitation joined with its access code as {@code i}. */
  private static final String JOINED_COLUMNS = """
      i.tenant_id, i.id, i.session_id, i.user_id, i.guest_role, i.guest_display_name, i.channel, i.phone_masked,
      i.access_code_id, i.delivery, i.delivery_error_code, i.status, i.request_fingerprint, i.create_time,
      i.answer_time, i.group_id, i.group_role""";

  private final Platform platform;

  Invitations(Platform platform) {
    this.platform = platform;
  }

  /** Inserts the invitation for {@code req}; null when another create took its request id meanwhile. */
  Row insert(Tx tx, CreateInvitationRequest req, String phone, Map.Entry<AccessCode, String> code, byte[] fingerprint) {
    String id = platform.ids().next(IdKind.INVITATION);
    boolean sms = req.getChannel() == InvitationChannel.INVITATION_CHANNEL_SMS;
    String role = req.getGuestRole() == ParticipantRole.PARTICIPANT_ROLE_UNSPECIFIED ? null
        : req.getGuestRole().name().substring("PARTICIPANT_ROLE_".length());
    boolean group = !req.getGroupId().isEmpty();
    String groupRole = !group ? null : req.getGroupRole() == GroupRole.GROUP_ROLE_OWNER ? "OWNER" : "MEMBER";
    String context = tx.tenantId() + "/" + id;
    Row row = new Row(tx.tenantId(), id, group ? null : req.getSessionId(), req.getUserId(), role,
        req.getGuestDisplayName().isEmpty() ? null : req.getGuestDisplayName(), sms ? "SMS" : "LINK",
        sms ? Phones.mask(phone) : null, code.getKey().getId(), sms ? "QUEUED" : "NOT_APPLICABLE", null, "PENDING",
        fingerprint, tx.now(), null, group ? req.getGroupId() : null, groupRole);
    int inserted = tx.handle().createUpdate("""
            INSERT INTO invitations (tenant_id, id, session_id, group_id, group_role, user_id, guest_role,
                                     guest_display_name, channel, phone_sealed, phone_masked, code_sealed,
                                     access_code_id, delivery, status, request_id, request_fingerprint, create_time)
            VALUES (:tenantId, :id, :sessionId, :groupId, :groupRole, :userId, :role, :name, :channel, :phone, :masked,
                    :code, :codeId, :delivery, 'PENDING', :requestId, :fingerprint, :now)
            ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
            """)
        .bind("tenantId", row.tenantId()).bind("id", id).bind("sessionId", row.sessionId())
        .bind("groupId", row.groupId()).bind("groupRole", groupRole).bind("userId", row.userId())
        .bind("role", role).bind("name", row.guestDisplayName()).bind("channel", row.channel())
        .bind("phone", sms ? platform.secrets().seal(phone.getBytes(StandardCharsets.UTF_8), context + "/phone") : null)
        .bind("masked", row.phoneMasked())
        .bind("code", sms ? platform.secrets().seal(code.getValue().getBytes(StandardCharsets.UTF_8), context + "/code")
            : null)
        .bind("codeId", row.accessCodeId()).bind("delivery", row.delivery())
        .bind("requestId", req.getRequestId().isEmpty() ? null : req.getRequestId()).bind("fingerprint", fingerprint)
        .bind("now", row.createTime()).execute();
    return inserted == 0 ? null : row;
  }

  Optional<Row> get(Handle h, String tenantId, String id) {
    return h.createQuery("SELECT " + COLUMNS + " FROM invitations WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tenantId).bind("id", id).map((rs, ctx) -> row(rs)).findOne();
  }

  /** The session and group ids (one of them null) of the tenant's invitation {@code id}: what a change locks first. */
  static Optional<String[]> targetOf(Handle h, String tenantId, String id) {
    return h.createQuery("SELECT session_id, group_id FROM invitations WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tenantId).bind("id", id).map((rs, ctx) -> new String[] {rs.getString(1), rs.getString(2)})
        .findOne();
  }

  /** The invitation, locked (its session is locked first by every change). */
  Row lock(Tx tx, String id) {
    return tx.handle().createQuery("SELECT " + COLUMNS + " FROM invitations WHERE tenant_id = :tenantId AND id = :id FOR UPDATE")
        .bind("tenantId", tx.tenantId()).bind("id", id).map((rs, ctx) -> row(rs)).one();
  }

  Optional<Row> byRequestId(Handle h, String tenantId, String requestId) {
    return h.createQuery("SELECT " + COLUMNS + " FROM invitations WHERE tenant_id = :tenantId AND request_id = :requestId")
        .bind("tenantId", tenantId).bind("requestId", requestId).map((rs, ctx) -> row(rs)).findOne();
  }

  /** The invitation whose link carries access code {@code codeId}. */
  Optional<Row> byCode(Handle h, String tenantId, String codeId) {
    return h.createQuery("SELECT " + COLUMNS + " FROM invitations WHERE tenant_id = :tenantId AND access_code_id = :codeId")
        .bind("tenantId", tenantId).bind("codeId", codeId).map((rs, ctx) -> row(rs)).findOne();
  }

  boolean sessionExists(Handle h, String tenantId, String sessionId) {
    return h.createQuery("SELECT count(*) FROM sessions WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tenantId).bind("id", sessionId).mapTo(Long.class).one() > 0;
  }

  /**
   * A page of the session's (or, with {@code groupId}, the group's) invitations, newest first, after
   * ({@code afterTime}, {@code afterId}); with {@code status} (EXPIRED: pending ones whose code
   * expired; PENDING: the others).
   */
  List<Row> list(Handle h, String tenantId, String sessionId, String groupId, InvitationStatus status, Instant now,
      Instant afterTime, String afterId, int limit) {
    String filter = switch (status) {
      case INVITATION_STATUS_UNSPECIFIED, UNRECOGNIZED -> "";
      case INVITATION_STATUS_EXPIRED -> " AND i.status = 'PENDING' AND a.expire_time <= :now";
      case INVITATION_STATUS_PENDING -> " AND i.status = 'PENDING' AND a.expire_time > :now";
      default -> " AND i.status = :status";
    };
    Query q = h.createQuery("SELECT " + JOINED_COLUMNS
            + " FROM invitations i JOIN access_codes a ON a.tenant_id = i.tenant_id AND a.id = i.access_code_id"
            + " WHERE i.tenant_id = :tenantId AND " + (groupId != null ? "i.group_id = :scopeId" : "i.session_id = :scopeId")
            + filter
            + (afterTime == null ? "" : " AND (i.create_time, i.id) < (:afterTime, :afterId)")
            + " ORDER BY i.create_time DESC, i.id DESC LIMIT :limit")
        .bind("tenantId", tenantId).bind("scopeId", groupId != null ? groupId : sessionId).bind("now", now)
        .bind("limit", limit)
        .bind("status", status.name().substring("INVITATION_STATUS_".length()));
    if (afterTime != null) {
      q.bind("afterTime", afterTime).bind("afterId", afterId);
    }
    return q.map((rs, ctx) -> row(rs)).list();
  }

  /**
   * A page of the pending, unexpired group invitations of {@code userId}, newest first, after
   * ({@code afterTime}, {@code afterId}): the groups it is invited to.
   */
  List<Row> pendingGroupInvitations(Handle h, String tenantId, String userId, Instant now, Instant afterTime,
      String afterId, int limit) {
    Query q = h.createQuery("SELECT " + JOINED_COLUMNS
            + " FROM invitations i JOIN access_codes a ON a.tenant_id = i.tenant_id AND a.id = i.access_code_id"
            + " WHERE i.tenant_id = :tenantId AND i.user_id = :userId AND i.group_id IS NOT NULL"
            + " AND i.status = 'PENDING' AND a.expire_time > :now"
            + (afterTime == null ? "" : " AND (i.create_time, i.id) < (:afterTime, :afterId)")
            + " ORDER BY i.create_time DESC, i.id DESC LIMIT :limit")
        .bind("tenantId", tenantId).bind("userId", userId).bind("now", now).bind("limit", limit);
    if (afterTime != null) {
      q.bind("afterTime", afterTime).bind("afterId", afterId);
    }
    return q.map((rs, ctx) -> row(rs)).list();
  }

  /** How often the invitation was sent again, and when last. */
  record Resends(int count, Instant last) {}

  Resends resends(Tx tx, String id) {
    return tx.handle().createQuery(
            "SELECT resend_count, last_resend_time FROM invitations WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tx.tenantId()).bind("id", id).map((rs, ctx) -> {
          OffsetDateTime last = rs.getObject(2, OffsetDateTime.class);
          return new Resends(rs.getInt(1), last == null ? null : last.toInstant());
        }).one();
  }

  /**
   * Queues the locked SMS invitation's message again: delivery QUEUED, a fresh send record (so the
   * outbox looks for this send only, not the earlier message), one more resend counted.
   */
  Row requeue(Tx tx, Row r) {
    tx.handle().createUpdate("""
            UPDATE invitations SET delivery = 'QUEUED', delivery_error_code = NULL, message_sid = NULL,
                   send_started_time = NULL, send_attempts = 0, resend_count = resend_count + 1, last_resend_time = :now
            WHERE tenant_id = :tenantId AND id = :id
            """).bind("now", tx.now()).bind("tenantId", tx.tenantId()).bind("id", r.id()).execute();
    return r.with("QUEUED", null, r.status(), r.answerTime());
  }

  /** Records the answer (ACCEPTED, DECLINED, REVOKED) of the locked invitation. */
  Row answer(Tx tx, Row r, String status) {
    tx.handle().createUpdate("UPDATE invitations SET status = :status, answer_time = :now WHERE tenant_id = :tenantId AND id = :id")
        .bind("status", status).bind("now", tx.now()).bind("tenantId", tx.tenantId()).bind("id", r.id()).execute();
    return r.with(r.delivery(), r.deliveryErrorCode(), status, tx.now());
  }

  /** The invitation as the contract shows it at {@code now} (a pending one whose code expired reads EXPIRED). */
  static Invitation toProto(Row r, AccessCode code, Instant now) {
    String status = r.status().equals("PENDING") && !now.isBefore(ProtoTime.instant(code.getExpireTime()))
        ? "EXPIRED" : r.status();
    Invitation.Builder b = Invitation.newBuilder().setId(r.id()).setUserId(r.userId())
        .setChannel(InvitationChannel.valueOf("INVITATION_CHANNEL_" + r.channel()))
        .setDelivery(InvitationDelivery.valueOf("INVITATION_DELIVERY_"
            + (r.delivery().equals("SENDING") ? "QUEUED" : r.delivery())))
        .setStatus(InvitationStatus.valueOf("INVITATION_STATUS_" + status)).setAccessCode(code)
        .setCreateTime(ProtoTime.timestamp(r.createTime()));
    if (r.sessionId() != null) {
      b.setSessionId(r.sessionId());
    } else {
      b.setGroupId(r.groupId()).setGroupRole(GroupRole.valueOf("GROUP_ROLE_" + r.groupRole()));
    }
    if (r.guestRole() != null) {
      b.setGuestRole(ParticipantRole.valueOf("PARTICIPANT_ROLE_" + r.guestRole()));
    }
    if (r.phoneMasked() != null) {
      b.setPhoneMasked(r.phoneMasked());
    }
    if (r.deliveryErrorCode() != null) {
      b.setDeliveryErrorCode(r.deliveryErrorCode());
    }
    if (r.answerTime() != null) {
      b.setAnswerTime(ProtoTime.timestamp(r.answerTime()));
    }
    return b.build();
  }

  private static Row row(ResultSet rs) throws SQLException {
    OffsetDateTime answered = rs.getObject(15, OffsetDateTime.class);
    return new Row(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5),
        rs.getString(6), rs.getString(7), rs.getString(8), rs.getString(9), rs.getString(10), rs.getString(11),
        rs.getString(12), rs.getBytes(13), rs.getObject(14, OffsetDateTime.class).toInstant(),
        answered == null ? null : answered.toInstant(), rs.getString(16), rs.getString(17));
  }
}
