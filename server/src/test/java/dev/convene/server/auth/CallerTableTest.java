package dev.convene.server.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.credential.CredentialFeature;
import dev.convene.server.Main;
import dev.convene.server.testing.GrpcAssertions;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.CallerKind;
import dev.convene.v1.RulesProto;
import io.grpc.BindableService;
import io.grpc.CallOptions;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.ProtoMethodDescriptorSupplier;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The credential table: every RPC of every service, called with each kind of caller (API key,
 * user credential, guest credential, none). A kind the method's declared policy admits gets past
 * authentication and the policy; any other kind is refused with PERMISSION_DENIED
 * (CALLER_NOT_ALLOWED), or UNAUTHENTICATED (MISSING_CREDENTIAL) without a credential.
 */
class CallerTableTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  /** Sends and receives raw bytes: an empty message is every request type's default. */
  static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (java.io.IOException e) {
        throw new IllegalStateException(e);
      }
    }
  };

  @Test
  void everyMethod_admitsExactlyTheCallersItDeclares() {
    TestServer server = servers.get();
    var issuer = new CredentialFeature(server.platform).issuer();
    String user = issuer.user(server.tenantA.tenantId(), "pat", Duration.ofHours(1)).getCredential();
    String guest = issuer.guest(server.tenantA.tenantId(), "ses_table", "pat", server.clock.instant().plusSeconds(3600))
        .getCredential();
    List<BindableService> services = Main.services(Main.features(server.platform,
        new dev.convene.server.provider.ProviderFactory(Duration.ofSeconds(1), null)));
    int checked = 0;
    List<String> wrong = new ArrayList<>();
    Set<String> methods = new java.util.HashSet<>();
    for (BindableService service : services) {
      for (ServerMethodDefinition<?, ?> m : service.bindService().getMethods()) {
        MethodDescriptor<?, ?> md = m.getMethodDescriptor();
        methods.add(md.getFullMethodName());
        Set<CallerKind> allowed = EnumSet.noneOf(CallerKind.class);
        allowed.addAll(((ProtoMethodDescriptorSupplier) md.getSchemaDescriptor()).getMethodDescriptor().getOptions()
            .getExtension(RulesProto.access).getCallersList());
        // A method that authenticates by its request (an access code, a provider's signature) lets
        // every caller through to that check.
        boolean anonymous = allowed.contains(CallerKind.CALLER_KIND_ANONYMOUS)
            || allowed.contains(CallerKind.CALLER_KIND_PROVIDER);
        for (CallerKind kind : List.of(CallerKind.CALLER_KIND_TENANT, CallerKind.CALLER_KIND_USER,
            CallerKind.CALLER_KIND_GUEST, CallerKind.CALLER_KIND_UNSPECIFIED)) {
          String credential = switch (kind) {
            case CALLER_KIND_TENANT -> server.tenantA.key();
            case CALLER_KIND_USER -> user;
            case CALLER_KIND_GUEST -> guest;
            default -> null;
          };
          StatusRuntimeException failure = call(server, md, credential);
          Status status = failure == null ? Status.OK : failure.getStatus();
          String reason = reasonOf(failure);
          boolean admitted = anonymous || allowed.contains(kind);
          String cell = md.getFullMethodName() + " as " + kind + ": " + status.getCode() + " " + reason;
          if (admitted) {
            if (status.getCode() == Status.Code.UNAUTHENTICATED || "CALLER_NOT_ALLOWED".equals(reason)) {
              wrong.add(cell + " (should be admitted)");
            }
          } else if (credential == null) {
            if (status.getCode() != Status.Code.UNAUTHENTICATED || !"MISSING_CREDENTIAL".equals(reason)) {
              wrong.add(cell + " (should be UNAUTHENTICATED MISSING_CREDENTIAL)");
            }
          } else if (status.getCode() != Status.Code.PERMISSION_DENIED || !"CALLER_NOT_ALLOWED".equals(reason)) {
            wrong.add(cell + " (should be PERMISSION_DENIED CALLER_NOT_ALLOWED)");
          }
          checked++;
        }
      }
    }
    assertEquals(List.of(), wrong);
    assertTrue(checked >= 4 * 25, "checked " + checked);
    // Recording (issue 9): consent for tenants, users and guests (themselves); start and stop for
    // tenants and users (hosts, checked against the roster by the handler).
    assertTrue(methods.containsAll(List.of("convene.v1.CallService/SetRecordingConsent",
        "convene.v1.CallService/StartRecording", "convene.v1.CallService/StopRecording")), methods.toString());
  }

  /** The call's failure, or null when it succeeded. */
  static StatusRuntimeException call(TestServer server, MethodDescriptor<?, ?> md, String credential) {
    MethodDescriptor<byte[], byte[]> raw = MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName(md.getFullMethodName())
        .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
    CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(10, java.util.concurrent.TimeUnit.SECONDS);
    if (credential != null) {
      options = options.withCallCredentials(TestServer.bearer(credential));
    }
    try {
      ClientCalls.blockingUnaryCall(server.channel, raw, options, new byte[0]);
      return null;
    } catch (StatusRuntimeException e) {
      return e;
    }
  }

  static String reasonOf(StatusRuntimeException failure) {
    if (failure == null) {
      return "";
    }
    try {
      return GrpcAssertions.errorInfo(failure).getReason();
    } catch (AssertionError | RuntimeException e) {
      return "";
    }
  }
}
