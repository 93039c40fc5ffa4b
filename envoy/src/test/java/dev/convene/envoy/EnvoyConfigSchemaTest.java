package dev.convene.envoy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.access_loggers.stream.v3.StdoutAccessLog;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy;
import io.envoyproxy.envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder;
import io.envoyproxy.envoy.extensions.filters.http.grpc_web.v3.GrpcWeb;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig;
import io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * Checks the rendered edge config against Envoy's v3 API: every field must exist (no unknown
 * fields, no unknown typed_config types) and none may be deprecated.
 */
class EnvoyConfigSchemaTest {

  /** Every type the config puts in a typed_config or typed_per_filter_config. */
  private static final JsonFormat.TypeRegistry TYPES =
      JsonFormat.TypeRegistry.newBuilder()
          .add(HttpConnectionManager.getDescriptor())
          .add(Cors.getDescriptor())
          .add(CorsPolicy.getDescriptor())
          .add(GrpcWeb.getDescriptor())
          .add(GrpcJsonTranscoder.getDescriptor())
          .add(Router.getDescriptor())
          .add(StdoutAccessLog.getDescriptor())
          .add(HttpProtocolOptions.getDescriptor())
          .add(DownstreamTlsContext.getDescriptor())
          .add(PreviousHostsPredicate.getDescriptor())
          .add(DownstreamConnectionsConfig.getDescriptor())
          .add(io.envoyproxy.envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery.getDescriptor())
          .build();

  private static final Path ENVOY_DIR = Path.of("").toAbsolutePath();

  @TempDir Path tmp;

  /** Every service of the contract, by full name: the transcoder must serve them all. */
  private static java.util.Set<String> contractServices() throws IOException {
    java.util.Set<String> names = new java.util.TreeSet<>();
    try (var files = Files.walk(ENVOY_DIR.resolve("../proto/src/main/proto/convene/v1"))) {
      for (Path proto : files.filter(f -> f.toString().endsWith(".proto")).toList()) {
        java.util.regex.Matcher service =
            java.util.regex.Pattern.compile("(?m)^service (\\w+)").matcher(Files.readString(proto));
        while (service.find()) {
          names.add("convene.v1." + service.group(1));
        }
      }
    }
    return names;
  }

  /** Methods of the contract with idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT, as gRPC paths. */
  private static java.util.Set<String> idempotentMethods() throws IOException {
    java.util.Set<String> paths = new java.util.TreeSet<>();
    try (var files = Files.walk(ENVOY_DIR.resolve("../proto/src/main/proto/convene/v1"))) {
      for (Path proto : files.filter(f -> f.toString().endsWith(".proto")).toList()) {
        String text = Files.readString(proto);
        java.util.regex.Matcher service = java.util.regex.Pattern.compile("(?m)^service (\\w+)").matcher(text);
        if (!service.find()) {
          continue;
        }
        String[] rpcs = text.split("(?m)^  rpc ");
        for (int i = 1; i < rpcs.length; i++) {
          if (rpcs[i].matches("(?s)[^\\n]*\\n    option idempotency_level = (NO_SIDE_EFFECTS|IDEMPOTENT);.*")) {
            paths.add("/convene.v1." + service.group(1) + "/" + rpcs[i].substring(0, rpcs[i].indexOf('(')));
          }
        }
      }
    }
    return paths;
  }

  /** Methods of the contract that return a stream, as gRPC paths. */
  private static java.util.Set<String> streamingMethods() throws IOException {
    java.util.Set<String> paths = new java.util.TreeSet<>();
    try (var files = Files.walk(ENVOY_DIR.resolve("../proto/src/main/proto/convene/v1"))) {
      for (Path proto : files.filter(f -> f.toString().endsWith(".proto")).toList()) {
        String text = Files.readString(proto);
        java.util.regex.Matcher service = java.util.regex.Pattern.compile("(?m)^service (\\w+)").matcher(text);
        java.util.regex.Matcher rpc = java.util.regex.Pattern.compile("(?m)^  rpc (\\w+)\\(\\w+\\) returns \\(stream ")
            .matcher(text);
        while (service.find(0) && rpc.find()) {
          paths.add("/convene.v1." + service.group(1) + "/" + rpc.group(1));
        }
      }
    }
    return paths;
  }

  @Test
  void streamingMethods_haveNoOverallTimeout_butAnIdleOne() throws Exception {
    Bootstrap bootstrap = parseBootstrap(render(Map.of("CONVENE_EDGE_UPSTREAMS", "server-a:9090")));
    HttpConnectionManager hcm = bootstrap.getStaticResources().getListeners(0).getFilterChains(0).getFilters(0)
        .getTypedConfig().unpack(HttpConnectionManager.class);
    java.util.Set<String> untimed = new java.util.TreeSet<>();
    for (var route : hcm.getRouteConfig().getVirtualHosts(0).getRoutesList()) {
      if (route.hasRoute() && route.getMatch().getPath().startsWith("/convene.v1.")
          && route.getRoute().hasTimeout() && route.getRoute().getTimeout().getSeconds() == 0) {
        untimed.add(route.getMatch().getPath());
        assertTrue(route.getRoute().getIdleTimeout().getSeconds() > 0, "an idle stream is closed eventually: " + route);
      }
    }
    java.util.Set<String> expected = streamingMethods();
    assertTrue(expected.contains("/convene.v1.EventService/WatchSession"), "the contract was read: " + expected);
    assertEquals(expected, untimed, "exactly the streaming methods are exempt from the unary timeout");
  }

  @Test
  void onlyTheContractsIdempotentMethods_areRetriedAfterAReset() throws Exception {
    Bootstrap bootstrap = parseBootstrap(render(Map.of("CONVENE_EDGE_UPSTREAMS", "server-a:9090")));
    HttpConnectionManager hcm = bootstrap.getStaticResources().getListeners(0).getFilterChains(0).getFilters(0)
        .getTypedConfig().unpack(HttpConnectionManager.class);
    java.util.Set<String> retriedAfterReset = new java.util.TreeSet<>();
    for (var route : hcm.getRouteConfig().getVirtualHosts(0).getRoutesList()) {
      if (!route.hasRoute()) {
        continue;
      }
      List<String> on = List.of(route.getRoute().getRetryPolicy().getRetryOn().split(","));
      assertFalse(on.contains("5xx") || on.contains("gateway-error") || on.contains("deadline-exceeded")
          || on.contains("internal") || on.contains("unknown"), "a retry after a failure that may follow a change: " + route);
      if (on.contains("reset")) {
        assertFalse(route.getMatch().getPath().isEmpty(), "a reset is retried only for named methods: " + route);
        retriedAfterReset.add(route.getMatch().getPath());
      }
    }
    // Below the server's 64 KiB (ConveneServer.MAX_HEADER_BYTES): an oversized header is refused
    // by Envoy for that request alone, never by the server for the whole connection.
    assertEquals(32, hcm.getMaxRequestHeadersKb().getValue());
    java.util.Set<String> expected = idempotentMethods();
    assertTrue(expected.contains("/convene.v1.SessionService/GetSession"), "the contract was read: " + expected);
    assertEquals(expected, retriedAfterReset);
  }

  @Test
  void renderedConfig_withoutTls_parsesAsBootstrapWithNoDeprecatedField() throws Exception {
    Bootstrap bootstrap =
        parseBootstrap(
            render(
                Map.of(
                    "CONVENE_EDGE_UPSTREAMS", "server-a:9090,server-b:9090",
                    "CONVENE_EDGE_ALLOWED_ORIGINS", "https://app.example.com,http://localhost:5173")));

    assertEquals(List.of(), deprecatedFieldsIn(bootstrap));
    Listener listener = bootstrap.getStaticResources().getListeners(0);
    assertFalse(listener.getFilterChains(0).hasTransportSocket(), "no TLS unless configured");
    Cluster cluster = bootstrap.getStaticResources().getClusters(0);
    assertEquals(Cluster.LbPolicy.ROUND_ROBIN, cluster.getLbPolicy());
    assertTrue(cluster.getHealthChecks(0).hasGrpcHealthCheck(), "replicas are checked with grpc.health.v1");
    assertEquals(2, cluster.getLoadAssignment().getEndpoints(0).getLbEndpointsCount());
    assertTrue(
        cluster.getTypedExtensionProtocolOptionsMap()
            .get("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
            .unpack(HttpProtocolOptions.class)
            .getExplicitHttpConfig()
            .hasHttp2ProtocolOptions(),
        "upstream speaks HTTP/2");

    HttpConnectionManager hcm =
        listener.getFilterChains(0).getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
    assertEquals(
        List.of(
            "envoy.filters.http.cors",
            "envoy.filters.http.grpc_web",
            "envoy.filters.http.grpc_json_transcoder",
            "envoy.filters.http.router"),
        hcm.getHttpFiltersList().stream().map(f -> f.getName()).toList());
    GrpcJsonTranscoder transcoder =
        hcm.getHttpFilters(2).getTypedConfig().unpack(GrpcJsonTranscoder.class);
    assertEquals(contractServices(), new java.util.TreeSet<>(transcoder.getServicesList()));
    assertTrue(transcoder.getConvertGrpcStatus());
    CorsPolicy cors =
        hcm.getRouteConfig().getVirtualHosts(0).getTypedPerFilterConfigMap()
            .get("envoy.filters.http.cors").unpack(CorsPolicy.class);
    assertEquals(2, cors.getAllowOriginStringMatchCount());
    assertEquals("https://app.example.com", cors.getAllowOriginStringMatch(0).getExact());
    assertTrue(cors.getExposeHeaders().contains("grpc-status-details-bin"));
  }

  @Test
  void renderedConfig_withTls_terminatesTlsAndHasNoDeprecatedField() throws Exception {
    Bootstrap bootstrap =
        parseBootstrap(
            render(
                Map.of(
                    "CONVENE_EDGE_TLS_CERT", "/etc/envoy/tls/cert.pem",
                    "CONVENE_EDGE_TLS_KEY", "/etc/envoy/tls/key.pem",
                    "CONVENE_EDGE_ALLOWED_ORIGINS", "*")));

    assertEquals(List.of(), deprecatedFieldsIn(bootstrap));
    DownstreamTlsContext tls =
        bootstrap.getStaticResources().getListeners(0).getFilterChains(0).getTransportSocket()
            .getTypedConfig().unpack(DownstreamTlsContext.class);
    assertEquals(
        "/etc/envoy/tls/cert.pem",
        tls.getCommonTlsContext().getTlsCertificates(0).getCertificateChain().getFilename());
    assertEquals(List.of("h2", "http/1.1"), tls.getCommonTlsContext().getAlpnProtocolsList());
  }

  @Test
  void checker_reportsDeprecatedClusterHttp2ProtocolOptions() throws Exception {
    Bootstrap bootstrap =
        parseBootstrap(
            """
            static_resources:
              clusters:
              - name: old
                connect_timeout: 1s
                http2_protocol_options: {}
            """);

    assertEquals(
        List.of("static_resources.clusters.http2_protocol_options"), deprecatedFieldsIn(bootstrap));
  }

  @Test
  void checker_reportsDeprecatedFieldInsideTypedConfig() throws Exception {
    Bootstrap bootstrap =
        parseBootstrap(
            """
            static_resources:
              listeners:
              - name: l
                filter_chains:
                - filters:
                  - name: envoy.filters.network.http_connection_manager
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                      stat_prefix: x
                      route_config:
                        virtual_hosts:
                        - name: v
                          domains: ["*"]
                          cors: { max_age: "1" }
            """);

    assertEquals(
        List.of(
            "static_resources.listeners.filter_chains.filters.typed_config"
                + "<HttpConnectionManager>.route_config.virtual_hosts.cors"),
        deprecatedFieldsIn(bootstrap));
  }

  @Test
  void parser_rejectsUnknownField() {
    assertThrows(
        InvalidProtocolBufferException.class,
        () -> parseBootstrap("static_resources: { clusters: [ { name: c, no_such_field: 1 } ] }"));
  }

  @Test
  void render_rejectsHalfConfiguredTls() throws Exception {
    Process process = renderProcess(Map.of("CONVENE_EDGE_TLS_CERT", "/etc/cert.pem"), tmp.resolve("x.yaml"));
    assertTrue(process.waitFor(30, TimeUnit.SECONDS));
    assertEquals(2, process.exitValue());
    assertTrue(
        new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
            .contains("CONVENE_EDGE_TLS_KEY"));
  }

  private String render(Map<String, String> env) throws IOException, InterruptedException {
    Path out = tmp.resolve("envoy-" + System.nanoTime() + ".yaml");
    Process process = renderProcess(env, out);
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(process.waitFor(30, TimeUnit.SECONDS), "render.py did not finish");
    assertEquals(0, process.exitValue(), "render.py failed: " + output);
    String yaml = Files.readString(out);
    assertFalse(yaml.lines().anyMatch(l -> !l.strip().startsWith("#") && l.contains("{{")), "unrendered marker");
    return yaml;
  }

  private Process renderProcess(Map<String, String> env, Path out) throws IOException {
    ProcessBuilder builder =
        new ProcessBuilder("python3", ENVOY_DIR.resolve("render.py").toString(), "-o", out.toString())
            .redirectErrorStream(true);
    // Only the variables a test sets, so the developer's own CONVENE_EDGE_* do not leak in.
    builder.environment().keySet().removeIf(k -> k.startsWith("CONVENE_EDGE_"));
    builder.environment().putAll(env);
    return builder.start();
  }

  /** YAML to JSON, then the strict proto3 JSON parser: unknown fields and types are errors. */
  private static Bootstrap parseBootstrap(String yaml) throws InvalidProtocolBufferException {
    Object tree = new Yaml(new SafeConstructor(new LoaderOptions())).load(yaml);
    StringBuilder json = new StringBuilder();
    Json.write(tree, json);
    Bootstrap.Builder builder = Bootstrap.newBuilder();
    JsonFormat.parser().usingTypeRegistry(TYPES).merge(json.toString(), builder);
    return builder.build();
  }

  /** Paths of every set field or enum value marked deprecated, looking inside packed Any. */
  private static List<String> deprecatedFieldsIn(Message message) throws InvalidProtocolBufferException {
    List<String> found = new ArrayList<>();
    walk(message, "", found);
    return found;
  }

  private static void walk(Message message, String path, List<String> found)
      throws InvalidProtocolBufferException {
    if (message instanceof Any || message.getDescriptorForType().getFullName().equals(Any.getDescriptor().getFullName())) {
      Any any = message instanceof Any a ? a : Any.parseFrom(message.toByteString());
      Descriptor type = TYPES.find(any.getTypeUrl().substring(any.getTypeUrl().lastIndexOf('/') + 1));
      if (type == null) {
        found.add(path + ": unknown type " + any.getTypeUrl());
        return;
      }
      walk(DynamicMessage.parseFrom(type, any.getValue()), path + "<" + type.getName() + ">", found);
      return;
    }
    for (Map.Entry<FieldDescriptor, Object> entry : message.getAllFields().entrySet()) {
      FieldDescriptor field = entry.getKey();
      String fieldPath = path.isEmpty() ? field.getName() : path + "." + field.getName();
      if (field.getOptions().getDeprecated()) {
        found.add(fieldPath);
      }
      List<?> values = field.isRepeated() ? (List<?>) entry.getValue() : List.of(entry.getValue());
      for (Object value : values) {
        if (value instanceof EnumValueDescriptor enumValue && enumValue.getOptions().getDeprecated()) {
          found.add(fieldPath + "=" + enumValue.getName());
        } else if (value instanceof Message child) {
          // Map entries are messages too; their key/value fields are not deprecated themselves.
          walk(child, fieldPath, found);
        }
      }
    }
  }

  /** Just enough JSON writing for what SafeConstructor yields: maps, lists, strings, numbers, booleans. */
  private static final class Json {
    static void write(Object value, StringBuilder out) {
      if (value == null) {
        out.append("null");
      } else if (value instanceof Map<?, ?> map) {
        out.append('{');
        boolean first = true;
        for (Map.Entry<?, ?> e : map.entrySet()) {
          if (!first) out.append(',');
          first = false;
          string(String.valueOf(e.getKey()), out);
          out.append(':');
          write(e.getValue(), out);
        }
        out.append('}');
      } else if (value instanceof List<?> list) {
        out.append('[');
        for (int i = 0; i < list.size(); i++) {
          if (i > 0) out.append(',');
          write(list.get(i), out);
        }
        out.append(']');
      } else if (value instanceof Number || value instanceof Boolean) {
        out.append(value);
      } else if (value instanceof String s) {
        string(s, out);
      } else {
        throw new IllegalArgumentException("unexpected YAML value of " + value.getClass());
      }
    }

    private static void string(String s, StringBuilder out) {
      out.append('"');
      for (char c : s.toCharArray()) {
        switch (c) {
          case '"' -> out.append("\\\"");
          case '\\' -> out.append("\\\\");
          case '\n' -> out.append("\\n");
          case '\r' -> out.append("\\r");
          case '\t' -> out.append("\\t");
          default -> {
            if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
          }
        }
      }
      out.append('"');
    }
  }
}
