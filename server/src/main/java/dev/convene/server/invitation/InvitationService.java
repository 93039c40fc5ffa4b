package dev.convene.server.invitation;

import static dev.convene.server.grpc.Unary.reply;

import dev.convene.server.auth.Principal;
import dev.convene.server.credential.CredentialIssuer;
import dev.convene.server.group.GroupMembers;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.Phones;
import dev.convene.server.platform.PageTokens;
import dev.convene.server.platform.Pages;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.RequestFingerprint;
import dev.convene.server.platform.RequestIdTaken;
import dev.convene.server.platform.Tx;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionRow;
import dev.convene.server.token.GuestCodes;
import dev.convene.v1.*;
import io.grpc.stub.StreamObserver;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * InvitationService: invitations into sessions or groups whose links carry a code ({@link
 * GuestCodes}), so accepting is redeeming. Every change locks the invitation's {@link Target} (the
 * session or the group) first, then the invitation.
 */
final class InvitationService extends InvitationServiceGrpc.InvitationServiceImplBase {
  /** A group invitation's default life, and its longest. */
  static final java.time.Duration GROUP_EXPIRY = java.time.Duration.ofDays(7);
  static final java.time.Duration GROUP_MAX_EXPIRY = java.time.Duration.ofDays(30);
  /** How long the user credential that accepting a group invitation answers lives. */
  static final java.time.Duration MEMBER_CREDENTIAL_TTL = java.time.Duration.ofHours(1);

  private final Platform platform;
  private final Invitations store;
  private final GuestCodes codes;
  private final Templates templates;
  private final CredentialIssuer credentials;

  InvitationService(Platform platform, Invitations store, GuestCodes codes, Templates templates,
      CredentialIssuer credentials) {
    this.platform = platform;
    this.store = store;
    this.codes = codes;
    this.templates = templates;
    this.credentials = credentials;
  }

  @Override
  public void createInvitation(CreateInvitationRequest req, StreamObserver<CreateInvitationResponse> out) {
    Principal caller = Principal.current();
    byte[] fingerprint = RequestFingerprint.of(req.toBuilder().clearRequestId().build());
    String phone = req.getChannel() == InvitationChannel.INVITATION_CHANNEL_SMS
        ? Phones.normalise(req.getPhone(), req.getPhoneRegion(), "phone") : null;
    if (!req.getRequestId().isEmpty()) {
      Optional<CreateInvitationResponse> earlier = repeated(caller.tenantId(), req.getRequestId(), fingerprint);
      if (earlier.isPresent()) {
        reply(out, earlier.get());
        return;
      }
    }
    CreateInvitationResponse created;
    try {
      created = platform.uow().write(tx -> create(tx, req, phone, fingerprint));
    } catch (RequestIdTaken e) {
      created = repeated(caller.tenantId(), req.getRequestId(), fingerprint).orElseThrow();
    }
    reply(out, created);
  }

  private CreateInvitationResponse create(Tx tx, CreateInvitationRequest req, String phone, byte[] fingerprint) {
    Target target;
    Map.Entry<AccessCode, String> code;
    if (req.getGroupId().isEmpty()) {
      target = new Target(Rosters.lock(tx, req.getSessionId()), null);
      code = sessionCode(tx, target.session(), req);
    } else {
      GroupMembers.lockExisting(tx, req.getGroupId());
      target = new Target(null, req.getGroupId());
      code = groupCode(tx, req);
    }
    Invitations.Row row = store.insert(tx, req, phone, code, fingerprint);
    if (row == null) {
      throw new RequestIdTaken();
    }
    target.event(tx, "INVITATION_CREATED", Map.of("invitation_id", row.id(), "user_id", row.userId(),
        "channel", row.channel()));
    if (row.channel().equals("SMS")) {
      // The outbox: the message leaves after this commit, from whichever replica claims the job.
      tx.schedule(SmsOutbox.KIND, row.id(), tx.now());
    }
    return CreateInvitationResponse.newBuilder().setInvitation(Invitations.toProto(row, code.getKey(), tx.now()))
        .setCode(code.getValue()).setLink(Templates.link(templates.settings(tx.handle(), tx.tenantId()), target,
            code.getValue())).build();
  }

  /** The code of an invitation into the locked session {@code s}: for a roster user, or a new guest. */
  private Map.Entry<AccessCode, String> sessionCode(Tx tx, SessionRow s, CreateInvitationRequest req) {
    Rosters.requireOpen(s);
    boolean onRoster = Rosters.find(tx, s, req.getUserId()).isPresent();
    boolean guest = req.getGuestRole() != ParticipantRole.PARTICIPANT_ROLE_UNSPECIFIED;
    if (guest && onRoster) {
      throw ConveneException.alreadyExists(ErrorReason.PARTICIPANT_ALREADY_EXISTS,
          "user " + req.getUserId() + " is on the roster of session " + s.id() + " already: invite them without guest_role");
    }
    if (!guest && !onRoster) {
      throw ConveneException.notFound(ErrorReason.PARTICIPANT_NOT_FOUND, "user " + req.getUserId()
          + " is not on the roster of session " + s.id() + ": give guest_role to invite a new guest");
    }
    Instant expire = GuestCodes.expiry(tx, s, req.hasExpireTime() ? req.getExpireTime() : null);
    return codes.create(tx, s, req.getUserId(), req.getMaxUses(), expire);
  }

  /** The code of an invitation into the locked group of {@code req}, for a user who is not a member. */
  private Map.Entry<AccessCode, String> groupCode(Tx tx, CreateInvitationRequest req) {
    if (GroupMembers.isMember(tx, req.getGroupId(), req.getUserId())) {
      throw ConveneException.alreadyExists(ErrorReason.GROUP_MEMBER_ALREADY_EXISTS,
          "user " + req.getUserId() + " is a member of group " + req.getGroupId() + " already");
    }
    Instant expire = req.hasExpireTime() ? ProtoTime.instant(req.getExpireTime()) : tx.now().plus(GROUP_EXPIRY);
    if (!expire.isAfter(tx.now()) || expire.isAfter(tx.now().plus(GROUP_MAX_EXPIRY))) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "expire_time",
          "expire_time of a group invitation must be in the future and at most 30 days away");
    }
    return codes.createForGroup(tx, req.getGroupId(), req.getUserId(), req.getMaxUses(), expire);
  }

  /** The first create with this request id, without its code: INVALID_ARGUMENT (REQUEST_ID_REUSED) for another request. */
  private Optional<CreateInvitationResponse> repeated(String tenantId, String requestId, byte[] fingerprint) {
    return platform.jdbi().withHandle(h -> store.byRequestId(h, tenantId, requestId).map(row -> {
      if (!RequestFingerprint.matches(row.fingerprint(), fingerprint)) {
        throw ConveneException.invalidArgument(ErrorReason.REQUEST_ID_REUSED, "request_id",
            "request_id " + requestId + " was used for a different invitation");
      }
      return CreateInvitationResponse.newBuilder().setInvitation(Invitations.toProto(row,
          codes.read(h, tenantId, row.accessCodeId()), platform.clock().instant())).build();
    }));
  }

  @Override
  public void setInvitationSettings(SetInvitationSettingsRequest req, StreamObserver<SetInvitationSettingsResponse> out) {
    Templates.Settings set = platform.uow().write(tx -> templates.set(tx, req.getSettings()));
    reply(out, SetInvitationSettingsResponse.newBuilder().setSettings(set.toProto()).build());
  }

  @Override
  public void getInvitationSettings(GetInvitationSettingsRequest req, StreamObserver<GetInvitationSettingsResponse> out) {
    String tenantId = Principal.current().tenantId();
    Templates.Settings settings = platform.jdbi().withHandle(h -> templates.settings(h, tenantId));
    reply(out, GetInvitationSettingsResponse.newBuilder().setSettings(settings.toProto()).build());
  }

  @Override
  public void getInvitation(GetInvitationRequest req, StreamObserver<GetInvitationResponse> out) {
    String tenantId = Principal.current().tenantId();
    Invitation inv = platform.jdbi().withHandle(h -> {
      Invitations.Row row = store.get(h, tenantId, req.getInvitationId()).orElseThrow(() -> notFound(req.getInvitationId()));
      return Invitations.toProto(row, codes.read(h, tenantId, row.accessCodeId()), platform.clock().instant());
    });
    reply(out, GetInvitationResponse.newBuilder().setInvitation(inv).build());
  }

  @Override
  public void listInvitations(ListInvitationsRequest req, StreamObserver<ListInvitationsResponse> out) {
    String tenantId = Principal.current().tenantId();
    String sessionId = req.getSessionId().isEmpty() ? null : req.getSessionId();
    String groupId = req.getGroupId().isEmpty() ? null : req.getGroupId();
    platform.jdbi().useHandle(h -> {
      if (groupId != null ? !GroupMembers.exists(h, tenantId, groupId) : !store.sessionExists(h, tenantId, sessionId)) {
        throw groupId != null ? ConveneException.notFound(ErrorReason.GROUP_NOT_FOUND, "group " + groupId + " not found")
            : ConveneException.notFound(ErrorReason.SESSION_NOT_FOUND, "session " + sessionId + " not found");
      }
    });
    Page page = page(tenantId, sessionId, groupId, req.getStatus(), req.getPageSize(), req.getPageToken(), req);
    reply(out, ListInvitationsResponse.newBuilder().addAllInvitations(page.invitations())
        .setNextPageToken(page.nextPageToken()).build());
  }

  /** A page of invitations and the token of the next ("" for the last). */
  record Page(List<Invitation> invitations, String nextPageToken) {}

  /**
   * A page of the session's (or the group's) invitations, newest first; {@code request} is what the
   * page token is bound to (its filters).
   */
  Page page(String tenantId, String sessionId, String groupId, InvitationStatus status, int pageSize, String pageToken,
      com.google.protobuf.Message request) {
    int size = PageTokens.pageSize(pageSize, 50, 200);
    List<String> after = pageToken.isEmpty() ? null : platform.pageTokens().decode(pageToken, tenantId, "invitations",
        request, 2);
    Instant now = platform.clock().instant();
    List<Invitation> page = platform.jdbi().withHandle(h -> {
      List<Invitations.Row> rows = store.list(h, tenantId, sessionId, groupId, status, now,
          after == null ? null : PageTokens.instantKey(after.get(0)), after == null ? null : after.get(1), size + 1);
      Map<String, AccessCode> byId = codes.readAll(h, tenantId, rows.stream().map(Invitations.Row::accessCodeId).toList());
      return rows.stream().map(r -> Invitations.toProto(r, byId.get(r.accessCodeId()), now)).toList();
    });
    int n = Pages.fit(page, Math.min(size, page.size()));
    if (page.size() <= n) {
      return new Page(page, "");
    }
    Invitation last = page.get(n - 1);
    return new Page(page.subList(0, n), platform.pageTokens().encode(tenantId, "invitations", request,
        ProtoTime.instant(last.getCreateTime()).toString(), last.getId()));
  }


  /** A page of {@code userId}'s pending group invitations, newest first (see Invitations.pendingGroupInvitations). */
  List<Invitation> pendingGroupInvitations(org.jdbi.v3.core.Handle h, String tenantId, String userId, Instant now,
      Instant afterTime, String afterId, int limit) {
    List<Invitations.Row> rows = store.pendingGroupInvitations(h, tenantId, userId, now, afterTime, afterId, limit);
    Map<String, AccessCode> byId = codes.readAll(h, tenantId, rows.stream().map(Invitations.Row::accessCodeId).toList());
    return rows.stream().map(r -> Invitations.toProto(r, byId.get(r.accessCodeId()), now)).toList();
  }

  @Override
  public void revokeInvitation(RevokeInvitationRequest req, StreamObserver<RevokeInvitationResponse> out) {
    Invitation inv = platform.uow().write(tx -> {
      Locked locked = lock(tx, req.getInvitationId());
      Invitations.Row row = locked.invitation();
      AccessCode code;
      if (row.status().equals("PENDING")) {
        code = revokeCode(tx, locked.target(), row);
        row = store.answer(tx, row, "REVOKED");
        locked.target().event(tx, "INVITATION_REVOKED", Map.of("invitation_id", row.id()));
      } else {
        code = codes.read(tx.handle(), tx.tenantId(), row.accessCodeId());
      }
      return Invitations.toProto(row, code, tx.now());
    });
    reply(out, RevokeInvitationResponse.newBuilder().setInvitation(inv).build());
  }

  /** At most this many resends of one invitation, at least {@link #RESEND_GAP} apart. */
  static final int MAX_RESENDS = 5;
  static final java.time.Duration RESEND_GAP = java.time.Duration.ofMinutes(10);

  @Override
  public void resendInvitation(ResendInvitationRequest req, StreamObserver<ResendInvitationResponse> out) {
    Invitation inv = platform.uow().write(tx -> {
      Invitations.Row row = lock(tx, req.getInvitationId()).invitation();
      AccessCode code = codes.read(tx.handle(), tx.tenantId(), row.accessCodeId());
      if (!row.channel().equals("SMS")) {
        throw ConveneException.failedPrecondition(ErrorReason.INVITATION_NOT_SMS,
            "invitation " + row.id() + " is a LINK invitation: there is no message to send again", Map.of());
      }
      if (!row.status().equals("PENDING")) {
        throw ConveneException.failedPrecondition(ErrorReason.INVITATION_ANSWERED,
            "invitation " + row.id() + " was " + row.status().toLowerCase(java.util.Locale.ROOT), Map.of());
      }
      if (!tx.now().isBefore(ProtoTime.instant(code.getExpireTime()))) {
        throw ConveneException.failedPrecondition(ErrorReason.ACCESS_CODE_EXPIRED,
            "invitation " + row.id() + " has expired", Map.of());
      }
      Invitations.Resends resends = store.resends(tx, row.id());
      if (resends.count() >= MAX_RESENDS) {
        throw ConveneException.resourceExhausted(ErrorReason.TOO_MANY_ATTEMPTS,
            "invitation " + row.id() + " was sent again " + MAX_RESENDS + " times already");
      }
      java.time.Instant next = resends.last() == null ? tx.now() : resends.last().plus(RESEND_GAP);
      if (tx.now().isBefore(next)) {
        throw ConveneException.resourceExhausted(ErrorReason.TOO_MANY_ATTEMPTS,
            "invitation " + row.id() + " may be sent again at " + next, java.time.Duration.between(tx.now(), next));
      }
      row = store.requeue(tx, row);
      tx.schedule(SmsOutbox.KIND, row.id(), tx.now());
      return Invitations.toProto(row, code, tx.now());
    });
    reply(out, ResendInvitationResponse.newBuilder().setInvitation(inv).build());
  }

  @Override
  public void acceptInvitation(AcceptInvitationRequest req, StreamObserver<AcceptInvitationResponse> out) {
    if (!req.getGroupId().isEmpty()) {
      reply(out, acceptIntoGroup(req.getGroupId(), req.getCode()));
      return;
    }
    // Only an invitation's code: a plain access code is redeemed with RedeemAccessCode.
    GuestCodes.Redeemed r = codes.redeem(req.getSessionId(), req.getCode(),
        (h, code) -> store.byCode(h, code.tenantId(), code.id()).isPresent());
    AcceptInvitationResponse.Builder b = AcceptInvitationResponse.newBuilder().setGuestCredential(r.credential());
    if (r.token() != null) {
      b.setJoinToken(r.token());
    } else {
      b.setAwaitingAdmission(true);
    }
    reply(out, b.build());
  }

  /**
   * Accepts a group invitation: takes a use of its code (throttled, as a session's), makes the
   * invitee a member (the use is given back if that fails), and answers a user credential.
   */
  private AcceptInvitationResponse acceptIntoGroup(String groupId, String typed) {
    GuestCodes.Code code = codes.claim(groupId, typed, (h, c) -> store.byCode(h, c.tenantId(), c.id()).isPresent());
    try {
      platform.uow().write(code.tenantId(), "user:" + code.userId(), tx -> {
        GroupMembers.lockExisting(tx, groupId);
        Invitations.Row row = store.lock(tx, store.byCode(tx.handle(), tx.tenantId(), code.id()).orElseThrow().id());
        requireOpen(row);
        GroupMembers.join(tx, groupId, row.userId(), row.groupRole());
        if (row.status().equals("PENDING")) {
          store.answer(tx, row, "ACCEPTED");
          GroupMembers.event(tx, groupId, "INVITATION_ACCEPTED", Map.of("invitation_id", row.id(), "user_id", row.userId()));
        }
        return null;
      });
    } catch (RuntimeException e) {
      codes.giveBack(code);
      throw e;
    }
    return AcceptInvitationResponse.newBuilder().setGroupId(groupId)
        .setUserCredential(credentials.user(code.tenantId(), code.userId(), MEMBER_CREDENTIAL_TTL)).build();
  }

  /** FAILED_PRECONDITION (ACCESS_CODE_REVOKED) for an invitation that was declined or revoked. */
  private static void requireOpen(Invitations.Row row) {
    if (row.status().equals("DECLINED") || row.status().equals("REVOKED")) {
      throw ConveneException.failedPrecondition(ErrorReason.ACCESS_CODE_REVOKED, "the invitation was "
          + row.status().toLowerCase(java.util.Locale.ROOT), Map.of());
    }
  }

  /**
   * The hook every redemption runs (AcceptInvitation, and RedeemAccessCode of an invitation's
   * code): a new guest goes on the roster, and a pending invitation becomes ACCEPTED.
   */
  void accepted(Tx tx, GuestCodes.Code code) {
    Optional<Invitations.Row> found = store.byCode(tx.handle(), tx.tenantId(), code.id());
    if (found.isEmpty()) {
      return;
    }
    SessionRow s = Rosters.lock(tx, found.get().sessionId());
    Invitations.Row row = store.lock(tx, found.get().id());
    requireOpen(row);
    if (row.guestRole() != null && Rosters.find(tx, s, row.userId()).isEmpty()) {
      Rosters.add(tx, s, ParticipantSpec.newBuilder().setUserId(row.userId())
          .setDisplayName(row.guestDisplayName() == null ? "" : row.guestDisplayName())
          .setRole(ParticipantRole.valueOf("PARTICIPANT_ROLE_" + row.guestRole())).build());
    }
    if (row.status().equals("PENDING")) {
      store.answer(tx, row, "ACCEPTED");
      Rosters.event(tx, s, SessionEventType.SESSION_EVENT_TYPE_INVITATION_ACCEPTED,
          Map.of("invitation_id", row.id(), "user_id", row.userId()));
    }
  }

  @Override
  public void declineInvitation(DeclineInvitationRequest req, StreamObserver<DeclineInvitationResponse> out) {
    boolean group = !req.getGroupId().isEmpty();
    GuestCodes.Code code = codes.check(group ? req.getGroupId() : req.getSessionId(), req.getCode());
    platform.uow().write(code.tenantId(), (group ? "user:" : "guest:") + code.userId(), tx -> {
      Target target = Target.lock(tx, code.sessionId(), code.groupId());
      Invitations.Row row = store.byCode(tx.handle(), tx.tenantId(), code.id())
          .map(found -> store.lock(tx, found.id()))
          .orElseThrow(() -> ConveneException.notFound(ErrorReason.ACCESS_CODE_NOT_FOUND,
              "no invitation matches for this session"));
      switch (row.status()) {
        case "ACCEPTED" -> throw ConveneException.failedPrecondition(ErrorReason.INVITATION_ANSWERED,
            "the invitation was accepted already", Map.of());
        case "REVOKED" -> throw ConveneException.failedPrecondition(ErrorReason.ACCESS_CODE_REVOKED,
            "the invitation was revoked", Map.of());
        case "PENDING" -> {
          revokeCode(tx, target, row);
          store.answer(tx, row, "DECLINED");
          target.event(tx, "INVITATION_DECLINED", Map.of("invitation_id", row.id(), "user_id", row.userId()));
        }
        default -> { } // declined already
      }
      return null;
    });
    reply(out, DeclineInvitationResponse.getDefaultInstance());
  }

  /** An invitation and its target, locked in that order (as every change locks them). */
  private record Locked(Target target, Invitations.Row invitation) {}

  /** Locks the tenant's invitation {@code id} after its target; NOT_FOUND (INVITATION_NOT_FOUND). */
  private Locked lock(Tx tx, String id) {
    Target target = Target.ofInvitation(tx, id).orElseThrow(() -> notFound(id));
    return new Locked(target, store.lock(tx, id));
  }

  /** Revokes the code behind the invitation {@code row} of the locked {@code target}. */
  private AccessCode revokeCode(Tx tx, Target target, Invitations.Row row) {
    return target.isGroup() ? codes.revokeForGroup(tx, target.groupId(), row.accessCodeId())
        : codes.revoke(tx, target.session(), row.accessCodeId());
  }

  private static ConveneException notFound(String id) {
    return ConveneException.notFound(ErrorReason.INVITATION_NOT_FOUND, "invitation " + id + " not found");
  }
}
