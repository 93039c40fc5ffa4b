package dev.convene.server.testing;

import dev.convene.server.db.Database;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One real embedded PostgreSQL for the whole test JVM; each caller gets a fresh database in it,
 * migrated by Flyway, so test classes never see one another's rows.
 */
public final class TestPostgres {
  private static EmbeddedPostgres postgres;
  private static final AtomicInteger counter = new AtomicInteger();

  private TestPostgres() {}

  private static synchronized EmbeddedPostgres instance() {
    if (postgres == null) {
      try {
        postgres = EmbeddedPostgres.builder().start();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          postgres.close();
        } catch (IOException ignored) {
          // The JVM is exiting anyway.
        }
      }));
    }
    return postgres;
  }

  /** A fresh database and the JDBC URL another process reaches it at. */
  public record Fresh(Database database, String url) {}

  /** A new, migrated database with a pool of {@code poolSize} connections. */
  public static Database freshDatabase(int poolSize) {
    return fresh(poolSize).database();
  }

  /** A new, migrated database with a pool of {@code poolSize} connections, and its URL. */
  public static Fresh fresh(int poolSize) {
    EmbeddedPostgres pg = instance();
    String name = "convene_test_" + counter.incrementAndGet() + "_" + ProcessHandle.current().pid();
    try (var c = pg.getPostgresDatabase().getConnection(); var st = c.createStatement()) {
      st.execute("CREATE DATABASE " + name);
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
    String url = "jdbc:postgresql://127.0.0.1:" + pg.getPort() + "/" + name + "?user=postgres";
    return new Fresh(Database.open(url, "", "", poolSize, Duration.ofSeconds(5)), url);
  }
}
