package dev.convene.server.db;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real PostgreSQL 17 started from the binaries on the classpath, keeping its data in a directory
 * across restarts, listening on loopback only. Used when no CONVENE_DATABASE_URL is configured.
 */
public final class EmbeddedDatabase implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(EmbeddedDatabase.class);

  private final EmbeddedPostgres postgres;
  private final int port;
  private final boolean fresh;

  private EmbeddedDatabase(EmbeddedPostgres postgres, int port, boolean fresh) {
    this.postgres = postgres;
    this.port = port;
    this.fresh = fresh;
  }

  /** Starts PostgreSQL on {@code dataDir}, creating the cluster if the directory holds none. */
  public static EmbeddedDatabase start(Path dataDir, int port) {
    try {
      Path dir = dataDir.toAbsolutePath().normalize();
      boolean fresh = !Files.exists(dir.resolve("PG_VERSION"));
      Files.createDirectories(dir);
      log.info("Starting embedded PostgreSQL on 127.0.0.1:{} with data in {}{}", port, dir, fresh ? " (new)" : "");
      EmbeddedPostgres pg = EmbeddedPostgres.builder()
          .setDataDirectory(dir)
          .setCleanDataDirectory(false)
          .setPort(port)
          .setServerConfig("listen_addresses", "127.0.0.1")
          // The library starts PostgreSQL for tests (-F, synchronous_commit=off): a power loss could
          // then corrupt the cluster and lose acknowledged writes. Serving keeps data safely; these
          // come after -F on the command line, and the last setting wins.
          .setServerConfig("fsync", "on")
          .setServerConfig("synchronous_commit", "on")
          .setServerConfig("full_page_writes", "on")
          .start();
      return new EmbeddedDatabase(pg, port, fresh);
    } catch (IOException e) {
      throw new UncheckedIOException("could not start embedded PostgreSQL in " + dataDir, e);
    }
  }

  public String jdbcUrl() {
    return "jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres";
  }

  /** True when this start created the cluster. */
  public boolean fresh() {
    return fresh;
  }

  @Override
  public void close() {
    try {
      postgres.close();
    } catch (IOException e) {
      log.warn("Embedded PostgreSQL did not stop cleanly: {}", e.getMessage());
    }
  }
}
