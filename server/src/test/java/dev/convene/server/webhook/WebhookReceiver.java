package dev.convene.server.webhook;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.function.Function;

/** A local webhook receiver: records every request, answers what {@link #answer} says (or stalls). */
final class WebhookReceiver implements AutoCloseable {
  /** One request as it arrived, and what it was answered. */
  record Hit(String id, String timestamp, String signature, String body, int answered, String method) {
    Map<String, List<String>> headers() {
      return Map.of("webhook-id", List.of(id), "webhook-timestamp", List.of(timestamp),
          "webhook-signature", List.of(signature));
    }
  }

  /** The status to answer a request with (its index among all requests, from 0); -1 stalls it. */
  volatile Function<Integer, Integer> answer = n -> 200;
  final List<Hit> hits = new CopyOnWriteArrayList<>();
  final CountDownLatch release = new CountDownLatch(1);
  private final HttpServer http;

  WebhookReceiver() throws IOException {
    http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
    http.setExecutor(Executors.newCachedThreadPool());
    http.createContext("/hook", exchange -> {
      try (exchange) {
        String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        int status;
        synchronized (this) {
          status = answer.apply(hits.size());
          var h = exchange.getRequestHeaders();
          hits.add(new Hit(h.getFirst("webhook-id"), h.getFirst("webhook-timestamp"), h.getFirst("webhook-signature"),
              body, status, exchange.getRequestMethod()));
        }
        if (status < 0) {
          release.await(); // stalls until the test ends
          return;
        }
        if (status >= 300 && status < 400) {
          exchange.getResponseHeaders().set("Location", url()); // a client that followed it would come back here
        }
        byte[] out = "ok".getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(status, out.length);
        try (OutputStream o = exchange.getResponseBody()) {
          o.write(out);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    http.start();
  }

  String url() {
    return "http://127.0.0.1:" + http.getAddress().getPort() + "/hook";
  }

  /** The hits answered 2xx, in arrival order. */
  List<Hit> accepted() {
    return hits.stream().filter(h -> h.answered() >= 200 && h.answered() < 300).toList();
  }

  @Override
  public void close() {
    release.countDown();
    http.stop(0);
  }
}
