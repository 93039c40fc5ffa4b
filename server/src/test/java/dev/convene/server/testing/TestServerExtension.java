package dev.convene.server.testing;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Starts and closes a {@link TestServer}: once per class when registered on a static field, once
 * per test (a fresh database each time) when registered on an instance field.
 */
public final class TestServerExtension
    implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback {
  private TestServer server;
  private boolean perClass;

  @Override
  public void beforeAll(ExtensionContext context) {
    perClass = true;
    server = new TestServer();
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    if (!perClass) {
      server = new TestServer();
    }
  }

  @Override
  public void afterEach(ExtensionContext context) {
    if (!perClass) {
      close();
    }
  }

  @Override
  public void afterAll(ExtensionContext context) {
    close();
  }

  private void close() {
    if (server != null) {
      server.close();
      server = null;
    }
  }

  /** The running server. */
  public TestServer get() {
    return server;
  }
}
