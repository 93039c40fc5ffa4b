package dev.convene.server.testing;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A real livekit-server (v1.13.5) on loopback for tests: the binary from LIVEKIT_SERVER_BIN, else
 * built and cached by {@code src/test/providers/livekit-server.sh} (never a silent skip). Rooms are
 * not created by joins ({@code auto_create: false}); the output goes to {@code target/<name>.log}.
 */
public final class LiveKitServer implements AutoCloseable {
  public static final String API_KEY = "convene-test";
  public static final String SECRET = "lk-test-secret-0123456789-abcdefghijklmnopq";

  private final Process process;
  private final Path log;
  private final String url;

  private LiveKitServer(Process process, Path log, String url) {
    this.process = process;
    this.log = log;
    this.url = url;
  }

  /** Starts a server whose output goes to {@code target/<logName>.log}, and waits until it answers. */
  public static LiveKitServer start(String logName) throws Exception {
    Path bin = binary();
    int port = freeTcpPort();
    int rtcTcp = freeTcpPort();
    int udp;
    try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      udp = s.getLocalPort();
    }
    // node_ip and no external IP keep the server from asking a public STUN server for its address.
    String config = """
        port: %d
        bind_addresses: ["127.0.0.1"]
        keys:
          %s: %s
        rtc:
          tcp_port: %d
          port_range_start: %d
          port_range_end: %d
          use_external_ip: false
          node_ip: 127.0.0.1
        turn:
          enabled: false
        room:
          auto_create: false
        logging:
          level: info
        """.formatted(port, API_KEY, SECRET, rtcTcp, udp, udp + 4);
    // Kept in target/ for a failure's post-mortem; it holds only test keys and tokens.
    Path log = Path.of("target", logName + ".log");
    Files.createDirectories(log.getParent());
    // The config travels as an argument: only test keys are in it.
    Process process = new ProcessBuilder(bin.toString(), "--config-body", config)
        .redirectErrorStream(true)
        .redirectOutput(log.toFile())
        .start();
    LiveKitServer server = new LiveKitServer(process, log, "http://127.0.0.1:" + port);
    server.awaitHealthy(Duration.ofSeconds(20));
    return server;
  }

  /** {@code http://127.0.0.1:<port>}. */
  public String url() {
    return url;
  }

  public Path log() {
    return log;
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor();
    }
  }

  /** LIVEKIT_SERVER_BIN, else the script that builds and caches the binary. */
  static Path binary() throws IOException, InterruptedException {
    String fromEnv = System.getenv("LIVEKIT_SERVER_BIN");
    if (fromEnv != null && !fromEnv.isBlank()) {
      return Path.of(fromEnv);
    }
    Path script = Path.of("src/test/providers/livekit-server.sh").toAbsolutePath();
    Process p = new ProcessBuilder("bash", script.toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT)
        .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    if (p.waitFor() != 0 || out.isEmpty()) {
      throw new IllegalStateException(script + " failed (exit " + p.exitValue() + "); set LIVEKIT_SERVER_BIN");
    }
    String[] lines = out.split("\n");
    return Path.of(lines[lines.length - 1]);
  }

  public static int freeTcpPort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private void awaitHealthy(Duration within) throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    long deadline = System.nanoTime() + within.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException("livekit-server exited " + process.exitValue() + ":\n" + Files.readString(log));
      }
      try {
        if (http.send(HttpRequest.newBuilder(URI.create(url + "/")).build(), HttpResponse.BodyHandlers.discarding())
            .statusCode() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("livekit-server not healthy within " + within + ":\n" + Files.readString(log));
  }
}
