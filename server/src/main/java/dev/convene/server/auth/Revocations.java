package dev.convene.server.auth;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import dev.convene.server.platform.SqlArrays;
import org.jdbi.v3.core.Jdbi;

/**
 * Which of some callers, authenticated when their call began, have lost their credential since:
 * an API key revoked, or a user's credentials revoked after theirs was issued. A call that outlives
 * its start (a watch stream) asks this again and again; it reads the database, never a cache, and
 * answers for any number of callers with two queries.
 */
public final class Revocations {
  private final Jdbi jdbi;

  public Revocations(Jdbi jdbi) {
    this.jdbi = jdbi;
  }

  /** The callers among {@code callers} whose credential no longer holds. */
  public Set<Principal> revoked(Collection<Principal> callers) {
    Set<String> keyIds = new HashSet<>();
    Map<String, List<Principal>> users = new HashMap<>();
    for (Principal p : callers) {
      if (p.isTenant()) {
        keyIds.add(p.credentialId());
      } else if (p.userId() != null && p.issueTime() != null) {
        users.computeIfAbsent(p.tenantId() + '\u001f' + p.userId(), k -> new ArrayList<>()).add(p);
      }
    }
    Set<Principal> revoked = new HashSet<>();
    if (!keyIds.isEmpty()) {
      Set<String> live = jdbi.withHandle(h -> h.createQuery(
              "SELECT id FROM api_keys WHERE id = ANY(CAST(:ids AS text[])) AND revoke_time IS NULL")
          .bind("ids", keyIds.toArray(String[]::new)).mapTo(String.class).set());
      for (Principal p : callers) {
        if (p.isTenant() && !live.contains(p.credentialId())) {
          revoked.add(p);
        }
      }
    }
    if (!users.isEmpty()) {
      List<Principal> firsts = users.values().stream().map(ps -> ps.get(0)).toList();
      jdbi.useHandle(h -> h.createQuery("""
              SELECT r.tenant_id, r.user_id, r.not_before FROM credential_revocations r
              JOIN unnest(CAST(:tenants AS text[]), CAST(:users AS text[])) AS c(tenant_id, user_id)
                USING (tenant_id, user_id)
              """)
          .bind("tenants", SqlArrays.column(firsts, Principal::tenantId))
          .bind("users", SqlArrays.column(firsts, Principal::userId))
          .map((rs, ctx) -> Map.entry(rs.getString(1) + '\u001f' + rs.getString(2),
              rs.getTimestamp(3).toInstant()))
          .forEach(r -> {
            Instant notBefore = r.getValue();
            for (Principal p : users.get(r.getKey())) {
              if (CredentialVerifier.revokedBy(p.issueTime(), notBefore)) {
                revoked.add(p);
              }
            }
          }));
    }
    return revoked;
  }
}
