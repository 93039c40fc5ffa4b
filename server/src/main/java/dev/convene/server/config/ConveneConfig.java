package dev.convene.server.config;

import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Map;
import java.util.Optional;

/**
 * The server's whole configuration, read from {@code CONVENE_*} environment variables (each one is
 * documented in README.md). A bad value fails start-up with the variable's name.
 *
 * @param grpcPort             CONVENE_GRPC_PORT: port of the gRPC server (default 9090)
 * @param databaseUrl          CONVENE_DATABASE_URL: JDBC URL of PostgreSQL; empty starts the embedded one
 * @param databaseUser         CONVENE_DATABASE_USER
 * @param databasePassword     CONVENE_DATABASE_PASSWORD (secret: only from the environment)
 * @param poolSize             CONVENE_DATABASE_POOL_SIZE: connections, and so request threads (default 10)
 * @param connectTimeout       CONVENE_DATABASE_CONNECT_TIMEOUT: wait for a connection before UNAVAILABLE (default PT3S)
 * @param embeddedDataDir      CONVENE_EMBEDDED_DATA_DIR: where the embedded PostgreSQL keeps its data (default ./data/postgres)
 * @param embeddedPort         CONVENE_EMBEDDED_PORT: loopback port of the embedded PostgreSQL (default 54329)
 * @param jobInterval          CONVENE_JOB_INTERVAL: how often the job runner looks for due jobs; jobs due at once also wake it (default PT10S)
 * @param shutdownGrace        CONVENE_SHUTDOWN_GRACE: how long shutdown waits for in-flight calls (default PT20S)
 * @param requestQueue         CONVENE_REQUEST_QUEUE: calls that may wait for a request thread (default 1000)
 * @param maxTransactionTime   CONVENE_DATABASE_MAX_TRANSACTION_TIME: ceiling of the statement and lock timeouts
 *                             a change gets from its call's deadline, and the timeouts of changes without a call
 *                             (default PT10S)
 * @param authCacheTtl         CONVENE_AUTH_CACHE_TTL: how long a replica trusts an API key it found live; a
 *                             revoked key may keep working this long (default PT5S, PT0S turns the cache off)
 * @param pageTokenSecret      CONVENE_PAGE_TOKEN_SECRET: base64 of at least 32 bytes that sign page tokens (secret);
 *                             unset, the replicas share one generated on first start and kept in the database
 * @param environment          CONVENE_ENVIRONMENT: {@code development} (default) or {@code production}; production
 *                             refuses to start without CONVENE_DATABASE_URL instead of serving an embedded database
 * @param drainDelay           CONVENE_DRAIN_DELAY: on shutdown, how long the server keeps serving while reporting
 *                             NOT_SERVING, so Envoy's health checks move traffic away first (default PT6S; PT0S
 *                             stops at once)
 * @param databaseStartupWait  CONVENE_DATABASE_STARTUP_WAIT: how long start-up waits for the database to accept
 *                             connections before giving up (default PT60S)
 * @param masterKey            CONVENE_MASTER_KEY: the Tink AEAD keyset (JSON, or base64 of it; make one with
 *                             {@code convene master-key}) that encrypts provider secrets at rest (secret). Required
 *                             in production and with an external database; the embedded development mode generates
 *                             one next to its data directory
 * @param providerTimeout      CONVENE_PROVIDER_TIMEOUT: how long a call to Twilio or LiveKit may take (default PT10S)
 * @param trustForwardedFor    CONVENE_TRUST_FORWARDED_FOR: {@code true} behind Envoy, whose {@code x-forwarded-for}
 *                             then names the client address that access-code throttling counts (default false: the
 *                             connection's peer address)
 * @param reconcileInterval    CONVENE_RECONCILE_INTERVAL: how often a session's live provider room is compared with
 *                             Convene's presence and repaired (default PT60S)
 * @param providerEventRetention CONVENE_PROVIDER_EVENT_RETENTION: how long raw provider callbacks are kept
 *                             (default P7D; at least PT2H, so a replayed callback is always recognised)
 * @param jobLease             CONVENE_JOB_LEASE: how long a replica owns a job it claimed before another may take it
 *                             over (default PT2M; at least three times CONVENE_PROVIDER_TIMEOUT, so a job still
 *                             waiting on a provider is never run twice)
 * @param twilioApiBase        CONVENE_TWILIO_API_BASE: for tests and local development only, a base URL
 *                             ({@code http://localhost:8099}) that replaces every {@code https://*.twilio.com} the Twilio
 *                             SDK calls (a local fake); refused in production
 * @param inviteBaseUrl        CONVENE_INVITE_BASE_URL: the join page invitation links open (their fragment carries the
 *                             session and the code); default {@value #DEFAULT_INVITE_BASE_URL}
 * @param streamHeartbeat      CONVENE_STREAM_HEARTBEAT: a watch stream with nothing to send for this long gets a
 *                             heartbeat, and replicas re-read the log this often in case a notification was lost
 *                             (default PT15S)
 * @param streamBuffer         CONVENE_STREAM_BUFFER: events held for one stream whose client reads slowly before
 *                             it is ended with RESOURCE_EXHAUSTED (default 1000)
 * @param maxStreams           CONVENE_MAX_STREAMS: open watch streams one replica serves (default 20000)
 * @param webhookTimeout       CONVENE_WEBHOOK_TIMEOUT: how long one webhook attempt may take, connect and answer
 *                             (default PT10S)
 * @param webhookAllowedNetworks CONVENE_WEBHOOK_ALLOWED_NETWORKS: comma-separated CIDRs of private, loopback or
 *                             link-local networks webhooks may go to anyway (default none: such addresses are refused)
 * @param metricsPort          CONVENE_METRICS_PORT: port of the Prometheus endpoint {@code /metrics} (default 9464;
 *                             0 turns it off)
 */
public record ConveneConfig(
    int grpcPort,
    Optional<String> databaseUrl,
    String databaseUser,
    String databasePassword,
    int poolSize,
    Duration connectTimeout,
    Path embeddedDataDir,
    int embeddedPort,
    Duration jobInterval,
    Duration shutdownGrace,
    int requestQueue,
    Duration maxTransactionTime,
    Duration authCacheTtl,
    Optional<byte[]> pageTokenSecret,
    String environment,
    Duration drainDelay,
    Duration databaseStartupWait,
    Optional<String> masterKey,
    Duration providerTimeout,
    boolean trustForwardedFor,
    Duration reconcileInterval,
    Duration providerEventRetention,
    String inviteBaseUrl,
    Optional<String> twilioApiBase,
    Duration jobLease,
    Duration streamHeartbeat,
    int streamBuffer,
    int maxStreams,
    Duration webhookTimeout,
    java.util.List<String> webhookAllowedNetworks,
    int metricsPort) {
  public static final String DEFAULT_INVITE_BASE_URL = "http://localhost:8000/?edge=http://localhost:8080";


  /** True when the deployment declared itself production (CONVENE_ENVIRONMENT=production). */
  public boolean production() {
    return environment.equals("production");
  }

  public static ConveneConfig fromEnv(Map<String, String> env) {
    Reader r = new Reader(env);
    return new ConveneConfig(
        r.integer("CONVENE_GRPC_PORT", 9090, 0, 65535),
        r.optional("CONVENE_DATABASE_URL"),
        r.string("CONVENE_DATABASE_USER", ""),
        r.string("CONVENE_DATABASE_PASSWORD", ""),
        r.integer("CONVENE_DATABASE_POOL_SIZE", 10, 1, 200),
        r.duration("CONVENE_DATABASE_CONNECT_TIMEOUT", Duration.ofSeconds(3)),
        Path.of(r.string("CONVENE_EMBEDDED_DATA_DIR", "./data/postgres")),
        r.integer("CONVENE_EMBEDDED_PORT", 54329, 1, 65535),
        r.duration("CONVENE_JOB_INTERVAL", Duration.ofSeconds(10)),
        r.duration("CONVENE_SHUTDOWN_GRACE", Duration.ofSeconds(20)),
        r.integer("CONVENE_REQUEST_QUEUE", 1000, 1, 1_000_000),
        r.duration("CONVENE_DATABASE_MAX_TRANSACTION_TIME", Duration.ofSeconds(10)),
        r.durationOrZero("CONVENE_AUTH_CACHE_TTL", Duration.ofSeconds(5)),
        r.secret("CONVENE_PAGE_TOKEN_SECRET", 32),
        r.oneOf("CONVENE_ENVIRONMENT", "development", "development", "production"),
        r.durationOrZero("CONVENE_DRAIN_DELAY", Duration.ofSeconds(6)),
        r.duration("CONVENE_DATABASE_STARTUP_WAIT", Duration.ofSeconds(60)),
        r.optional("CONVENE_MASTER_KEY"),
        r.duration("CONVENE_PROVIDER_TIMEOUT", Duration.ofSeconds(10)),
        r.oneOf("CONVENE_TRUST_FORWARDED_FOR", "false", "false", "true").equals("true"),
        r.duration("CONVENE_RECONCILE_INTERVAL", Duration.ofSeconds(60)),
        atLeast("CONVENE_PROVIDER_EVENT_RETENTION", r.duration("CONVENE_PROVIDER_EVENT_RETENTION", Duration.ofDays(7)),
            Duration.ofHours(2)),
        httpUrl("CONVENE_INVITE_BASE_URL", r.string("CONVENE_INVITE_BASE_URL", DEFAULT_INVITE_BASE_URL)),
        r.optional("CONVENE_TWILIO_API_BASE").map(v -> httpUrl("CONVENE_TWILIO_API_BASE", v)),
        atLeast("CONVENE_JOB_LEASE", r.duration("CONVENE_JOB_LEASE", Duration.ofMinutes(2)),
            r.duration("CONVENE_PROVIDER_TIMEOUT", Duration.ofSeconds(10)).multipliedBy(3)),
        r.duration("CONVENE_STREAM_HEARTBEAT", Duration.ofSeconds(15)),
        r.integer("CONVENE_STREAM_BUFFER", 1000, 10, 1_000_000),
        r.integer("CONVENE_MAX_STREAMS", 20_000, 1, 1_000_000),
        r.duration("CONVENE_WEBHOOK_TIMEOUT", Duration.ofSeconds(10)),
        networks(r.string("CONVENE_WEBHOOK_ALLOWED_NETWORKS", "")),
        r.integer("CONVENE_METRICS_PORT", 9464, 0, 65535));
  }

  @Override
  public String toString() {
    // Never print the password.
    return "ConveneConfig[environment=" + environment + ", grpcPort=" + grpcPort
        + ", database=" + (databaseUrl.isPresent() ? "external" : "embedded")
        + ", poolSize=" + poolSize + ", embeddedDataDir=" + embeddedDataDir + ", jobInterval=" + jobInterval + "]";
  }

  private static String httpUrl(String name, String value) {
    if (!value.matches("^https?://[^/@#?\\s]+(/[^#\\s]*)?$")) {
      throw new IllegalArgumentException(name + " must be an http:// or https:// URL without a fragment");
    }
    return value;
  }

  /** The comma-separated CIDRs; each is parsed (and a bad one refused, naming the variable) by the webhook feature. */
  private static java.util.List<String> networks(String value) {
    return java.util.Arrays.stream(value.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }

  private static Duration atLeast(String name, Duration value, Duration min) {
    if (value.compareTo(min) < 0) {
      throw new IllegalArgumentException(name + " must be at least " + min);
    }
    return value;
  }

  /** Reads typed values, failing with the variable's name. */
  private record Reader(Map<String, String> env) {
    Optional<String> optional(String name) {
      String v = env.get(name);
      return v == null || v.isBlank() ? Optional.empty() : Optional.of(v.trim());
    }

    String string(String name, String dflt) {
      return optional(name).orElse(dflt);
    }

    String oneOf(String name, String dflt, String... allowed) {
      String v = string(name, dflt);
      if (!java.util.Arrays.asList(allowed).contains(v)) {
        throw new IllegalArgumentException(name + " must be one of " + String.join(", ", allowed));
      }
      return v;
    }

    int integer(String name, int dflt, int min, int max) {
      Optional<String> v = optional(name);
      if (v.isEmpty()) {
        return dflt;
      }
      try {
        int n = Integer.parseInt(v.get());
        if (n < min || n > max) {
          throw new IllegalArgumentException(name + " must be between " + min + " and " + max + ", got " + n);
        }
        return n;
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(name + " must be a whole number, got '" + v.get() + "'");
      }
    }

    /** Base64 of at least {@code minBytes} bytes. */
    Optional<byte[]> secret(String name, int minBytes) {
      Optional<String> v = optional(name);
      if (v.isEmpty()) {
        return Optional.empty();
      }
      byte[] bytes;
      try {
        bytes = java.util.Base64.getDecoder().decode(v.get());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(name + " must be base64");
      }
      if (bytes.length < minBytes) {
        throw new IllegalArgumentException(name + " must hold at least " + minBytes + " bytes");
      }
      return Optional.of(bytes);
    }

    Duration durationOrZero(String name, Duration dflt) {
      return duration(name, dflt, true);
    }

    Duration duration(String name, Duration dflt) {
      return duration(name, dflt, false);
    }

    private Duration duration(String name, Duration dflt, boolean zeroAllowed) {
      Optional<String> v = optional(name);
      if (v.isEmpty()) {
        return dflt;
      }
      try {
        Duration d = Duration.parse(v.get());
        if (d.isNegative() || (d.isZero() && !zeroAllowed)) {
          throw new IllegalArgumentException(name + " must be positive, got " + v.get());
        }
        return d;
      } catch (DateTimeParseException e) {
        throw new IllegalArgumentException(name + " must be an ISO-8601 duration such as PT10S, got '" + v.get() + "'");
      }
    }
  }
}
