package dev.convene.server.session;

import dev.convene.server.db.Json;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.v1.AdmissionState;
import dev.convene.v1.DuplicateIdentityPolicy;
import dev.convene.v1.MediaType;
import dev.convene.v1.Participant;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ProviderKind;
import dev.convene.v1.RecordingConsent;
import dev.convene.v1.RecordingState;
import dev.convene.v1.RecordingStopReason;
import dev.convene.v1.Session;
import dev.convene.v1.SessionEvent;
import dev.convene.v1.SessionEventType;
import dev.convene.v1.SessionSettings;
import dev.convene.server.platform.EventLog;
import dev.convene.server.platform.EventRow;
import dev.convene.v1.SessionStatus;

/** Stored rows to protos, and proto enums to the short names stored in the database. */
final class SessionMapper {
  private SessionMapper() {}

  static String name(SessionStatus s) {
    return s.name().substring("SESSION_STATUS_".length());
  }

  static String name(ParticipantRole r) {
    return r.name().substring("PARTICIPANT_ROLE_".length());
  }

  static String name(MediaType m) {
    return m.name().substring("MEDIA_TYPE_".length());
  }

  static String name(SessionEventType t) {
    return t.name().substring("SESSION_EVENT_TYPE_".length());
  }

  static SessionStatus status(String name) {
    return SessionStatus.valueOf("SESSION_STATUS_" + name);
  }

  static ParticipantRole role(String name) {
    return ParticipantRole.valueOf("PARTICIPANT_ROLE_" + name);
  }

  static Session toProto(SessionRow r) {
    Session.Builder b = Session.newBuilder()
        .setId(r.id())
        .setExternalRef(r.externalRef())
        .setTitle(r.title())
        .setMedia(MediaType.valueOf("MEDIA_TYPE_" + r.media()))
        .setStatus(status(r.status()))
        .setScheduledStartTime(ProtoTime.timestamp(r.scheduledStartTime()))
        .setScheduledEndTime(ProtoTime.timestamp(r.scheduledEndTime()))
        .setSettings(SessionSettings.newBuilder()
            .setMaxParticipants(r.maxParticipants())
            .setLobbyEnabled(r.lobbyEnabled())
            .setNoShowGrace(ProtoTime.millis(r.noShowGraceMs()))
            .setEmptyTimeout(ProtoTime.millis(r.emptyTimeoutMs()))
            .setJoinLead(ProtoTime.millis(r.joinLeadMs()))
            .setDuplicateIdentity(DuplicateIdentityPolicy.valueOf("DUPLICATE_IDENTITY_POLICY_" + r.duplicateIdentity())))
        .putAllMetadata(Json.toStringMap(r.metadata()))
        .setCreateTime(ProtoTime.timestamp(r.createTime()))
        .setUpdateTime(ProtoTime.timestamp(r.updateTime()))
        .setStatusReason(r.statusReason())
        .setPresentCount(r.presentCount())
        .setRecording(toProto(r.recording()));
    if (r.room().provider() != null) {
      b.setProvider(ProviderKind.valueOf(r.room().provider()));
    }
    if (r.room().name() != null) {
      b.setProviderRoom(r.room().name());
    }
    if (r.startTime() != null) {
      b.setStartTime(ProtoTime.timestamp(r.startTime()));
    }
    if (r.endTime() != null) {
      b.setEndTime(ProtoTime.timestamp(r.endTime()));
    }
    if (r.startTime() != null && r.endTime() != null) {
      b.setDuration(ProtoTime.duration(java.time.Duration.between(r.startTime(), r.endTime())));
    }
    for (String role : r.missingRoles()) {
      b.addMissingRoles(role(role));
    }
    return b.build();
  }

  static Participant toProto(ParticipantRow p) {
    Participant.Builder b = Participant.newBuilder()
        .setSessionId(p.sessionId())
        .setUserId(p.userId())
        .setDisplayName(p.displayName())
        .setRole(role(p.role()))
        .setPresent(p.present())
        .setConnectedDuration(ProtoTime.millis(p.connectedMs()))
        .setJoinCount(p.joinCount())
        .setAddTime(ProtoTime.timestamp(p.addTime()))
        .setBanned(p.banned())
        .setAdmission(AdmissionState.valueOf("ADMISSION_STATE_" + p.admission()))
        .setRecordingConsent(RecordingConsent.valueOf("RECORDING_CONSENT_" + p.recordingConsent()));
    if (p.recordingConsentTime() != null) {
      b.setRecordingConsentTime(ProtoTime.timestamp(p.recordingConsentTime()));
    }
    if (p.lobbyEnterTime() != null) {
      b.setLobbyEnterTime(ProtoTime.timestamp(p.lobbyEnterTime()));
    }
    if (p.firstJoinTime() != null) {
      b.setFirstJoinTime(ProtoTime.timestamp(p.firstJoinTime()));
    }
    if (p.lastJoinTime() != null) {
      b.setLastJoinTime(ProtoTime.timestamp(p.lastJoinTime()));
    }
    if (p.lastLeaveTime() != null) {
      b.setLastLeaveTime(ProtoTime.timestamp(p.lastLeaveTime()));
    }
    return b.build();
  }

  static RecordingState toProto(SessionRow.Recording r) {
    RecordingState.Builder b = RecordingState.newBuilder().setActive(r.active());
    if (r.changeTime() != null) {
      b.setChangeTime(ProtoTime.timestamp(r.changeTime()));
    }
    if (r.stopReason() != null) {
      b.setStopReason(RecordingStopReason.valueOf("RECORDING_STOP_REASON_" + r.stopReason()));
    }
    return b.build();
  }

  static SessionEvent toProto(EventRow row) {
    return SessionEvent.newBuilder()
        .setSequence(row.aggregateSeq())
        .setPosition(row.position())
        .setSessionId(row.aggregateId())
        .setType(SessionEventType.valueOf("SESSION_EVENT_TYPE_" + row.type()))
        .setEventTime(ProtoTime.timestamp(row.eventTime()))
        .setActor(row.actor())
        .setPayload(EventLog.payload(row))
        .build();
  }
}
