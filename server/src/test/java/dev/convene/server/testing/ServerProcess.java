package dev.convene.server.testing;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * A Convene server in a JVM of its own (the test's class path, {@code dev.convene.server.Main}) on
 * a test's database, with fast jobs and short leases, so a test can SIGKILL it mid-work and start
 * another: what crash tests are made of. Its output goes to {@code log}.
 */
public final class ServerProcess {
  private ServerProcess() {}

  /** Starts one on {@code databaseUrl}; {@code env} adds to or overrides the defaults. */
  public static Process start(String databaseUrl, Path log, Map<String, String> env) throws java.io.IOException {
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), "dev.convene.server.Main");
    Map<String, String> all = new HashMap<>(Map.of(
        "CONVENE_DATABASE_URL", databaseUrl,
        "CONVENE_MASTER_KEY", TestServer.MASTER_KEY,
        "CONVENE_GRPC_PORT", "0",
        "CONVENE_METRICS_PORT", "0",
        "CONVENE_JOB_INTERVAL", "PT0.2S",
        "CONVENE_PROVIDER_TIMEOUT", "PT1S",
        "CONVENE_JOB_LEASE", "PT3S",
        "CONVENE_DRAIN_DELAY", "PT0S"));
    all.putAll(env);
    pb.environment().putAll(all);
    return pb.redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }
}
