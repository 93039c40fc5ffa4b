package dev.convene.server;

import build.buf.protovalidate.ValidatorFactory;
import dev.convene.server.auth.AuthInterceptor;
import dev.convene.server.auth.Tenants;
import dev.convene.server.config.ConveneConfig;
import dev.convene.server.db.Database;
import dev.convene.server.db.EmbeddedDatabase;
import dev.convene.server.grpc.Admission;
import dev.convene.server.grpc.ValidationInterceptor;
import dev.convene.server.platform.EventLog;
import dev.convene.server.platform.EventSignal;
import dev.convene.server.platform.Feature;
import dev.convene.server.platform.IdGenerator;
import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.JobRunner;
import dev.convene.server.platform.PageTokens;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.SecretBox;
import dev.convene.server.platform.Shutdown;
import dev.convene.server.platform.UnitOfWork;
import dev.convene.server.session.SessionFeature;
import dev.convene.server.credential.CredentialFeature;
import dev.convene.server.provider.ProviderFactory;
import dev.convene.server.group.GroupFeature;
import dev.convene.server.invitation.InvitationFeature;
import dev.convene.server.presence.PresenceFeature;
import dev.convene.server.provider.ProviderFeature;
import dev.convene.server.token.TokenFeature;
import dev.convene.server.user.UserFeature;
import dev.convene.server.call.CallFeature;
import dev.convene.server.event.EventFeature;
import dev.convene.server.webhook.WebhookFeature;
import dev.convene.server.metrics.MetricsEndpoint;
import io.micrometer.core.instrument.MeterRegistry;
import io.grpc.BindableService;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The composition root and command line: {@code serve} (the default) runs the server; {@code tenant}
 * and {@code key} administer tenants and API keys against the configured database.
 */
@Command(name = "convene", mixinStandardHelpOptions = true,
    description = "Convene: the session backend for video and voice calls.",
    subcommands = {Main.Serve.class, Main.DatabaseCommand.class, Main.TenantCommand.class, Main.KeyCommand.class,
        Main.MasterKeyCommand.class})
public final class Main implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(Main.class);

  public static void main(String[] args) {
    CommandLine cli = new CommandLine(new Main());
    // An operator gets one line naming what went wrong, not a stack trace.
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      cmd.getErr().println("convene: " + e.getMessage());
      log.debug("Command failed", e);
      return 1;
    });
    System.exit(cli.execute(args));
  }

  @Override
  public void run() {
    new Serve().run();
  }

  /** The shared layer, built once from the database, the clock and the id source. */
  public static Platform platform(Database database, Clock clock, IdGenerator ids, ConveneConfig config,
      MeterRegistry metrics) {
    Jdbi jdbi = database.jdbi();
    database.bindMetrics(metrics);
    EventSignal signal = new EventSignal(database::dedicatedConnection);
    return new Platform(jdbi, database.dataSource(), clock, ids,
        new UnitOfWork(jdbi, clock, config.maxTransactionTime(), signal), new EventLog(jdbi),
        PageTokens.load(jdbi, clock, config.pageTokenSecret().orElse(null)), secretBox(config), signal,
        metrics);
  }

  /**
   * The master key: CONVENE_MASTER_KEY; or, for the embedded development database only, a keyset
   * generated into {@code master-key.json} beside its data directory. An external database needs the
   * variable, so that every replica decrypts what the others encrypted.
   */
  static SecretBox secretBox(ConveneConfig config) {
    if (config.masterKey().isPresent()) {
      return SecretBox.of(config.masterKey().get());
    }
    if (config.databaseUrl().isPresent() || config.production()) {
      throw new IllegalStateException("CONVENE_MASTER_KEY is required with an external database or in production; "
          + "make one with 'convene master-key' and give every replica the same one");
    }
    return SecretBox.inFile(config.embeddedDataDir().toAbsolutePath().normalize().resolveSibling("master-key.json"));
  }

  /** Every feature of the server: the one place a new feature is wired in. */
  /** What the features are configured with beyond the platform (see ConveneConfig). */
  public record FeatureSettings(PresenceFeature.Settings presence, String inviteBaseUrl, EventFeature.Settings events,
      WebhookFeature.Settings webhooks) {
    public static FeatureSettings defaults() {
      return new FeatureSettings(PresenceFeature.Settings.defaults(), ConveneConfig.DEFAULT_INVITE_BASE_URL,
          EventFeature.Settings.defaults(), WebhookFeature.Settings.defaults());
    }
  }

  public static List<Feature> features(Platform platform, ProviderFactory providerFactory) {
    return features(platform, providerFactory, FeatureSettings.defaults());
  }

  public static List<Feature> features(Platform platform, ProviderFactory providerFactory, FeatureSettings settings) {
    CredentialFeature credentials = new CredentialFeature(platform);
    ProviderFeature providers = new ProviderFeature(platform, providerFactory);
    TokenFeature tokens = new TokenFeature(platform, providers, credentials.issuer());
    PresenceFeature presence = new PresenceFeature(platform, providers, settings.presence());
    GroupFeature groups = new GroupFeature(platform, tokens);
    InvitationFeature invitations = new InvitationFeature(platform, tokens, providers, presence, groups,
        credentials.issuer(), settings.inviteBaseUrl());
    return List.of(new SessionFeature(platform), credentials, providers, tokens, new CallFeature(platform, providers),
        presence, groups, invitations, new UserFeature(platform, invitations),
        new EventFeature(platform, settings.events()), new WebhookFeature(platform, settings.webhooks()));
  }

  public static List<BindableService> services(List<Feature> features) {
    return features.stream().flatMap(f -> f.services().stream()).toList();
  }

  public static JobRunner jobs(Platform platform, List<Feature> features) {
    return jobs(platform, features, JobRunner.Settings.defaults().lease());
  }

  /** The job runner over every feature's handlers, claiming jobs for {@code lease} (CONVENE_JOB_LEASE). */
  public static JobRunner jobs(Platform platform, List<Feature> features, java.time.Duration lease) {
    List<JobHandler> handlers = features.stream().flatMap(f -> f.jobs().stream()).toList();
    JobRunner.Settings d = JobRunner.Settings.defaults();
    return new JobRunner(platform.uow(), handlers,
        new JobRunner.Settings(d.batch(), lease, d.maxAttempts(), d.firstBackoff(), d.maxBackoff()), platform.metrics());
  }

  public static ValidationInterceptor validation() {
    return new ValidationInterceptor(ValidatorFactory.newBuilder().build());
  }

  /**
   * Runs the hottest code of a call (protovalidate's compiled rules and CEL, the JDBC driver's
   * round trip) a few thousand times before the server reports SERVING, so the first calls Envoy
   * sends are not the ones that pay for class loading and the first JIT tiers.
   */
  static void warmUp(ValidationInterceptor validation, javax.sql.DataSource ds) {
    long start = System.nanoTime();
    var ts = com.google.protobuf.Timestamp.newBuilder().setSeconds(1_900_000_000L).build();
    var create = dev.convene.v1.CreateSessionRequest.newBuilder().setExternalRef("warm-up").setTitle("warm-up")
        .setMedia(dev.convene.v1.MediaType.MEDIA_TYPE_VIDEO).setScheduledStartTime(ts)
        .setScheduledEndTime(ts.toBuilder().setSeconds(ts.getSeconds() + 1800)).putMetadata("k", "v")
        .addParticipants(dev.convene.v1.ParticipantSpec.newBuilder().setUserId("u")
            .setRole(dev.convene.v1.ParticipantRole.PARTICIPANT_ROLE_HOST)).build();
    var get = dev.convene.v1.GetSessionRequest.newBuilder().setSessionId("ses_warmup").build();
    for (int i = 0; i < 3000; i++) {
      validation.violations(create);
      validation.violations(get);
    }
    try (java.sql.Connection c = ds.getConnection(); var ps = c.prepareStatement("SELECT 1")) {
      for (int i = 0; i < 300; i++) {
        ps.executeQuery().close();
      }
    } catch (java.sql.SQLException e) {
      log.warn("Warm-up could not reach the database: {}", e.getClass().getSimpleName());
    }
    log.info("Warmed up in {} ms", java.time.Duration.ofNanos(System.nanoTime() - start).toMillis());
  }

  /**
   * The server's transport. Envoy keeps its upstream connections alive with HTTP/2 pings
   * (envoy.yaml: every 30 s, clients may choose 10 s); gRPC's default would answer pings more often
   * than every 5 minutes with a too_many_pings GOAWAY, ending every call on the connection.
   */
  static NettyServerBuilder netty(int port) {
    return NettyServerBuilder.forPort(port)
        .permitKeepAliveTime(5, java.util.concurrent.TimeUnit.SECONDS).permitKeepAliveWithoutCalls(true);
  }

  /** The configured database, or the embedded one (started, or attached to if already running). */
  static final class Db implements AutoCloseable {
    final Database database;
    final EmbeddedDatabase embedded;

    Db(ConveneConfig config, boolean attachToRunning) {
      if (config.databaseUrl().isEmpty() && config.production()) {
        // A production replica whose database variable went missing must not serve an empty
        // embedded database behind the load balancer.
        throw new IllegalStateException("CONVENE_ENVIRONMENT=production needs CONVENE_DATABASE_URL; "
            + "refusing to start an embedded database");
      }
      if (config.databaseUrl().isPresent()) {
        embedded = null;
        database = Database.open(config.databaseUrl().get(), config);
      } else if (attachToRunning && listening(config.embeddedPort())) {
        embedded = null;
        database = Database.open("jdbc:postgresql://127.0.0.1:" + config.embeddedPort() + "/postgres?user=postgres",
            config);
      } else {
        try {
          embedded = EmbeddedDatabase.start(config.embeddedDataDir(), config.embeddedPort());
        } catch (IllegalStateException e) {
          throw new IllegalStateException("the embedded PostgreSQL in " + config.embeddedDataDir()
              + " is in use by another process and not listening on CONVENE_EMBEDDED_PORT=" + config.embeddedPort()
              + "; set CONVENE_EMBEDDED_PORT to the port it uses", e);
        }
        database = Database.open(embedded.jdbcUrl(), config);
      }
    }

    private static boolean listening(int port) {
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 500);
        return true;
      } catch (java.io.IOException e) {
        return false;
      }
    }

    @Override
    public void close() {
      database.close();
      if (embedded != null) {
        embedded.close();
      }
    }
  }

  @Command(name = "serve", description = "Run the gRPC server (the default command).")
  static final class Serve implements Runnable {
    @Override
    public void run() {
      ConveneConfig config = ConveneConfig.fromEnv(System.getenv());
      log.info("Starting Convene with {}", config);
      Clock clock = Clock.systemUTC();
      IdGenerator ids = IdGenerator.random();
      Db db = new Db(config, false);
      Jdbi jdbi = db.database.jdbi();
      if (db.embedded != null) {
        new Tenants(jdbi, clock, ids).bootstrapDevTenant().ifPresent(k -> System.out.printf(
            "%nFirst start: created tenant 'dev'. Its API key (shown once, stored hashed):%n%n    %s%n%n", k.key()));
      }
      MetricsEndpoint metrics = new MetricsEndpoint();
      Platform platform = platform(db.database, clock, ids, config, metrics.registry());
      if (config.production() && config.twilioApiBase().isPresent()) {
        throw new IllegalArgumentException("CONVENE_TWILIO_API_BASE is for tests and development: not in production");
      }
      List<Feature> features = features(platform,
          new ProviderFactory(config.providerTimeout(), config.twilioApiBase().orElse(null)),
          new FeatureSettings(new PresenceFeature.Settings(config.reconcileInterval(), config.providerEventRetention()),
              config.inviteBaseUrl(),
              new EventFeature.Settings(config.streamHeartbeat(), config.streamBuffer(), config.maxStreams()),
              new WebhookFeature.Settings(config.webhookTimeout(), config.webhookAllowedNetworks(),
                  java.time.Duration.ofSeconds(1))));
      Admission admission = new Admission(config.poolSize(), config.requestQueue());
      ValidationInterceptor validation = validation();
      warmUp(validation, db.database.dataSource());
      ConveneServer server = new ConveneServer(netty(config.grpcPort()), admission,
          new AuthInterceptor(jdbi, clock, config.authCacheTtl(), config.trustForwardedFor()), validation,
          services(features), metrics.registry());
      server.beforeStopping(() -> features.forEach(Feature::stop));
      JobRunner jobs = jobs(platform, features, config.jobLease());
      Shutdown shutdown = new Shutdown()
          .then("report NOT_SERVING, keep serving for the drain delay, then drain in-flight calls",
              () -> server.shutdown(config.drainDelay(), config.shutdownGrace()))
          .then("let a running job finish", jobs::close)
          .then("stop the request threads", admission::close)
          .then("stop telling other replicas of new events", platform.signal()::close)
          .then("stop serving metrics", metrics::close)
          .then("close the database", db::close);
      try {
        server.start();
      } catch (java.io.IOException e) {
        db.close();
        throw new IllegalStateException("could not listen on port " + config.grpcPort(), e);
      }
      server.watchDatabase(db.database::answers);
      platform.signal().start();
      features.forEach(Feature::start);
      if (config.metricsPort() > 0) {
        try {
          log.info("Serving Prometheus metrics on port {} (/metrics)", metrics.serve("0.0.0.0", config.metricsPort()));
        } catch (java.io.IOException e) {
          throw new IllegalStateException("could not serve metrics on CONVENE_METRICS_PORT=" + config.metricsPort(), e);
        }
      }
      jobs.start(config.jobInterval());
      log.info("Convene is serving gRPC on port {}", server.port());
      features.stream().filter(ProviderFeature.class::isInstance).map(ProviderFeature.class::cast)
          .forEach(ProviderFeature::checkAllInBackground);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        log.info("Shutting down: draining in-flight calls for up to {}", config.shutdownGrace());
        shutdown.run();
      }, "convene-shutdown"));
      try {
        server.awaitTermination();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Command(name = "database", description = "Run only the embedded PostgreSQL (durable serving mode) until stopped, "
      + "for replicas that share it through CONVENE_DATABASE_URL.")
  static final class DatabaseCommand implements Runnable {
    @Override
    public void run() {
      ConveneConfig config = ConveneConfig.fromEnv(System.getenv());
      EmbeddedDatabase embedded = EmbeddedDatabase.start(config.embeddedDataDir(), config.embeddedPort());
      CountDownLatch stopped = new CountDownLatch(1);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        embedded.close();
        stopped.countDown();
      }, "convene-database-stop"));
      log.info("PostgreSQL is serving on 127.0.0.1:{} (data in {}); stop with SIGTERM", config.embeddedPort(),
          config.embeddedDataDir());
      try {
        stopped.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Command(name = "master-key", description = "Print a new master key (a Tink AES-256-GCM keyset) for "
      + "CONVENE_MASTER_KEY. Secret: keep it in a secret store; every replica needs the same one.")
  static final class MasterKeyCommand implements Runnable {
    @Override
    public void run() {
      System.out.println(java.util.Base64.getEncoder().encodeToString(
          SecretBox.newKeyset().getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }
  }

  @Command(name = "tenant", description = "Administer tenants.", subcommands = TenantCommand.Create.class)
  static final class TenantCommand {
    @Command(name = "create", description = "Create a tenant and print its first API key (shown once).")
    static final class Create implements Runnable {
      @Option(names = "--name", required = true, description = "The tenant's name.")
      String name;

      @Override
      public void run() {
        try (Db db = new Db(ConveneConfig.fromEnv(System.getenv()), true)) {
          Tenants.IssuedKey k = new Tenants(db.database.jdbi(), Clock.systemUTC(), IdGenerator.random()).createTenant(name);
          System.out.printf("tenant: %s%nkey id: %s%napi key: %s%n", k.tenantId(), k.keyId(), k.key());
        }
      }
    }
  }

  @Command(name = "key", description = "Administer API keys.", subcommands = {KeyCommand.Create.class, KeyCommand.Revoke.class})
  static final class KeyCommand {
    @Command(name = "create", description = "Create another API key for a tenant and print it (shown once).")
    static final class Create implements Runnable {
      @Option(names = "--tenant", required = true, description = "The tenant id.")
      String tenant;

      @Override
      public void run() {
        try (Db db = new Db(ConveneConfig.fromEnv(System.getenv()), true)) {
          Tenants.IssuedKey k = new Tenants(db.database.jdbi(), Clock.systemUTC(), IdGenerator.random()).createKey(tenant);
          System.out.printf("key id: %s%napi key: %s%n", k.keyId(), k.key());
        }
      }
    }

    @Command(name = "revoke", description = "Revoke an API key by its id (key_...).")
    static final class Revoke implements java.util.concurrent.Callable<Integer> {
      @Option(names = "--key-id", required = true, description = "The key id.")
      String keyId;

      @Override
      public Integer call() {
        try (Db db = new Db(ConveneConfig.fromEnv(System.getenv()), true)) {
          boolean revoked = new Tenants(db.database.jdbi(), Clock.systemUTC(), IdGenerator.random()).revokeKey(keyId);
          System.out.println(revoked ? "revoked " + keyId : "no live key " + keyId);
          return revoked ? 0 : 1;
        }
      }
    }
  }
}
