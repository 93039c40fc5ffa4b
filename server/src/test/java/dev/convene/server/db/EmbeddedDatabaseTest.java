package dev.convene.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.platform.IdGenerator;
import dev.convene.server.auth.Tenants;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The embedded PostgreSQL keeps its data in its directory across restarts, durably (fsync on). */
class EmbeddedDatabaseTest {
  @Test
  void dataSurvivesARestart_durably_andTheDevTenantIsCreatedOnlyOnce() throws Exception {
    Path dir = Files.createTempDirectory("convene-embedded").resolve("pg");
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    String keyId;
    try (EmbeddedDatabase pg = EmbeddedDatabase.start(dir, port);
        Database db = Database.open(pg.jdbcUrl(), "", "", 2, Duration.ofSeconds(5))) {
      assertTrue(pg.fresh());
      keyId = new Tenants(db.jdbi(), Clock.systemUTC(), IdGenerator.random()).bootstrapDevTenant().orElseThrow().keyId();
    }
    try (EmbeddedDatabase pg = EmbeddedDatabase.start(dir, port);
        Database db = Database.open(pg.jdbcUrl(), "", "", 2, Duration.ofSeconds(5))) {
      assertFalse(pg.fresh());
      for (String setting : java.util.List.of("fsync", "synchronous_commit", "full_page_writes")) {
        assertEquals("on", db.jdbi().withHandle(h -> h.createQuery("SELECT setting FROM pg_settings WHERE name = :n")
            .bind("n", setting).mapTo(String.class).one()), setting);
      }
      assertTrue(new Tenants(db.jdbi(), Clock.systemUTC(), IdGenerator.random()).bootstrapDevTenant().isEmpty());
      assertEquals(keyId, db.jdbi().withHandle(h -> h.createQuery("SELECT id FROM api_keys WHERE tenant_id = 'dev'")
          .mapTo(String.class).one()));
    }
  }
}
