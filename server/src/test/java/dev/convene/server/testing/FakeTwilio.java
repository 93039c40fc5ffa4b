package dev.convene.server.testing;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Supplier;
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

  /**
   * What the fake answers. {@code stall}: read the request, then answer nothing until the fake is
   * closed (the client's read times out: "accepted, then the connection hung").
   */
  public record Answer(int status, String json, boolean stall) {
    public Answer(int status, String json) {
      this(status, json, false);
    }

    /** No answer at all, until the fake closes. */
    public static Answer stalled() {
      return new Answer(0, "", true);
    }
  }

  /** A message the fake accepted (see {@link #acceptMessage}); {@code sent} doubles as date_sent. */
  public record Sms(String sid, String to, String from, String messagingServiceSid, String body,
      String statusCallback, Instant sent) {}

  private final HttpServer server;
  // Handlers on their own threads, so a stalled answer does not hold the next request (or close()).
  private final ExecutorService handlers = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "fake-twilio");
    t.setDaemon(true);
    return t;
  });
  private final CountDownLatch closed = new CountDownLatch(1);
  private final AtomicInteger messageSeq = new AtomicInteger();
  public final List<Hit> hits = new CopyOnWriteArrayList<>();
  public volatile Function<Hit, Answer> responder = hit -> new Answer(500, "{}");
  /** Messages accepted by {@link #acceptMessage}, in order. */
  public final List<Sms> messages = new CopyOnWriteArrayList<>();
  /** The fake Twilio's clock: when an accepted message counts as sent. */
  public volatile Supplier<Instant> clock = Instant::now;

  public FakeTwilio() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.setExecutor(handlers);
    server.start();
  }

  /** The base URL to give the provider factory. */
  public String url() {
    return "http://localhost:" + server.getAddress().getPort();
  }

  @Override
  public void close() {
    closed.countDown();
    server.stop(0);
    handlers.shutdownNow();
  }

  private void handle(HttpExchange ex) throws IOException {
    String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
    Hit hit = new Hit(ex.getRequestMethod(), ex.getRequestURI().getPath(), decode(ex.getRequestURI().getRawQuery()),
        decode(body), ex.getRequestHeaders().getFirst("Authorization"));
    hits.add(hit);
    Answer answer = responder.apply(hit);
    if (answer.stall()) {
      try {
        closed.await(60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      ex.close();
      return;
    }
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

  /** The path of the account's Messages list and create. */
  public static final String MESSAGES_PATH = "/2010-04-01/Accounts/" + ACCOUNT + "/Messages.json";

  /** Stores the message a create {@code hit} asks for, as Twilio would accept it. */
  public Sms acceptMessage(Hit hit) {
    Map<String, String> f = hit.form();
    Sms sms = new Sms("SM%032x".formatted(messageSeq.incrementAndGet()), f.get("To"), f.get("From"),
        f.get("MessagingServiceSid"), f.get("Body"), f.get("StatusCallback"), clock.get());
    messages.add(sms);
    return sms;
  }

  /**
   * Twilio Messaging in memory: a create is accepted (201 with the message), a list answers the
   * accepted messages filtered by {@code To} and {@code DateSent>=YYYY-MM-DD} (or {@code DateSent>}
   * with a time), newest first, paged by {@code PageSize} and {@code Page}; anything else is 404.
   */
  public Answer messaging(Hit hit) {
    if (!hit.path().equals(MESSAGES_PATH)) {
      return new Answer(404, error(20404, 404));
    }
    if (hit.method().equals("POST")) {
      return new Answer(201, message(acceptMessage(hit)));
    }
    Map<String, String> q = hit.query();
    List<Sms> found = new ArrayList<>();
    for (Sms m : messages) {
      boolean keep = !q.containsKey("To") || q.get("To").equals(m.to());
      if (q.containsKey("DateSent>=")) {
        keep &= !m.sent().atZone(ZoneOffset.UTC).toLocalDate().isBefore(LocalDate.parse(q.get("DateSent>=")));
      }
      if (q.containsKey("DateSent>")) {
        keep &= m.sent().isAfter(java.time.LocalDateTime.parse(q.get("DateSent>")).toInstant(ZoneOffset.UTC));
      }
      if (keep) {
        found.add(m);
      }
    }
    found.sort(Comparator.comparing(Sms::sent).reversed());
    int size = Integer.parseInt(q.getOrDefault("PageSize", "50"));
    int page = Integer.parseInt(q.getOrDefault("Page", "0"));
    List<String> json = found.stream().skip((long) page * size).limit(size).map(FakeTwilio::message).toList();
    String next = null;
    if ((long) (page + 1) * size < found.size()) {
      Map<String, String> nq = new LinkedHashMap<>(q);
      nq.put("Page", Integer.toString(page + 1));
      nq.put("PageToken", "PA" + (page + 1));
      next = "https://api.twilio.com" + MESSAGES_PATH + "?" + nq.entrySet().stream()
          .map(e -> enc(e.getKey()) + "=" + enc(e.getValue())).collect(Collectors.joining("&"));
    }
    return new Answer(200, messagePage(page, size, next, json));
  }

  private static String enc(String s) {
    return java.net.URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  private static final DateTimeFormatter RFC_2822 =
      DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss Z", Locale.US).withZone(ZoneOffset.UTC);

  /** A Message resource as Twilio returns it (dates in RFC 2822). */
  public static String message(Sms m) {
    String date = RFC_2822.format(m.sent());
    return """
        {"sid":"%s","account_sid":"%s","api_version":"2010-04-01","body":%s,"date_created":"%s",
         "date_sent":"%s","date_updated":"%s","direction":"outbound-api","error_code":null,"error_message":null,
         "from":%s,"to":%s,"messaging_service_sid":%s,"num_media":"0","num_segments":"1","price":null,
         "price_unit":"USD","status":"queued","uri":"/2010-04-01/Accounts/%s/Messages/%s.json",
         "subresource_uris":{"media":"/2010-04-01/Accounts/%s/Messages/%s/Media.json"}}
        """.formatted(m.sid(), ACCOUNT, quote(m.body()), date, date, date, quote(m.from()), quote(m.to()),
        quote(m.messagingServiceSid()), ACCOUNT, m.sid(), ACCOUNT, m.sid());
  }

  /** One page of a Messages list. */
  public static String messagePage(int page, int size, String nextPageUrl, List<String> messages) {
    String url = "https://api.twilio.com" + MESSAGES_PATH + "?PageSize=" + size + "&Page=" + page;
    return """
        {"messages":[%s],"end":%d,"first_page_uri":"%s","next_page_uri":%s,"page":%d,"page_size":%d,
         "previous_page_uri":null,"start":%d,"uri":"%s","next_page_url":%s}
        """.formatted(String.join(",", messages), page * size + Math.max(messages.size() - 1, 0),
        url.substring("https://api.twilio.com".length()),
        nextPageUrl == null ? "null" : quote(nextPageUrl.substring("https://api.twilio.com".length())),
        page, size, page * size, url.substring("https://api.twilio.com".length()),
        nextPageUrl == null ? "null" : quote(nextPageUrl));
  }

  private static String quote(String s) {
    if (s == null) {
      return "null";
    }
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        default -> b.append(c < 0x20 ? "\\u%04x".formatted((int) c) : String.valueOf(c));
      }
    }
    return b.append('"').toString();
  }
}
