package dev.convene.server.auth;

import dev.convene.server.platform.IdGenerator;
import dev.convene.server.platform.IdKind;
import java.time.Clock;
import org.jdbi.v3.core.Jdbi;

/** Creates tenants and API keys and revokes keys: what the admin command and first start use. */
public final class Tenants {
  private final Jdbi jdbi;
  private final Clock clock;
  private final IdGenerator ids;

  public Tenants(Jdbi jdbi, Clock clock, IdGenerator ids) {
    this.jdbi = jdbi;
    this.clock = clock;
    this.ids = ids;
  }

  /** A new key and the tenant it belongs to. The key is shown once and only its hash is kept. */
  public record IssuedKey(String tenantId, String keyId, String key) {}

  public IssuedKey createTenant(String name) {
    return jdbi.inTransaction(h -> {
      TenantDao dao = h.attach(TenantDao.class);
      String tenantId = ids.next(IdKind.TENANT);
      dao.insertTenant(tenantId, name, clock.instant());
      return issue(dao, tenantId);
    });
  }

  public IssuedKey createKey(String tenantId) {
    return jdbi.inTransaction(h -> {
      TenantDao dao = h.attach(TenantDao.class);
      if (!dao.tenantExists(tenantId)) {
        throw new IllegalArgumentException("no tenant " + tenantId);
      }
      return issue(dao, tenantId);
    });
  }

  public boolean revokeKey(String keyId) {
    return jdbi.withExtension(TenantDao.class, dao -> dao.revokeKey(keyId, clock.instant()));
  }

  /** Creates the `dev` tenant when the database has no tenant yet; empty otherwise. */
  public java.util.Optional<IssuedKey> bootstrapDevTenant() {
    return jdbi.inTransaction(h -> {
      h.execute("LOCK TABLE tenants IN SHARE ROW EXCLUSIVE MODE");
      TenantDao dao = h.attach(TenantDao.class);
      if (dao.countTenants() > 0) {
        return java.util.Optional.<IssuedKey>empty();
      }
      dao.insertTenant("dev", "dev", clock.instant());
      return java.util.Optional.of(issue(dao, "dev"));
    });
  }

  private IssuedKey issue(TenantDao dao, String tenantId) {
    String keyId = ids.next(IdKind.API_KEY);
    String key = ApiKeys.newKey(keyId);
    dao.insertKey(keyId, tenantId, ApiKeys.hash(key), clock.instant());
    return new IssuedKey(tenantId, keyId, key);
  }
}
