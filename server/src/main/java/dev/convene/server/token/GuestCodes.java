package dev.convene.server.token;

import dev.convene.server.auth.ClientAddress;
import dev.convene.server.auth.Principal;
import dev.convene.server.credential.CredentialIssuer;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.Tx;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionRow;
import dev.convene.v1.AccessCode;
import dev.convene.v1.Credential;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.JoinToken;
import dev.convene.v1.SessionEventType;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.jdbi.v3.core.Handle;

/**
 * The one mechanism by which a code lets someone in, whatever handed the code out (an access code
 * the tenant made, an invitation's link): codes are created, checked and claimed (throttled per
 * client address and session or group), redeemed for a guest credential and a join token, and
 * revoked here. Other features act on a session code's redemption through {@link #beforeToken}
 * hooks, inside the redemption; a group invitation's code is {@link #claim claimed} and its use
 * {@link #giveBack given back} when what it was claimed for fails.
 */
public final class GuestCodes {
  /** A code that matched, without its secret: of a session, or (groupId set) of a group. */
  public record Code(String tenantId, String id, String sessionId, String userId, String groupId) {
    static Code of(AccessCodes.Row r) {
      return new Code(r.tenantId(), r.id(), r.sessionId(), r.userId(), r.groupId());
    }
  }

  /** What a redemption answers: the guest credential, and the join token unless the guest waits in the lobby. */
  public record Redeemed(Credential credential, JoinToken token) {}

  /** Runs in the redeeming tenant's transaction after a use was taken and before the join token is issued. */
  public interface BeforeToken {
    void apply(Tx tx, Code code);
  }

  private final Platform platform;
  private final AccessCodes codes;
  private final Throttle throttle;
  private final JoinTokens joinTokens;
  private final CredentialIssuer credentials;
  private final List<BeforeToken> hooks = new CopyOnWriteArrayList<>();

  GuestCodes(Platform platform, AccessCodes codes, Throttle throttle, JoinTokens joinTokens,
      CredentialIssuer credentials) {
    this.platform = platform;
    this.codes = codes;
    this.throttle = throttle;
    this.joinTokens = joinTokens;
    this.credentials = credentials;
  }

  /** Adds a hook every redemption runs (registered once, when the features are wired). */
  public void beforeToken(BeforeToken hook) {
    hooks.add(hook);
  }

  /**
   * When a code asked for at {@code requested} (null: the session's scheduled end) expires:
   * INVALID_ARGUMENT naming {@code expire_time} unless it is in the future and at most 30 days after
   * the session's scheduled end.
   */
  public static Instant expiry(Tx tx, SessionRow s, com.google.protobuf.Timestamp requested) {
    Instant expire = requested != null ? ProtoTime.instant(requested) : s.scheduledEndTime();
    if (!expire.isAfter(tx.now()) || expire.isAfter(s.scheduledEndTime().plus(AccessCodes.MAX_AFTER_END))) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "expire_time",
          "expire_time must be in the future and at most 30 days after the session's scheduled end");
    }
    return expire;
  }

  /** A new code for {@code userId} in the locked, open session {@code s}: its record and the code (shown once). */
  public Map.Entry<AccessCode, String> create(Tx tx, SessionRow s, String userId, int maxUses, Instant expire) {
    Map.Entry<AccessCodes.Row, String> made = codes.create(tx, s, userId, maxUses, expire);
    return Map.entry(AccessCodes.toProto(made.getKey()), made.getValue());
  }

  /** A new code for {@code userId} of the locked group {@code groupId}: its record and the code (shown once). */
  public Map.Entry<AccessCode, String> createForGroup(Tx tx, String groupId, String userId, int maxUses,
      Instant expire) {
    Map.Entry<AccessCodes.Row, String> made = codes.createForGroup(tx, groupId, userId, maxUses, expire);
    return Map.entry(AccessCodes.toProto(made.getKey()), made.getValue());
  }

  /** Revokes the code of the locked group {@code groupId} (idempotent). */
  public AccessCode revokeForGroup(Tx tx, String groupId, String codeId) {
    return AccessCodes.toProto(codes.revokeForGroup(tx, groupId, codeId));
  }

  /** The code's record as it is now. */
  public AccessCode read(Handle h, String tenantId, String codeId) {
    return AccessCodes.toProto(codes.get(h, tenantId, codeId));
  }

  /** The tenant's codes {@code ids}, by id. */
  public Map<String, AccessCode> readAll(Handle h, String tenantId, List<String> ids) {
    Map<String, AccessCode> found = new java.util.HashMap<>();
    codes.getAll(h, tenantId, ids).forEach(r -> found.put(r.id(), AccessCodes.toProto(r)));
    return found;
  }

  /** Revokes the code of the locked session {@code s} (idempotent). */
  public AccessCode revoke(Tx tx, SessionRow s, String codeId) {
    return AccessCodes.toProto(codes.revoke(tx, s, codeId));
  }

  /**
   * The code of {@code sessionId} that {@code typed} matches, taking no use: NOT_FOUND
   * (ACCESS_CODE_NOT_FOUND) otherwise, which counts against the throttle.
   */
  public Code check(String scopeId, String typed) {
    List<Throttle.Key> keys = Throttle.keys(ClientAddress.current(), scopeId);
    throttle.check(keys);
    try {
      return Code.of(platform.jdbi().withHandle(h -> codes.find(h, scopeId, typed)).orElseThrow(GuestCodes::notFound));
    } catch (ConveneException e) {
      throttle.failed(keys);
      throw e;
    }
  }

  /**
   * Redeems a code: takes one use (FAILED_PRECONDITION ACCESS_CODE_REVOKED, _EXPIRED, _USED_UP when
   * none is left; those and a code that matches nothing count against the throttle), runs the
   * hooks, issues the join token (a lobby defers it) and the guest credential. A redemption that
   * yields no token and no lobby wait gives its use back.
   */
  public Redeemed redeem(String sessionId, String typed) {
    return redeem(sessionId, typed, (h, c) -> true);
  }

  /**
   * Redeems only a code that {@code accepts}: one that matches but is not accepted is NOT_FOUND
   * (ACCESS_CODE_NOT_FOUND) as if it matched nothing (AcceptInvitation takes invitations' codes only).
   */
  public Redeemed redeem(String sessionId, String typed, java.util.function.BiPredicate<Handle, Code> accepts) {
    AccessCodes.Row code = claimUse(sessionId, typed, accepts);
    Code matched = Code.of(code);
    Principal guest = Principal.guest(code.tenantId(), "access_code:" + code.id(), code.userId(), code.sessionId());
    JoinToken token = null;
    try {
      if (!hooks.isEmpty()) {
        platform.uow().write(code.tenantId(), guest.actor(), tx -> {
          hooks.forEach(hook -> hook.apply(tx, matched));
          return null;
        });
      }
      token = joinTokens.issue(guest, code.tenantId(), code.sessionId(), code.userId());
    } catch (RuntimeException e) {
      if (!(e instanceof ConveneException ce && ce.reason() == ErrorReason.AWAITING_ADMISSION)) {
        // No join token, no use: give it back.
        platform.jdbi().useHandle(h -> codes.returnUse(h, code));
        throw e;
      }
      // A lobby: the guest gets its credential now and its token once a host admits it.
    }
    platform.uow().write(code.tenantId(), guest.actor(), tx -> {
      Rosters.event(tx, Rosters.lock(tx, code.sessionId()), SessionEventType.SESSION_EVENT_TYPE_ACCESS_CODE_REDEEMED,
          Map.of("access_code_id", code.id(), "user_id", code.userId(), "use_count", code.useCount() + 1));
      return null;
    });
    Instant expire = token != null ? ProtoTime.instant(token.getExpireTime())
        : JoinTokens.expireTime(platform.clock().instant(), scheduledEnd(code.tenantId(), code.sessionId()));
    return new Redeemed(credentials.guest(code.tenantId(), code.sessionId(), code.userId(), expire), token);
  }

  /**
   * Takes one use of the code of the session or group {@code scopeId} that {@code typed} matches
   * and {@code accepts} (throttled; the errors of {@link #redeem}). Give it back with
   * {@link #giveBack} when what it was taken for fails.
   */
  public Code claim(String scopeId, String typed, java.util.function.BiPredicate<Handle, Code> accepts) {
    return Code.of(claimUse(scopeId, typed, accepts));
  }

  /** Gives back the use {@link #claim} took. */
  public void giveBack(Code code) {
    platform.jdbi().useHandle(h -> codes.returnUse(h, codes.get(h, code.tenantId(), code.id())));
  }

  private AccessCodes.Row claimUse(String scopeId, String typed, java.util.function.BiPredicate<Handle, Code> accepts) {
    List<Throttle.Key> keys = Throttle.keys(ClientAddress.current(), scopeId);
    throttle.check(keys);
    Instant now = platform.clock().instant();
    try {
      return platform.jdbi().inTransaction(h -> codes.claimUse(h, codes.find(h, scopeId, typed)
          .filter(r -> accepts.test(h, Code.of(r)))
          .orElseThrow(GuestCodes::notFound), now));
    } catch (ConveneException e) {
      throttle.failed(keys);
      throw e;
    }
  }

  private Instant scheduledEnd(String tenantId, String sessionId) {
    return platform.jdbi().withHandle(h -> h.createQuery(
            "SELECT scheduled_end_time FROM sessions WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tenantId).bind("id", sessionId).mapTo(Instant.class).one());
  }

  private static ConveneException notFound() {
    return ConveneException.notFound(ErrorReason.ACCESS_CODE_NOT_FOUND, "no access code matches for this session or group");
  }
}
