package dev.convene.server.provider;

import com.twilio.http.NetworkHttpClient;
import com.twilio.http.Request;
import com.twilio.http.Response;
import java.net.URL;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.hc.client5.http.config.ConnectionConfig;
import org.apache.hc.client5.http.config.RequestConfig;
import org.apache.hc.client5.http.impl.classic.HttpClientBuilder;
import org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManager;
import org.apache.hc.core5.http.io.SocketConfig;
import org.apache.hc.core5.util.TimeValue;
import org.apache.hc.core5.util.Timeout;

/** The HTTP client under the Twilio SDK: bounded by one timeout, one attempt per request, optionally pointed at a fake. */
final class TwilioHttpClient extends NetworkHttpClient {
  private final String apiOverride;

  /**
   * @param timeout     bounds connecting, waiting for a pooled connection, and each read
   * @param apiOverride base URL ({@code http://localhost:port}) that replaces {@code https://*.twilio.com}; null for Twilio
   */
  TwilioHttpClient(Duration timeout, String apiOverride) {
    super(httpClient(timeout));
    this.apiOverride = apiOverride == null ? null : stripTrailingSlash(apiOverride);
  }

  /**
   * The Apache client as the SDK's {@code NetworkHttpClient(RequestConfig, SocketConfig)} builds it
   * (system properties, a pool of 20 per route and 100 in all, our timeouts), plus
   * {@code disableAutomaticRetries()}: Apache's default retry strategy re-sends any request, POSTs
   * included, that gets a 429 or a 503 (after Retry-After, else 1 s), under the SDK's feet. Seen
   * against the fake Twilio: two message creates for one send on a 503.
   */
  private static HttpClientBuilder httpClient(Duration timeout) {
    PoolingHttpClientConnectionManager pool = new PoolingHttpClientConnectionManager();
    pool.setDefaultSocketConfig(SocketConfig.custom().setSoTimeout(timeout(timeout)).build());
    pool.setDefaultConnectionConfig(ConnectionConfig.custom()
        .setConnectTimeout(timeout(timeout)).setSocketTimeout(timeout(timeout))
        // With no retries, a pooled connection the server has closed would fail a POST with an
        // unknown outcome; checking connections idle for a second first avoids most of those.
        .setValidateAfterInactivity(TimeValue.ofSeconds(1)).build());
    pool.setDefaultMaxPerRoute(20);
    pool.setMaxTotal(100);
    return HttpClientBuilder.create()
        .useSystemProperties()
        .setConnectionManager(pool)
        .setDefaultRequestConfig(requestConfig(timeout))
        .disableAutomaticRetries();
  }

  private static RequestConfig requestConfig(Duration timeout) {
    Timeout t = timeout(timeout);
    return RequestConfig.custom()
        .setConnectionRequestTimeout(t)
        .setResponseTimeout(t)
        .build();
  }

  private static Timeout timeout(Duration d) {
    return Timeout.of(d.toMillis(), TimeUnit.MILLISECONDS);
  }

  // The SDK's reliableRequest re-sends any request, POSTs included, up to three times on a 5xx (and
  // Apache's own retries are off, see httpClient): a room create or an SMS could then happen twice.
  // Convene decides about retries itself, knowing which calls are idempotent, so every request goes
  // out exactly once.
  @Override
  public Response reliableRequest(Request request) {
    return makeRequest(request);
  }

  @Override
  public Response reliableRequest(Request request, int[] retryCodes, int retries, long delayMillis) {
    return makeRequest(request);
  }

  @Override
  public Response makeRequest(Request request) {
    return super.makeRequest(apiOverride == null ? request : redirected(request));
  }

  /**
   * A copy of {@code r} aimed at the override base. The SDK has no base-URL setting (it always
   * builds {@code https://<product>.twilio.com/...}), so the path is moved onto the fake's host.
   */
  private Request redirected(Request r) {
    URL original = r.constructURL();
    // Page URLs (the SDK's getPage/nextPage) carry their query in the URL itself rather than in the
    // query params, so it is kept; query params, if any, are copied below.
    String embeddedQuery = java.net.URI.create(r.getUrl()).getRawQuery();
    Request copy = new Request(r.getMethod(),
        apiOverride + original.getPath() + (embeddedQuery == null ? "" : "?" + embeddedQuery));
    copyAll(r.getQueryParams(), copy::addQueryParam);
    copyAll(r.getPostParams(), copy::addPostParam);
    copyAll(r.getHeaderParams(), copy::addHeaderParam);
    copy.setContentType(r.getContentType());
    if (r.getBody() != null) {
      copy.setBody(r.getBody());
    }
    if (r.getFormParameters() != null) {
      copy.setFormParameters(r.getFormParameters());
    }
    if (r.getUserAgentExtensions() != null) {
      copy.setUserAgentExtensions(r.getUserAgentExtensions());
    }
    if (r.getAuthStrategy() != null) {
      copy.setAuth(r.getAuthStrategy());
    } else if (r.getUsername() != null) {
      copy.setAuth(r.getUsername(), r.getPassword());
    }
    return copy;
  }

  private static void copyAll(Map<String, List<String>> from, java.util.function.BiConsumer<String, String> to) {
    from.forEach((name, values) -> values.forEach(v -> to.accept(name, v)));
  }

  private static String stripTrailingSlash(String s) {
    return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
  }
}
