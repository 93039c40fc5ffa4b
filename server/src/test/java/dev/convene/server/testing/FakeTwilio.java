package dev.convene.server.testing;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * A local fake of Twilio's REST API for the real twilio-java SDK (pointed at it through the
 * provider factory's API override): records every request and answers what {@link #responder}
 * says, with JSON shaped like Twilio's.
 */
public final class FakeTwilio implements AutoCloseable {
  public static final String ACCOUNT = "AC" + "0123456789abcdef0123456789abcdef";
  public static final String KEY = "SK" + "fedcba9876543210fedcba9876543210";
  public static final String ROOM_SID = "RM" + "11112222333344445555666677778888";

  /** One request as the fake received it. */
  public record Hit(String method, String path, Map<String, String> query, Map<String, String> form,
      String authorization) {}

  /** What the fake answers. */
  public record Answer(int status, String json) {}

  private final HttpServer server;
  public final List<Hit> hits = new CopyOnWriteArrayList<>();
  public volatile Function<Hit, Answer> responder = hit -> new Answer(500, "{}");

  public FakeTwilio() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.start();
  }

  /** The base URL to give the provider factory. */
  public String url() {
    return "http://localhost:" + server.getAddress().getPort();
  }

  @Override
  public void close() {
    server.stop(0);
  }

  private void handle(HttpExchange ex) throws IOException {
    String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
    Hit hit = new Hit(ex.getRequestMethod(), ex.getRequestURI().getPath(), decode(ex.getRequestURI().getRawQuery()),
        decode(body), ex.getRequestHeaders().getFirst("Authorization"));
    hits.add(hit);
    Answer answer = responder.apply(hit);
    byte[] bytes = answer.json().getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().add("Content-Type", "application/json");
    ex.sendResponseHeaders(answer.status(), bytes.length);
    ex.getResponseBody().write(bytes);
    ex.close();
  }

  public static Map<String, String> decode(String form) {
    Map<String, String> params = new LinkedHashMap<>();
    if (form == null || form.isEmpty()) {
      return params;
    }
    for (String pair : form.split("&")) {
      int eq = pair.indexOf('=');
      params.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
          URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
    }
    return params;
  }

  /** A Room resource. */
  public static String room(String sid, String name, String status) {
    return """
        {"sid":"%s","status":"%s","type":"group","unique_name":"%s","account_sid":"%s","audio_only":true,
         "date_created":"2026-08-22T10:00:00Z","date_updated":"2026-08-22T10:00:00Z","duration":null,
         "empty_room_timeout":2,"unused_room_timeout":2,"enable_turn":true,"end_time":null,"large_room":false,
         "max_concurrent_published_tracks":170,"max_participant_duration":14400,"max_participants":50,
         "media_region":"de1","record_participants_on_connect":false,
         "status_callback":"https://convene.example/hooks/twilio","status_callback_method":"POST",
         "url":"https://video.twilio.com/v1/Rooms/%s","video_codecs":["VP8","H264"],
         "links":{"participants":"https://video.twilio.com/v1/Rooms/%s/Participants"}}
        """.formatted(sid, status, name, ACCOUNT, sid, sid);
  }

  /** A Participant resource. */
  public static String participant(String identity, String status) {
    return """
        {"sid":"PA%032x","room_sid":"%s","account_sid":"%s","identity":"%s","status":"%s",
         "start_time":"2026-08-22T10:00:05Z","end_time":null,"duration":null,
         "date_created":"2026-08-22T10:00:05Z","date_updated":"2026-08-22T10:00:05Z",
         "url":"https://video.twilio.com/v1/Rooms/%s/Participants/%s","links":{}}
        """.formatted(identity.hashCode(), ROOM_SID, ACCOUNT, identity, status, ROOM_SID, identity);
  }

  /** One page listing the connected participants {@code identities} of room {@code room}. */
  public static String connectedParticipants(String room, String... identities) {
    String page = "https://video.twilio.com/v1/Rooms/" + room + "/Participants?Status=connected&PageSize=50&Page=0";
    return """
        {"participants":[%s],
         "meta":{"page":0,"page_size":50,"first_page_url":"%s","previous_page_url":null,"url":"%s",
                 "next_page_url":null,"key":"participants"}}
        """.formatted(java.util.Arrays.stream(identities).map(i -> participant(i, "connected"))
        .collect(Collectors.joining(",")), page, page);
  }

  /** A Twilio error body. */
  public static String error(int code, int status) {
    return """
        {"code":%d,"message":"fake error %d","more_info":"https://www.twilio.com/docs/errors/%d","status":%d}
        """.formatted(code, code, code, status);
  }
}
