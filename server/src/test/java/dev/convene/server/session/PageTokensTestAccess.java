package dev.convene.server.session;

import dev.convene.server.grpc.PageTokens;

/** Tokens of one list presented to another, which must refuse them. */
final class PageTokensTestAccess {
  private PageTokensTestAccess() {}

  static String sessionsToken() {
    return PageTokens.encode("sessions", "2030-01-01T10:00:00Z", "ses_x");
  }
}
