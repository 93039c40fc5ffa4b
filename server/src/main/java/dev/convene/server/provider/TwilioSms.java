package dev.convene.server.provider;

import com.twilio.exception.ApiConnectionException;
import com.twilio.exception.ApiException;
import com.twilio.exception.AuthenticationException;
import com.twilio.exception.InvalidRequestException;
import com.twilio.exception.TwilioException;
import com.twilio.http.TwilioRestClient;
import com.twilio.base.Page;
import com.twilio.rest.api.v2010.account.Message;
import com.twilio.rest.api.v2010.account.MessageCreator;
import com.twilio.rest.api.v2010.account.MessageReader;
import com.twilio.type.PhoneNumber;
import dev.convene.server.grpc.ConveneException;
import dev.convene.v1.ErrorReason;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import javax.net.ssl.SSLHandshakeException;
import org.apache.hc.client5.http.ConnectTimeoutException;
import org.apache.hc.core5.http.ConnectionRequestTimeoutException;

/**
 * Sends one tenant's SMS (invitations) through Twilio Messaging with the official SDK, and finds a
 * message already sent, for the outbox dispatcher's reconciliation after a crash or an unknown outcome.
 *
 * <p>Creating a message is not idempotent at Twilio, so every request goes out exactly once (the
 * {@link TwilioHttpClient} turns the SDK's own retries off) and every failure is an {@link SmsFailure}
 * saying whether the message may exist. Neither this class nor its failures log or carry the phone
 * number, the body or a credential.
 *
 * <p>Classification of a failed {@link #send}:
 * <table>
 *   <caption>Twilio answers and what the dispatcher may do</caption>
 *   <tr><th>Twilio answer</th><th>Kind</th><th>Why</th></tr>
 *   <tr><td>21211 invalid 'To' number</td><td>PERMANENT</td><td>the number is wrong</td></tr>
 *   <tr><td>21610 recipient unsubscribed (STOP)</td><td>PERMANENT</td><td>only the recipient can undo it (START)</td></tr>
 *   <tr><td>21408 region not enabled</td><td>PERMANENT</td><td>the tenant must enable the country (Geo Permissions)</td></tr>
 *   <tr><td>21614 not a mobile number</td><td>PERMANENT</td><td>a landline cannot take SMS</td></tr>
 *   <tr><td>21612 To/From cannot be connected</td><td>PERMANENT</td><td>route not supported for this sender</td></tr>
 *   <tr><td>21608 unverified number (trial account)</td><td>PERMANENT</td><td>trial accounts only reach verified numbers</td></tr>
 *   <tr><td>21606, 21212, 21601, 21603, 21407 sender not usable</td><td>PERMANENT</td><td>the tenant's sms_from is wrong</td></tr>
 *   <tr><td>21602, 21617 body missing / over 1600 characters</td><td>PERMANENT</td><td>the same body fails again</td></tr>
 *   <tr><td>21604 'To' missing, 21609 invalid StatusCallback</td><td>PERMANENT</td><td>the request is malformed</td></tr>
 *   <tr><td>20003 (HTTP 401/403) authentication</td><td>PERMANENT</td><td>the tenant must fix its credentials</td></tr>
 *   <tr><td>20404 (HTTP 404) account or service not found</td><td>PERMANENT</td><td>configuration</td></tr>
 *   <tr><td>any other HTTP 4xx</td><td>PERMANENT</td><td>Twilio refused the request as built</td></tr>
 *   <tr><td>HTTP 429, 20429, 14107 rate limit; 21611 sender's queue full</td><td>TRANSIENT</td><td>not created; retry later</td></tr>
 *   <tr><td>HTTP 408</td><td>TRANSIENT</td><td>Twilio did not read the whole request</td></tr>
 *   <tr><td>HTTP 5xx</td><td>TRANSIENT</td><td>not created (as Twilio documents 5xx); retry with backoff</td></tr>
 *   <tr><td>connection refused, unknown host, connect or pool timeout, TLS handshake</td><td>TRANSIENT</td><td>the request never left</td></tr>
 *   <tr><td>read timeout, connection reset or closed without answer, unreadable 2xx</td><td>UNKNOWN_OUTCOME</td><td>sent; Twilio may have accepted it</td></tr>
 * </table>
 *
 * <p>Twilio advises against logic on exact error codes (it splits them over time), so the default
 * follows the HTTP status and the codes above only name the reason and pick out the 4xx that are
 * transient.
 */
public final class TwilioSms {
  /** Twilio's limit on a message body. */
  static final int MAX_BODY = 1600;
  /** Messages per list page, and the pages {@link #findSent} reads at most. */
  static final int PAGE_SIZE = 50;
  static final int MAX_PAGES = 3;

  private static final Pattern E164 = Pattern.compile("^\\+[1-9][0-9]{6,14}$");

  /** 4xx codes that do not mean "this message can never be sent". */
  private static final Set<Integer> TRANSIENT_CODES = Set.of(20429, 14107, 21611);

  /** The tenant-facing reason of the PERMANENT codes Convene names. */
  private static final Map<Integer, String> PERMANENT_REASONS = Map.ofEntries(
      Map.entry(21211, "the phone number is not valid"),
      Map.entry(21610, "the recipient has unsubscribed from this sender (replied STOP)"),
      Map.entry(21408, "SMS to this country is not enabled on the Twilio account"),
      Map.entry(21614, "the phone number is not a mobile number"),
      Map.entry(21612, "Twilio cannot deliver from this sender to this number"),
      Map.entry(21608, "a Twilio trial account can only text verified numbers"),
      Map.entry(21606, "the configured sender (sms_from) cannot send to this number"),
      Map.entry(21212, "the configured sender (sms_from) is not valid"),
      Map.entry(21601, "the configured sender (sms_from) cannot send SMS"),
      Map.entry(21603, "no sender is configured (sms_from or messaging_service_sid)"),
      Map.entry(21407, "the configured sender (sms_from) does not support SMS"),
      Map.entry(21602, "the message body is empty"),
      Map.entry(21617, "the message is longer than 1600 characters"),
      Map.entry(21604, "the phone number is missing"),
      Map.entry(21609, "the status callback URL is not valid"),
      Map.entry(20003, "Twilio refused the configured credentials"),
      Map.entry(20404, "Twilio does not know the configured account or Messaging Service"));

  private final ProviderSettings.Twilio settings;
  private final TwilioRestClient client;

  TwilioSms(ProviderSettings.Twilio settings, TwilioHttpClient http) {
    if (!settings.canSendSms()) {
      throw ConveneException.failedPrecondition(ErrorReason.PROVIDER_NOT_CONFIGURED,
          "the Twilio configuration has no SMS sender: set sms_from or messaging_service_sid", Map.of());
    }
    this.settings = settings;
    this.client = new TwilioRestClient.Builder(settings.apiKeySid(), settings.apiKeySecret())
        .accountSid(settings.accountSid())
        .httpClient(http)
        .build();
  }

  /**
   * Sends {@code body} to {@code to} in one request and returns the new message's SID ({@code SM…}).
   * The sender is the Messaging Service when one is configured, else {@code sms_from}.
   *
   * @param to                E.164 number ({@code +14155550123}); personal data, never logged
   * @param body              1 to 1600 characters; never logged
   * @param statusCallbackUrl where Twilio posts delivery status, or null for none
   * @throws SmsFailure        classified as in the class comment
   * @throws ConveneException  INVALID_ARGUMENT naming {@code to}, {@code body} or {@code status_callback_url}
   */
  public String send(String to, String body, String statusCallbackUrl) {
    requireE164(to);
    if (body == null || body.isBlank()) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "body", "body must not be empty");
    }
    if (body.length() > MAX_BODY) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "body",
          "body must be at most " + MAX_BODY + " characters");
    }
    URI callback = statusCallbackUrl == null || statusCallbackUrl.isEmpty() ? null : callbackUri(statusCallbackUrl);
    MessageCreator creator = notBlank(settings.messagingServiceSid())
        ? Message.creator(new PhoneNumber(to), settings.messagingServiceSid(), body)
        : Message.creator(new PhoneNumber(to), new PhoneNumber(settings.smsFrom()), body);
    if (callback != null) {
      creator.setStatusCallback(callback);
    }
    Message message;
    try {
      message = creator.create(client);
    } catch (TwilioException e) {
      throw classifySend(e);
    }
    if (message == null || message.getSid() == null) {
      // A 2xx without a SID: Twilio answered, so the message may well exist.
      throw new SmsFailure(SmsFailure.Kind.UNKNOWN_OUTCOME, null, null,
          "Twilio answered without a message id", null);
    }
    return message.getSid();
  }

  /**
   * The SID of a message already sent to {@code to} whose body contains {@code marker} (an
   * invitation's code) and that Twilio created at or after {@code since}; empty when there is none.
   *
   * <p>Lists the account's messages to {@code to} with Twilio's documented day filter
   * {@code DateSent>=YYYY-MM-DD} (UTC day of {@code since}; the SDK's own {@code setDateSentAfter}
   * sends {@code DateSent>} with a time, a form Twilio does not document), newest first, at most
   * {@link #MAX_PAGES} pages of {@link #PAGE_SIZE}; the exact bound is checked here on
   * {@code date_created}. A message still queued may have no {@code date_sent} yet and so escape a
   * DateSent filter, so when that finds nothing the newest page to {@code to}, with no date filter, is
   * read as well. Twilio's clock decides {@code date_created}: callers pass the time before their
   * attempt minus a margin for clock skew.
   *
   * @throws SmsFailure UNKNOWN_OUTCOME when more messages match the filters than the pages read (it
   *     cannot tell); TRANSIENT when Twilio could not be asked; PERMANENT when Twilio refused to answer
   *     (credentials)
   */
  public Optional<String> findSent(String to, Instant since, String marker) {
    requireE164(to);
    if (since == null) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "since", "since is required");
    }
    if (marker == null || marker.isBlank()) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "marker", "marker must not be empty");
    }
    Instant from = since.truncatedTo(ChronoUnit.SECONDS); // Twilio's dates have whole seconds
    MessageReader reader = Message.reader();
    try {
      Page<Message> page = reader.getPage(dateFilteredUrl(to, since), client);
      for (int pages = 1; ; pages++) {
        Optional<String> found = match(page, from, marker);
        if (found.isPresent()) {
          return found;
        }
        if (!page.hasNextPage()) {
          break;
        }
        if (pages == MAX_PAGES) {
          throw new SmsFailure(SmsFailure.Kind.UNKNOWN_OUTCOME, null, null,
              "too many recent messages to this number to tell whether the invitation was sent", null);
        }
        page = reader.nextPage(page, client);
      }
      return match(Message.reader().setTo(new PhoneNumber(to)).setPageSize((long) PAGE_SIZE).firstPage(client),
          from, marker);
    } catch (TwilioException e) {
      throw classifyRead(e);
    }
  }

  private String dateFilteredUrl(String to, Instant since) {
    String day = since.atZone(ZoneOffset.UTC).toLocalDate().toString();
    return "https://api.twilio.com/2010-04-01/Accounts/" + settings.accountSid() + "/Messages.json"
        + "?To=" + encode(to) + "&" + encode("DateSent>=") + "=" + day + "&PageSize=" + PAGE_SIZE;
  }

  private static Optional<String> match(Page<Message> page, Instant from, String marker) {
    for (Message m : page.getRecords()) {
      boolean recent = m.getDateCreated() == null || !m.getDateCreated().toInstant().isBefore(from);
      if (recent && m.getBody() != null && m.getBody().contains(marker) && m.getSid() != null) {
        return Optional.of(m.getSid());
      }
    }
    return Optional.empty();
  }

  /** The classification table of the class comment, for a failed create. */
  static SmsFailure classifySend(TwilioException e) {
    if (e instanceof ApiException api && api.getStatusCode() != null) {
      return classifyAnswer(api.getStatusCode(), api.getCode());
    }
    if (e instanceof ApiException api && api.getCause() instanceof IOException io) {
      if (neverSent(io)) {
        return new SmsFailure(SmsFailure.Kind.TRANSIENT, null, null,
            "Twilio could not be reached (" + io.getClass().getSimpleName() + ")", io);
      }
      return new SmsFailure(SmsFailure.Kind.UNKNOWN_OUTCOME, null, null,
          "no answer from Twilio after the message was sent (" + io.getClass().getSimpleName() + ")", io);
    }
    if (e instanceof AuthenticationException || e instanceof InvalidRequestException) {
      // Thrown by the SDK before any request (no credentials, a request it will not build).
      return new SmsFailure(SmsFailure.Kind.PERMANENT, null, null,
          "the Twilio SDK refused the request (" + e.getClass().getSimpleName() + ")", null);
    }
    // ApiConnectionException (no response object, or a 2xx body it could not read), an ApiException
    // without status (a body it could not parse) and anything else: an answer may have come.
    return new SmsFailure(SmsFailure.Kind.UNKNOWN_OUTCOME, null, null,
        "Twilio's answer could not be read (" + e.getClass().getSimpleName() + ")", null);
  }

  /** For a failed list: a read is safe to repeat, so only a 4xx refusal is PERMANENT. */
  private static SmsFailure classifyRead(TwilioException e) {
    if (e instanceof ApiException api && api.getStatusCode() != null) {
      SmsFailure f = classifyAnswer(api.getStatusCode(), api.getCode());
      return f.kind() == SmsFailure.Kind.PERMANENT
          ? new SmsFailure(SmsFailure.Kind.PERMANENT, f.twilioCode(), f.httpStatus(),
              "Twilio refused to list messages: " + f.tenantMessage(), null)
          : f;
    }
    Throwable cause = e instanceof ApiException && e.getCause() instanceof IOException io ? io : null;
    return new SmsFailure(SmsFailure.Kind.TRANSIENT, null, null,
        "Twilio could not list messages (" + (cause != null ? cause : e).getClass().getSimpleName() + ")", cause);
  }

  private static SmsFailure classifyAnswer(int http, Integer code) {
    if (http == 429 || http == 408 || (code != null && TRANSIENT_CODES.contains(code))) {
      return new SmsFailure(SmsFailure.Kind.TRANSIENT, code, http,
          http == 408 ? "Twilio timed out reading the request" : "Twilio is rate limiting messages", null);
    }
    if (http >= 500) {
      return new SmsFailure(SmsFailure.Kind.TRANSIENT, code, http, "Twilio had a server error", null);
    }
    if (http >= 400) {
      String reason = code == null ? null : PERMANENT_REASONS.get(code);
      if (reason == null) {
        reason = http == 401 || http == 403 ? "Twilio refused the configured credentials"
            : "Twilio refused the message";
      }
      return new SmsFailure(SmsFailure.Kind.PERMANENT, code, http, reason, null);
    }
    // A 1xx or 3xx as an error: not an answer the API gives; the message may exist.
    return new SmsFailure(SmsFailure.Kind.UNKNOWN_OUTCOME, code, http, "Twilio gave an unexpected answer", null);
  }

  /** Failures that happen before a byte of the request is written. */
  private static boolean neverSent(IOException io) {
    return io instanceof ConnectException // HttpHostConnectException: refused, unreachable
        || io instanceof UnknownHostException
        || io instanceof ConnectTimeoutException
        || io instanceof ConnectionRequestTimeoutException // no pooled connection in time
        || io instanceof SSLHandshakeException;
  }

  private static void requireE164(String to) {
    if (to == null || !E164.matcher(to).matches()) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "to",
          "to must be a phone number in E.164 form (+ and 7 to 15 digits)");
    }
  }

  private static URI callbackUri(String url) {
    URI uri;
    try {
      uri = new URI(url);
    } catch (java.net.URISyntaxException e) {
      uri = null;
    }
    // Twilio refuses callback host names with underscores (PROVIDERS.md §4).
    if (uri == null || uri.getHost() == null || uri.getHost().contains("_")
        || !("https".equals(uri.getScheme()) || "http".equals(uri.getScheme()))) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "status_callback_url",
          "status_callback_url must be an http(s) URL whose host name has no underscore");
    }
    return uri;
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  private static boolean notBlank(String s) {
    return s != null && !s.isBlank();
  }
}
