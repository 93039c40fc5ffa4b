package dev.convene.server.platform;

/**
 * The registry of id prefixes: every id Convene makes starts with its kind's prefix and an
 * underscore ({@code ses_...}), so a log line or a mixed-up argument tells on itself. The contract's
 * id rules (convene/v1/rules.proto) match these prefixes.
 */
public enum IdKind {
  TENANT("ten"),
  API_KEY("key"),
  SESSION("ses"),
  SIGNING_KEY("sig"),
  CREDENTIAL("crd"),
  ACCESS_CODE("acc"),
  INVITATION("inv"),
  GROUP("grp"),
  JOIN_TOKEN("tok"),
  WEBHOOK_ENDPOINT("whe"),
  WEBHOOK_MESSAGE("msg");

  private final String prefix;

  IdKind(String prefix) {
    this.prefix = prefix;
  }

  public String prefix() {
    return prefix;
  }
}
