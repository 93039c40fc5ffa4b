package dev.convene.server.auth;

import java.time.Instant;
import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/** Tenants and their API keys. */
public interface TenantDao {
  @SqlUpdate("""
      INSERT INTO tenants (id, name, create_time) VALUES (:id, :name, :now)
      """)
  void insertTenant(@Bind("id") String id, @Bind("name") String name, @Bind("now") Instant now);

  @SqlQuery("SELECT count(*) FROM tenants")
  long countTenants();

  @SqlQuery("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = :id)")
  boolean tenantExists(@Bind("id") String id);

  @SqlUpdate("""
      INSERT INTO api_keys (id, tenant_id, key_hash, create_time) VALUES (:id, :tenantId, :hash, :now)
      """)
  void insertKey(@Bind("id") String id, @Bind("tenantId") String tenantId, @Bind("hash") byte[] hash,
      @Bind("now") Instant now);

  /** Revokes a key; false if there is no live key with that id. */
  @SqlUpdate("""
      UPDATE api_keys SET revoke_time = :now WHERE id = :id AND revoke_time IS NULL
      """)
  boolean revokeKey(@Bind("id") String id, @Bind("now") Instant now);
}
