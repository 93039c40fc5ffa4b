package dev.convene.server.testing;

import dev.convene.server.ConveneServer;
import dev.convene.server.platform.IdGenerator;
import dev.convene.server.Main;
import dev.convene.server.grpc.Admission;
import dev.convene.server.auth.AuthInterceptor;
import dev.convene.server.auth.Tenants;
import dev.convene.server.config.ConveneConfig;
import dev.convene.server.db.Database;
import dev.convene.server.platform.Feature;
import dev.convene.server.platform.JobRunner;
import dev.convene.server.platform.Platform;
import io.grpc.CallCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import org.jdbi.v3.core.Jdbi;

/**
 * The real server wiring (interceptors, services, executor) on an in-process transport, over a
 * fresh real PostgreSQL database, with two tenants and a clock the test moves.
 */
public final class TestServer implements AutoCloseable {
  public static final Instant T0 = Instant.parse("2030-01-01T10:00:00Z");
  /** A master key made for this test run. */
  public static final String MASTER_KEY = dev.convene.server.platform.SecretBox.newKeyset();

  public final Database database;
  public final MutableClock clock = new MutableClock(T0);
  public final Tenants.IssuedKey tenantA;
  public final Tenants.IssuedKey tenantB;
  public final ManagedChannel channel;
  public final Platform platform;
  private final List<Feature> features;
  private final ConveneServer server;
  public final Admission admission;
  /** What the server records for operators; {@code metrics.scrape()} is what Prometheus would read. */
  public final dev.convene.server.metrics.MetricsEndpoint metrics = new dev.convene.server.metrics.MetricsEndpoint();

  public TestServer() {
    this(IdGenerator.random());
  }

  public TestServer(IdGenerator ids) {
    this(TestPostgres.freshDatabase(8), ids);
  }

  /** Serves over {@code database}, which this server closes. */
  public TestServer(Database database, IdGenerator ids) {
    this(database, ids, new Admission(8, 1000));
  }

  /** Serves over {@code database} with {@code admission}'s request threads and queue. */
  public TestServer(Database database, IdGenerator ids, Admission admission) {
    this(database, ids, admission, new dev.convene.server.provider.ProviderFactory(Duration.ofSeconds(5), null));
  }

  /** A server whose Twilio provider calls {@code twilioApi} (a local fake) instead of Twilio. */
  public static TestServer withTwilioAt(String twilioApi) {
    return new TestServer(TestPostgres.freshDatabase(8), IdGenerator.random(), new Admission(8, 1000),
        new dev.convene.server.provider.ProviderFactory(Duration.ofSeconds(5), twilioApi));
  }

  /** Serves with providers built by {@code providers} (e.g. Twilio pointed at a local fake). */
  public TestServer(Database database, IdGenerator ids, Admission admission,
      dev.convene.server.provider.ProviderFactory providers) {
    this(database, ids, admission, providers, Main.FeatureSettings.defaults());
  }

  /** A server whose features are configured with {@code settings} (short stream heartbeats, small buffers). */
  public TestServer(Database database, Main.FeatureSettings settings) {
    this(database, IdGenerator.random(), new Admission(8, 1000),
        new dev.convene.server.provider.ProviderFactory(Duration.ofSeconds(5), null), settings);
  }

  public TestServer(Database database, IdGenerator ids, Admission admission,
      dev.convene.server.provider.ProviderFactory providers, Main.FeatureSettings settings) {
    this.database = database;
    this.admission = admission;
    Tenants tenants = new Tenants(database.jdbi(), clock, ids);
    tenantA = tenants.createTenant("tenant a");
    tenantB = tenants.createTenant("tenant b");
    String name = InProcessServerBuilder.generateName();
    // The clock only moves when a test moves it, so the API key cache is off (AuthenticationTest
    // tests it on its own).
    platform = Main.platform(database, clock, ids, ConveneConfig.fromEnv(Map.of("CONVENE_MASTER_KEY", MASTER_KEY)),
        metrics.registry());
    features = Main.features(platform, providers, settings);
    server = new ConveneServer(InProcessServerBuilder.forName(name), admission,
        new AuthInterceptor(database.jdbi(), clock, Duration.ZERO), Main.validation(), Main.services(features),
        metrics.registry());
    server.beforeStopping(() -> features.forEach(Feature::stop));
    try {
      server.start();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    platform.signal().start();
    features.forEach(Feature::start);
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
  }

  /** Starts the server's readiness watch of its database (health NOT_SERVING while it is down). */
  public void watchDatabase() {
    server.watchDatabase(database::answers);
  }

  /** Shuts the server down as Main does: NOT_SERVING, serving on for {@code drainDelay}, then draining. */
  public void shutdown(Duration drainDelay, Duration grace) {
    server.shutdown(drainDelay, grace);
  }

  public Jdbi jdbi() {
    return database.jdbi();
  }

  /** This server's feature of type {@code type}. */
  public <F extends Feature> F feature(Class<F> type) {
    return features.stream().filter(type::isInstance).map(type::cast).findFirst().orElseThrow();
  }

  /** A job runner over this server's features, as another replica would run one. */
  public JobRunner jobs() {
    return Main.jobs(platform, features);
  }

  /** Sends {@code authorization: Bearer <key>}. */
  public static CallCredentials bearer(String key) {
    return new CallCredentials() {
      @Override
      public void applyRequestMetadata(RequestInfo info, Executor appExecutor, MetadataApplier applier) {
        Metadata m = new Metadata();
        m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
        applier.apply(m);
      }
    };
  }

  public void shutdown(Duration grace) {
    server.shutdown(grace);
  }

  @Override
  public void close() {
    channel.shutdownNow();
    server.shutdown(Duration.ofSeconds(5));
    platform.signal().close();
    admission.close();
    database.close();
  }
}
