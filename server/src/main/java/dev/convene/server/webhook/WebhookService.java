package dev.convene.server.webhook;

import static dev.convene.server.grpc.Unary.reply;

import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.IdKind;
import dev.convene.server.platform.PageTokens;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.RequestFingerprint;
import dev.convene.server.platform.RequestIdTaken;
import dev.convene.server.platform.Tx;
import dev.convene.v1.CreateWebhookEndpointRequest;
import dev.convene.v1.CreateWebhookEndpointResponse;
import dev.convene.v1.DeleteWebhookEndpointRequest;
import dev.convene.v1.DeleteWebhookEndpointResponse;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.GetWebhookEndpointRequest;
import dev.convene.v1.GetWebhookEndpointResponse;
import dev.convene.v1.ListWebhookDeliveriesRequest;
import dev.convene.v1.ListWebhookDeliveriesResponse;
import dev.convene.v1.ListWebhookEndpointsRequest;
import dev.convene.v1.ListWebhookEndpointsResponse;
import dev.convene.v1.RedeliverWebhookRequest;
import dev.convene.v1.RedeliverWebhookResponse;
import dev.convene.v1.RotateWebhookSecretRequest;
import dev.convene.v1.RotateWebhookSecretResponse;
import dev.convene.v1.UpdateWebhookEndpointRequest;
import dev.convene.v1.UpdateWebhookEndpointResponse;
import dev.convene.v1.WebhookDelivery;
import dev.convene.v1.WebhookDeliveryStatus;
import dev.convene.v1.WebhookEndpoint;
import dev.convene.v1.WebhookServiceGrpc;
import io.grpc.stub.StreamObserver;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** WebhookService: the tenant's endpoints and their deliveries. Tenant's backend only (the contract says so). */
final class WebhookService extends WebhookServiceGrpc.WebhookServiceImplBase {
  static final String AGGREGATE = "webhook_endpoint";
  static final int MAX_ENDPOINTS = 20;
  static final Duration DEFAULT_GRACE = Duration.ofHours(24);
  /** What UpdateWebhookEndpoint may change. */
  static final List<String> MASK_PATHS = List.of("url", "event_types", "description", "enabled");

  private final Platform platform;
  private final Destinations destinations;
  private final WebhookSecrets secrets;
  /** Told of a tenant that now has an enabled endpoint, so its events are swept at once. */
  private final java.util.function.Consumer<String> enabledFor;

  WebhookService(Platform platform, Destinations destinations, WebhookSecrets secrets,
      java.util.function.Consumer<String> enabledFor) {
    this.platform = platform;
    this.destinations = destinations;
    this.secrets = secrets;
    this.enabledFor = enabledFor;
  }

  static ConveneException notFound(String id) {
    return ConveneException.notFound(ErrorReason.WEBHOOK_ENDPOINT_NOT_FOUND, "no webhook endpoint " + id);
  }

  @Override
  public void createWebhookEndpoint(CreateWebhookEndpointRequest req,
      StreamObserver<CreateWebhookEndpointResponse> out) {
    String tenantId = Principal.current().tenantId();
    destinations.require(req.getUrl(), "url");
    byte[] fingerprint = RequestFingerprint.of(req.toBuilder().clearRequestId().build());
    Optional<Endpoints.Row> earlier = repeated(tenantId, req.getRequestId(), fingerprint);
    if (earlier.isPresent()) {
      reply(out, CreateWebhookEndpointResponse.newBuilder().setEndpoint(toProto(earlier.get())).build());
      return;
    }
    String secret = WebhookSecrets.generate();
    // The endpoint receives what commits from now on: its cursor starts at the log's final part.
    long head = platform.events().readableHead();
    Endpoints.Row created;
    try {
      created = platform.uow().write(tx -> create(tx, req, secret, head, fingerprint));
    } catch (RequestIdTaken e) {
      created = repeated(tenantId, req.getRequestId(), fingerprint).orElseThrow();
      reply(out, CreateWebhookEndpointResponse.newBuilder().setEndpoint(toProto(created)).build());
      return;
    }
    enabledFor.accept(tenantId);
    reply(out, CreateWebhookEndpointResponse.newBuilder().setEndpoint(toProto(created)).setSecret(secret).build());
  }

  private Endpoints.Row create(Tx tx, CreateWebhookEndpointRequest req, String secret, long head, byte[] fingerprint) {
    tx.lockKey("webhook_endpoints");
    if (Endpoints.count(tx) >= MAX_ENDPOINTS) {
      throw ConveneException.resourceExhausted(ErrorReason.TOO_MANY_WEBHOOK_ENDPOINTS,
          "a tenant has at most " + MAX_ENDPOINTS + " webhook endpoints");
    }
    String id = platform.ids().next(IdKind.WEBHOOK_ENDPOINT);
    Endpoints.Row row = new Endpoints.Row(tx.tenantId(), id, req.getUrl(), List.copyOf(req.getEventTypesList()),
        req.getDescription(), secrets.seal(tx.tenantId(), id, secret), null, null, true, "", null, head, fingerprint,
        tx.now(), tx.now());
    if (!Endpoints.insert(tx, row, req.getRequestId().isEmpty() ? null : req.getRequestId())) {
      throw new RequestIdTaken();
    }
    tx.append(AGGREGATE, id, "WEBHOOK_ENDPOINT_CREATED",
        Map.of("host", URI.create(req.getUrl()).getHost(), "event_types", List.copyOf(req.getEventTypesList())));
    return row;
  }

  private Optional<Endpoints.Row> repeated(String tenantId, String requestId, byte[] fingerprint) {
    if (requestId.isEmpty()) {
      return Optional.empty();
    }
    return platform.jdbi().withHandle(h -> Endpoints.byRequestId(h, tenantId, requestId)).map(e -> {
      if (!RequestFingerprint.matches(e.fingerprint(), fingerprint)) {
        throw ConveneException.invalidArgument(ErrorReason.REQUEST_ID_REUSED, "request_id",
            "request_id " + requestId + " was used for a different webhook endpoint");
      }
      return e;
    });
  }

  @Override
  public void getWebhookEndpoint(GetWebhookEndpointRequest req, StreamObserver<GetWebhookEndpointResponse> out) {
    String tenantId = Principal.current().tenantId();
    Endpoints.Row e = platform.jdbi().withHandle(h -> Endpoints.get(h, tenantId, req.getEndpointId()))
        .orElseThrow(() -> notFound(req.getEndpointId()));
    reply(out, GetWebhookEndpointResponse.newBuilder().setEndpoint(toProto(e)).build());
  }

  @Override
  public void listWebhookEndpoints(ListWebhookEndpointsRequest req, StreamObserver<ListWebhookEndpointsResponse> out) {
    String tenantId = Principal.current().tenantId();
    int size = PageTokens.pageSize(req.getPageSize(), 20, 100);
    Instant afterTime = null;
    String afterId = null;
    if (!req.getPageToken().isEmpty()) {
      List<String> keys = platform.pageTokens().decode(req.getPageToken(), tenantId, "webhook_endpoints", req, 2);
      afterTime = PageTokens.instantKey(keys.get(0));
      afterId = keys.get(1);
    }
    Instant t = afterTime;
    String i = afterId;
    List<Endpoints.Row> rows = platform.jdbi().withHandle(h -> Endpoints.list(h, tenantId, t, i, size + 1));
    ListWebhookEndpointsResponse.Builder b = ListWebhookEndpointsResponse.newBuilder();
    rows.stream().limit(size).forEach(r -> b.addEndpoints(toProto(r)));
    if (rows.size() > size) {
      Endpoints.Row last = rows.get(size - 1);
      b.setNextPageToken(platform.pageTokens().encode(tenantId, "webhook_endpoints", req, last.createTime().toString(),
          last.id()));
    }
    reply(out, b.build());
  }

  @Override
  public void updateWebhookEndpoint(UpdateWebhookEndpointRequest req,
      StreamObserver<UpdateWebhookEndpointResponse> out) {
    WebhookEndpoint in = req.getEndpoint();
    List<String> paths = req.getUpdateMask().getPathsList();
    for (String path : paths) {
      if (!MASK_PATHS.contains(path)) {
        throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "update_mask",
            "update_mask may name url, event_types, description and enabled, not " + path);
      }
    }
    if (paths.contains("url")) {
      if (in.getUrl().isEmpty()) {
        throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "endpoint.url", "a URL is required");
      }
      destinations.require(in.getUrl(), "endpoint.url");
    }
    Endpoints.Row updated = platform.uow().write(tx -> {
      Endpoints.Row e = Endpoints.lock(tx, in.getId()).orElseThrow(() -> notFound(in.getId()));
      boolean enable = paths.contains("enabled") && in.getEnabled() && !e.enabled();
      boolean disable = paths.contains("enabled") && !in.getEnabled() && e.enabled();
      Endpoints.Row next = e.withSettings(paths.contains("url") ? in.getUrl() : e.url(),
          paths.contains("event_types") ? List.copyOf(in.getEventTypesList()) : e.eventTypes(),
          paths.contains("description") ? in.getDescription() : e.description(), tx.now());
      if (enable || disable) {
        next = next.withEnabled(enable, enable ? "" : "BY_TENANT", tx.now());
      }
      Endpoints.update(tx, next);
      tx.append(AGGREGATE, e.id(), "WEBHOOK_ENDPOINT_UPDATED", Map.of("paths", paths));
      if (enable) {
        tx.schedule(WebhookDeliveries.KIND, e.id(), tx.now());
      }
      return next;
    });
    if (updated.enabled()) {
      enabledFor.accept(Principal.current().tenantId());
    }
    reply(out, UpdateWebhookEndpointResponse.newBuilder().setEndpoint(toProto(updated)).build());
  }

  @Override
  public void deleteWebhookEndpoint(DeleteWebhookEndpointRequest req,
      StreamObserver<DeleteWebhookEndpointResponse> out) {
    platform.uow().write(tx -> {
      Endpoints.lock(tx, req.getEndpointId()).orElseThrow(() -> notFound(req.getEndpointId()));
      Endpoints.delete(tx, req.getEndpointId());
      tx.append(AGGREGATE, req.getEndpointId(), "WEBHOOK_ENDPOINT_DELETED", Map.of());
      return null;
    });
    reply(out, DeleteWebhookEndpointResponse.getDefaultInstance());
  }

  @Override
  public void rotateWebhookSecret(RotateWebhookSecretRequest req, StreamObserver<RotateWebhookSecretResponse> out) {
    Duration grace = req.hasGrace() ? ProtoTime.javaDuration(req.getGrace()) : DEFAULT_GRACE;
    String secret = WebhookSecrets.generate();
    Endpoints.Row rotated = platform.uow().write(tx -> {
      Endpoints.Row e = Endpoints.lock(tx, req.getEndpointId()).orElseThrow(() -> notFound(req.getEndpointId()));
      Instant expire = tx.now().plus(grace);
      Endpoints.Row next = e.withSecret(secrets.seal(tx.tenantId(), e.id(), secret), expire, tx.now());
      Endpoints.update(tx, next);
      tx.append(AGGREGATE, e.id(), "WEBHOOK_SECRET_ROTATED", Map.of("previous_secret_expire_time", expire.toString()));
      return next;
    });
    reply(out, RotateWebhookSecretResponse.newBuilder().setEndpoint(toProto(rotated)).setSecret(secret).build());
  }

  @Override
  public void listWebhookDeliveries(ListWebhookDeliveriesRequest req,
      StreamObserver<ListWebhookDeliveriesResponse> out) {
    String tenantId = Principal.current().tenantId();
    int size = PageTokens.pageSize(req.getPageSize(), 50, 200);
    Long before = req.getPageToken().isEmpty() ? null : PageTokens.longKey(
        platform.pageTokens().decode(req.getPageToken(), tenantId, "webhook_deliveries", req, 1).get(0));
    String status = req.getStatus() == WebhookDeliveryStatus.WEBHOOK_DELIVERY_STATUS_UNSPECIFIED ? null
        : req.getStatus().name().substring("WEBHOOK_DELIVERY_STATUS_".length());
    List<Endpoints.Delivery> rows = platform.jdbi().withHandle(h -> {
      Endpoints.get(h, tenantId, req.getEndpointId()).orElseThrow(() -> notFound(req.getEndpointId()));
      return Endpoints.deliveries(h, tenantId, req.getEndpointId(), status, before, size + 1);
    });
    ListWebhookDeliveriesResponse.Builder b = ListWebhookDeliveriesResponse.newBuilder();
    rows.stream().limit(size).forEach(d -> b.addDeliveries(toProto(d)));
    if (rows.size() > size) {
      Endpoints.Delivery last = rows.get(size - 1);
      b.setNextPageToken(platform.pageTokens().encode(tenantId, "webhook_deliveries", req,
          Long.toString(last.position())));
    }
    reply(out, b.build());
  }

  @Override
  public void redeliverWebhook(RedeliverWebhookRequest req, StreamObserver<RedeliverWebhookResponse> out) {
    Endpoints.Delivery d = platform.uow().write(tx -> {
      Endpoints.lock(tx, req.getEndpointId()).orElseThrow(() -> notFound(req.getEndpointId()));
      Endpoints.Delivery again = Endpoints.requeue(tx, req.getEndpointId(), req.getDeliveryId())
          .orElseThrow(() -> ConveneException.notFound(ErrorReason.WEBHOOK_DELIVERY_NOT_FOUND,
              "no delivery " + req.getDeliveryId() + " of endpoint " + req.getEndpointId()));
      tx.schedule(WebhookDeliveries.KIND, req.getEndpointId(), tx.now());
      return again;
    });
    reply(out, RedeliverWebhookResponse.newBuilder().setDelivery(toProto(d)).build());
  }

  static WebhookEndpoint toProto(Endpoints.Row e) {
    WebhookEndpoint.Builder b = WebhookEndpoint.newBuilder().setId(e.id()).setUrl(e.url())
        .addAllEventTypes(e.eventTypes()).setDescription(e.description()).setEnabled(e.enabled())
        .setDisabledReason(e.disabledReason()).setCreateTime(ProtoTime.timestamp(e.createTime()));
    if (e.failingSince() != null) {
      b.setFailingSinceTime(ProtoTime.timestamp(e.failingSince()));
    }
    if (e.previousExpireTime() != null) {
      b.setPreviousSecretExpireTime(ProtoTime.timestamp(e.previousExpireTime()));
    }
    return b.build();
  }

  static WebhookDelivery toProto(Endpoints.Delivery d) {
    WebhookDelivery.Builder b = WebhookDelivery.newBuilder().setId(d.id()).setPosition(d.position())
        .setEventType(d.eventType()).setStatus(WebhookDeliveryStatus.valueOf("WEBHOOK_DELIVERY_STATUS_" + d.status()))
        .setAttempts(d.attempts()).setLastStatusCode(d.lastStatusCode()).setLastError(d.lastError())
        .setCreateTime(ProtoTime.timestamp(d.createTime()));
    if (d.status().equals(Endpoints.PENDING)) {
      b.setNextAttemptTime(ProtoTime.timestamp(d.nextAttemptTime()));
    }
    if (d.deliveredTime() != null) {
      b.setDeliveredTime(ProtoTime.timestamp(d.deliveredTime()));
    }
    return b.build();
  }
}
