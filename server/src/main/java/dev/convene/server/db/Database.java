package dev.convene.server.db;

import com.zaxxer.hikari.HikariConfig;
import dev.convene.server.grpc.ErrorMapping;
import com.zaxxer.hikari.HikariDataSource;
import dev.convene.server.config.ConveneConfig;
import java.sql.SQLException;
import java.time.Duration;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.statement.StatementExceptions;
import org.jdbi.v3.postgres.PostgresPlugin;
import org.jdbi.v3.sqlobject.SqlObjectPlugin;

/** The connection pool, migrated schema and Jdbi handle the services share. */
public final class Database implements AutoCloseable {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Database.class);
  private final HikariDataSource dataSource;
  private final Jdbi jdbi;

  private final java.util.Properties probeProperties = new java.util.Properties();
  private final String jdbcUrl;
  private java.sql.Connection probe;

  private Database(HikariDataSource dataSource, String jdbcUrl, String user, String password) {
    this.dataSource = dataSource;
    this.jdbcUrl = jdbcUrl;
    if (!user.isEmpty()) {
      probeProperties.setProperty("user", user);
    }
    if (!password.isEmpty()) {
      probeProperties.setProperty("password", password);
    }
    probeProperties.setProperty("connectTimeout", "1");
    probeProperties.setProperty("socketTimeout", "2");
    probeProperties.setProperty("loginTimeout", "2");
    this.jdbi = Jdbi.create(dataSource).installPlugin(new SqlObjectPlugin()).installPlugin(new PostgresPlugin());
    // An exception's message must not carry the statement's bound values (titles, names, metadata):
    // exceptions are logged.
    jdbi.getConfig(StatementExceptions.class).setMessageRendering(StatementExceptions.MessageRendering.NONE);
  }

  /** Opens a pool on {@code jdbcUrl} with the default 10 s transaction ceiling and runs the migrations. */
  public static Database open(String jdbcUrl, String user, String password, int poolSize, Duration connectTimeout) {
    return open(jdbcUrl, user, password, poolSize, connectTimeout, Duration.ofSeconds(10));
  }

  /**
   * Opens a pool on {@code jdbcUrl} and runs the Flyway migrations. Every connection gets
   * {@code maxTransactionTime} as its statement and lock timeout, the ceiling under which
   * {@link dev.convene.server.platform.UnitOfWork} sets shorter ones from a call's deadline.
   */
  public static Database open(String jdbcUrl, String user, String password, int poolSize, Duration connectTimeout,
      Duration maxTransactionTime) {
    HikariConfig hc = new HikariConfig();
    hc.setJdbcUrl(jdbcUrl);
    if (!user.isEmpty()) {
      hc.setUsername(user);
    }
    if (!password.isEmpty()) {
      hc.setPassword(password);
    }
    hc.setMaximumPoolSize(poolSize);
    hc.setMinimumIdle(1);
    hc.setConnectionTimeout(connectTimeout.toMillis());
    hc.setValidationTimeout(Math.min(1000, connectTimeout.toMillis()));
    hc.setPoolName("convene");
    long ceiling = maxTransactionTime.toMillis();
    // pgJDBC: PostgreSQL's error detail ("Key (...)=(<values>)", "Failing row contains (...)") stays
    // out of exception messages; a connection that stops answering fails the call after the
    // statement ceiling plus a margin instead of hanging; TCP keepalive finds dead peers.
    hc.addDataSourceProperty("logServerErrorDetail", "false");
    hc.addDataSourceProperty("socketTimeout", Long.toString(maxTransactionTime.toSeconds() + 5));
    hc.addDataSourceProperty("connectTimeout", Long.toString(Math.max(1, connectTimeout.toSeconds())));
    hc.addDataSourceProperty("tcpKeepAlive", "true");
    hc.setConnectionInitSql("SET statement_timeout = " + ceiling + "; SET lock_timeout = " + ceiling);
    // Start even if the database is briefly away; calls get UNAVAILABLE until it is back.
    hc.setInitializationFailTimeout(-1);
    HikariDataSource ds = new HikariDataSource(hc);
    try {
      migrate(ds);
      // The migrations' connections dropped the timeouts; replace them with fresh ones.
      ds.getHikariPoolMXBean().softEvictConnections();
      return new Database(ds, jdbcUrl, user, password);
    } catch (RuntimeException e) {
      ds.close();
      throw e;
    }
  }

  public static Database open(String jdbcUrl, ConveneConfig config) {
    return open(jdbcUrl, config.databaseUser(), config.databasePassword(), config.poolSize(), config.connectTimeout(),
        config.maxTransactionTime(), config.databaseStartupWait());
  }

  /**
   * Like {@link #open(String, String, String, int, Duration, Duration)}, but waits up to
   * {@code startupWait} for the database to accept connections (a replica starting while
   * PostgreSQL restarts, or before it is up), logging each attempt, instead of failing at once.
   */
  public static Database open(String jdbcUrl, String user, String password, int poolSize, Duration connectTimeout,
      Duration maxTransactionTime, Duration startupWait) {
    long deadline = System.nanoTime() + startupWait.toNanos();
    for (int attempt = 1; ; attempt++) {
      try {
        return open(jdbcUrl, user, password, poolSize, connectTimeout, maxTransactionTime);
      } catch (RuntimeException e) {
        if (!ErrorMapping.isDatabaseUnavailable(e) || System.nanoTime() > deadline) {
          throw e;
        }
        log.warn("Waiting for the database (attempt {}, up to {}): it does not accept connections yet", attempt,
            startupWait);
        try {
          Thread.sleep(1000);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw e;
        }
      }
    }
  }

  static void migrate(DataSource ds) {
    // Migrations may run long on a big database: no statement or lock timeout for them.
    Flyway.configure().dataSource(ds).locations("classpath:db/migration")
        .initSql("SET statement_timeout = 0; SET lock_timeout = 0").load().migrate();
  }

  /**
   * Whether PostgreSQL answers, on a connection of its own (never the pool's: a pool busy with
   * calls, or waiting for connections, would make the answer late), with short timeouts.
   */
  public synchronized boolean answers() {
    try {
      if (probe == null || probe.isClosed()) {
        probe = java.sql.DriverManager.getConnection(jdbcUrl, probeProperties);
      }
      try (var st = probe.createStatement()) {
        st.execute("SELECT 1");
      }
      return true;
    } catch (SQLException e) {
      closeProbe();
      return false;
    }
  }

  private synchronized void closeProbe() {
    if (probe != null) {
      try {
        probe.close();
      } catch (SQLException ignored) {
        // already broken
      }
      probe = null;
    }
  }

  public Jdbi jdbi() {
    return jdbi;
  }

  /**
   * Records the pool's connections (active, idle, total, and calls waiting for one) as
   * {@code convene_db_pool_connections{state}} gauges.
   */
  public void bindMetrics(io.micrometer.core.instrument.MeterRegistry metrics) {
    var pool = dataSource.getHikariPoolMXBean();
    java.util.Map<String, java.util.function.ToDoubleFunction<com.zaxxer.hikari.HikariPoolMXBean>> states = java.util.Map.of(
        "active", com.zaxxer.hikari.HikariPoolMXBean::getActiveConnections,
        "idle", com.zaxxer.hikari.HikariPoolMXBean::getIdleConnections,
        "total", com.zaxxer.hikari.HikariPoolMXBean::getTotalConnections,
        "pending", com.zaxxer.hikari.HikariPoolMXBean::getThreadsAwaitingConnection);
    states.forEach((state, read) -> io.micrometer.core.instrument.Gauge.builder("convene.db.pool.connections", pool, read)
        .description("Database pool connections by state (pending: calls waiting for one)").tag("state", state)
        .register(metrics));
    io.micrometer.core.instrument.Gauge.builder("convene.db.pool.max", dataSource, d -> d.getMaximumPoolSize())
        .description("Database pool size").register(metrics);
  }

  /**
   * A new connection outside the pool, for a session that stays open (LISTEN). It has no socket
   * timeout: the caller waits on it with timeouts of its own; TCP keepalive finds a dead peer.
   */
  public java.sql.Connection dedicatedConnection() throws SQLException {
    java.util.Properties p = new java.util.Properties();
    p.putAll(probeProperties);
    p.setProperty("connectTimeout", "5");
    p.setProperty("socketTimeout", "0");
    p.setProperty("tcpKeepAlive", "true");
    return java.sql.DriverManager.getConnection(jdbcUrl, p);
  }

  /** The pool itself, for the hot reads that use plain JDBC. */
  public DataSource dataSource() {
    return dataSource;
  }

  @Override
  public void close() {
    closeProbe();
    dataSource.close();
  }
}
