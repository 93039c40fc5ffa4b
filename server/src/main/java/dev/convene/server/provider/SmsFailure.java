package dev.convene.server.provider;

/**
 * An SMS that {@link TwilioSms} could not send (or could not look up), classified for the outbox
 * dispatcher by what it may do next:
 *
 * <ul>
 *   <li>{@link Kind#PERMANENT}: Twilio refused this message and would refuse it again (bad number,
 *       recipient opted out, region not enabled, bad credentials or sender): fail the invitation at
 *       once with {@link #tenantMessage()}.
 *   <li>{@link Kind#TRANSIENT}: the message was certainly not created (429, 5xx, connection refused,
 *       connect timeout): retry later with backoff.
 *   <li>{@link Kind#UNKNOWN_OUTCOME}: the request went out and no usable answer came back (read
 *       timeout, broken connection, unreadable 2xx): Twilio may have accepted it. Reconcile with
 *       {@link TwilioSms#findSent} before any resend.
 * </ul>
 *
 * <p>The message ({@link #getMessage()}, {@link #tenantMessage()}) is Convene's own text: safe to
 * show the tenant and to log. It never carries the phone number, the body or a credential, and
 * neither does the cause: Twilio's own error text (which may quote the number) is not kept, only
 * its error code; connection-level causes (an {@code IOException}) are kept.
 */
public final class SmsFailure extends RuntimeException {
  /** What the dispatcher may do next; see the class comment. */
  public enum Kind { PERMANENT, TRANSIENT, UNKNOWN_OUTCOME }

  private final Kind kind;
  private final Integer twilioCode;
  private final Integer httpStatus;
  private final String tenantMessage;

  SmsFailure(Kind kind, Integer twilioCode, Integer httpStatus, String tenantMessage, Throwable cause) {
    super(describe(kind, twilioCode, httpStatus, tenantMessage), cause);
    this.kind = kind;
    this.twilioCode = twilioCode;
    this.httpStatus = httpStatus;
    this.tenantMessage = tenantMessage;
  }

  /** The tenant has no Twilio configuration, or no SMS sender in it: permanent until one is set. */
  public static SmsFailure notConfigured(String what) {
    return new SmsFailure(Kind.PERMANENT, null, null, what, null);
  }

  public Kind kind() {
    return kind;
  }

  /** Twilio's error code (https://www.twilio.com/docs/api/errors/NNNNN), or null when Twilio gave none. */
  public Integer twilioCode() {
    return twilioCode;
  }

  /** The HTTP status Twilio answered, or null when no answer came. */
  public Integer httpStatus() {
    return httpStatus;
  }

  /** A sentence for the tenant (e.g. on the invitation's FAILED status); no number, body or secret. */
  public String tenantMessage() {
    return tenantMessage;
  }

  private static String describe(Kind kind, Integer code, Integer http, String text) {
    StringBuilder s = new StringBuilder(kind.name()).append(": ").append(text);
    if (code != null || http != null) {
      s.append(" (");
      if (code != null) {
        s.append("Twilio error ").append(code);
      }
      if (http != null) {
        s.append(code != null ? ", " : "").append("HTTP ").append(http);
      }
      s.append(')');
    }
    return s.toString();
  }
}
