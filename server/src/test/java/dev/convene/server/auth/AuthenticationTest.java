package dev.convene.server.auth;

import dev.convene.server.testing.TestServerExtension;
import org.junit.jupiter.api.extension.RegisterExtension;
import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.platform.IdGenerator;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.ListSessionsRequest;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.Status.Code;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.util.HexFormat;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** API-key authentication on every call but health and reflection. */
class AuthenticationTest {
  @RegisterExtension
  static final TestServerExtension servers = new TestServerExtension();
  static TestServer server;

  @BeforeAll
  static void server() {
    server = servers.get();
  }

  private static SessionServiceGrpc.SessionServiceBlockingStub withKey(String key) {
    return SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(key));
  }

  @Test
  void noCredential_isUnauthenticated() {
    assertStatus(Code.UNAUTHENTICATED, "MISSING_CREDENTIAL",
        () -> SessionServiceGrpc.newBlockingStub(server.channel).listSessions(ListSessionsRequest.getDefaultInstance()));
  }

  @Test
  void unknownOrMalformedKey_isUnauthenticated() {
    String real = server.tenantA.key();
    String tampered = real.substring(0, real.length() - 1) + (real.endsWith("A") ? "B" : "A");
    for (String key : new String[] {tampered, "cvk_nope_nope", "not-a-key", ""}) {
      assertStatus(Code.UNAUTHENTICATED, "INVALID_CREDENTIAL",
          () -> withKey(key).listSessions(ListSessionsRequest.getDefaultInstance()));
    }
  }

  @Test
  void revokedKey_isUnauthenticated_otherKeysOfTheTenantStillWork() {
    Tenants tenants = new Tenants(server.jdbi(), server.clock, IdGenerator.random());
    Tenants.IssuedKey second = tenants.createKey(server.tenantA.tenantId());
    withKey(second.key()).listSessions(ListSessionsRequest.getDefaultInstance());

    assertTrue(tenants.revokeKey(second.keyId()));
    assertFalse(tenants.revokeKey(second.keyId()));

    assertStatus(Code.UNAUTHENTICATED, "INVALID_CREDENTIAL",
        () -> withKey(second.key()).listSessions(ListSessionsRequest.getDefaultInstance()));
    withKey(server.tenantA.key()).listSessions(ListSessionsRequest.getDefaultInstance());
  }

  @Test
  void keysAreStoredOnlyAsHashes() {
    String stored = server.jdbi().withHandle(h -> h.createQuery("SELECT encode(key_hash, 'hex') FROM api_keys WHERE id = :id")
        .bind("id", server.tenantA.keyId()).mapTo(String.class).one());
    assertEquals(HexFormat.of().formatHex(ApiKeys.hash(server.tenantA.key())), stored);
    long plaintext = server.jdbi().withHandle(h -> h.createQuery(
        "SELECT count(*) FROM api_keys WHERE position(convert_to(:key, 'UTF8') in key_hash) > 0")
        .bind("key", server.tenantA.key()).mapTo(Long.class).one());
    assertEquals(0, plaintext);
  }

  @Test
  void health_isOpenWithoutCredential_andServing() {
    HealthCheckResponse r = HealthGrpc.newBlockingStub(server.channel).check(HealthCheckRequest.getDefaultInstance());
    assertEquals(HealthCheckResponse.ServingStatus.SERVING, r.getStatus());
  }

  @Test
  void bootstrap_createsTheDevTenantOnlyOnAnEmptyDatabase() {
    // This database already has tenants: no dev tenant, no key.
    assertTrue(new Tenants(server.jdbi(), server.clock, IdGenerator.random()).bootstrapDevTenant().isEmpty());
    try (var db = dev.convene.server.testing.TestPostgres.freshDatabase(2)) {
      Tenants fresh = new Tenants(db.jdbi(), server.clock, IdGenerator.random());
      Tenants.IssuedKey dev = fresh.bootstrapDevTenant().orElseThrow();
      assertEquals("dev", dev.tenantId());
      assertTrue(fresh.bootstrapDevTenant().isEmpty());
    }
  }
}
