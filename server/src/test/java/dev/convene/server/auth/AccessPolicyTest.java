package dev.convene.server.auth;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.DescriptorProtos.MethodDescriptorProto;
import com.google.protobuf.DescriptorProtos.MethodOptions;
import com.google.protobuf.DescriptorProtos.ServiceDescriptorProto;
import com.google.protobuf.Descriptors;
import com.google.protobuf.Empty;
import dev.convene.server.ConveneServer;
import dev.convene.server.Main;
import dev.convene.server.grpc.Admission;
import dev.convene.server.platform.IdGenerator;
import dev.convene.server.testing.MutableClock;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.AccessPolicy;
import dev.convene.v1.CallerKind;
import dev.convene.v1.RulesProto;
import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status.Code;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.ProtoMethodDescriptorSupplier;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The access policy each method declares in the contract is enforced by the interceptor, and a
 * method without one stops the server from starting; the API key cache delays revocation by at
 * most its TTL.
 */
class AccessPolicyTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  /** A one-file contract with service test.Probe: UsersOnly (access: users) and Undeclared (no access option). */
  static Descriptors.ServiceDescriptor probeService() throws Descriptors.DescriptorValidationException {
    MethodOptions usersOnly = MethodOptions.newBuilder()
        .setExtension(RulesProto.access, AccessPolicy.newBuilder().addCallers(CallerKind.CALLER_KIND_USER).build())
        .build();
    FileDescriptorProto file = FileDescriptorProto.newBuilder()
        .setName("test/probe.proto").setPackage("test").setSyntax("proto3")
        .addDependency("google/protobuf/empty.proto")
        .addService(ServiceDescriptorProto.newBuilder().setName("Probe")
            .addMethod(MethodDescriptorProto.newBuilder().setName("UsersOnly")
                .setInputType(".google.protobuf.Empty").setOutputType(".google.protobuf.Empty").setOptions(usersOnly))
            .addMethod(MethodDescriptorProto.newBuilder().setName("Undeclared")
                .setInputType(".google.protobuf.Empty").setOutputType(".google.protobuf.Empty")))
        .build();
    return Descriptors.FileDescriptor.buildFrom(file, new Descriptors.FileDescriptor[] {Empty.getDescriptor().getFile()})
        .findServiceByName("Probe");
  }

  static MethodDescriptor<Empty, Empty> method(Descriptors.MethodDescriptor m) {
    return MethodDescriptor.<Empty, Empty>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY)
        .setFullMethodName(MethodDescriptor.generateFullMethodName("test.Probe", m.getName()))
        .setRequestMarshaller(ProtoUtils.marshaller(Empty.getDefaultInstance()))
        .setResponseMarshaller(ProtoUtils.marshaller(Empty.getDefaultInstance()))
        .setSchemaDescriptor(new ProtoMethodDescriptorSupplier() {
          @Override
          public Descriptors.MethodDescriptor getMethodDescriptor() {
            return m;
          }

          @Override
          public Descriptors.ServiceDescriptor getServiceDescriptor() {
            return m.getService();
          }

          @Override
          public Descriptors.FileDescriptor getFileDescriptor() {
            return m.getFile();
          }
        })
        .build();
  }

  static BindableService service(List<MethodDescriptor<Empty, Empty>> methods) {
    ServerServiceDefinition.Builder b = ServerServiceDefinition.builder("test.Probe");
    for (MethodDescriptor<Empty, Empty> m : methods) {
      b.addMethod(m, ServerCalls.asyncUnaryCall((req, out) -> {
        out.onNext(Empty.getDefaultInstance());
        out.onCompleted();
      }));
    }
    ServerServiceDefinition def = b.build();
    return () -> def;
  }

  @Test
  void aMethodThatDoesNotAdmitTheCallersKind_isPermissionDenied() throws Exception {
    TestServer server = servers.get();
    MethodDescriptor<Empty, Empty> usersOnly = method(probeService().findMethodByName("UsersOnly"));
    String name = InProcessServerBuilder.generateName();
    Admission admission = new Admission(2, 10);
    ConveneServer probe = new ConveneServer(InProcessServerBuilder.forName(name), admission,
        new AuthInterceptor(server.jdbi(), server.clock, Duration.ZERO), Main.validation(),
        List.of(service(List.of(usersOnly)))).start();
    ManagedChannel channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    try {
      // An API key is a tenant credential; this method admits only user credentials.
      assertStatus(Code.PERMISSION_DENIED, "CALLER_NOT_ALLOWED", () -> ClientCalls.blockingUnaryCall(channel,
          usersOnly, io.grpc.CallOptions.DEFAULT.withCallCredentials(TestServer.bearer(server.tenantA.key())),
          Empty.getDefaultInstance()));
      // Authentication still comes first.
      assertStatus(Code.UNAUTHENTICATED, "MISSING_CREDENTIAL", () -> ClientCalls.blockingUnaryCall(channel,
          usersOnly, io.grpc.CallOptions.DEFAULT, Empty.getDefaultInstance()));
    } finally {
      channel.shutdownNow();
      probe.shutdown(Duration.ofSeconds(1));
      admission.close();
    }
  }

  @Test
  void aMethodWithoutAnAccessPolicy_stopsTheServerFromStarting() throws Exception {
    TestServer server = servers.get();
    MethodDescriptor<Empty, Empty> undeclared = method(probeService().findMethodByName("Undeclared"));
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> new ConveneServer(
        InProcessServerBuilder.forName(InProcessServerBuilder.generateName()), new Admission(1, 1),
        new AuthInterceptor(server.jdbi(), server.clock, Duration.ZERO), Main.validation(),
        List.of(service(List.of(undeclared)))));
    assertTrue(e.getMessage().contains("test.Probe/Undeclared"), e.getMessage());
  }

  @Test
  void everyMethodOfTheContract_declaresItsAccessPolicy() {
    for (Descriptors.ServiceDescriptor s : dev.convene.v1.SessionServiceProto.getDescriptor().getServices()) {
      for (Descriptors.MethodDescriptor m : s.getMethods()) {
        assertTrue(m.getOptions().getExtension(RulesProto.access).getCallersCount() > 0, m.getFullName());
      }
    }
  }

  @Test
  void cachedKeys_workUntilTheCacheTtlAfterRevocation_thenNot() {
    TestServer server = servers.get();
    MutableClock clock = new MutableClock(TestServer.T0);
    AuthInterceptor auth = new AuthInterceptor(server.jdbi(), clock, Duration.ofSeconds(5));
    Tenants tenants = new Tenants(server.jdbi(), clock, IdGenerator.random());
    Tenants.IssuedKey key = tenants.createKey(server.tenantA.tenantId());
    String header = "Bearer " + key.key();
    assertEquals(Principal.tenant(server.tenantA.tenantId(), key.keyId()), auth.authenticate(header));

    tenants.revokeKey(key.keyId());
    // Within the TTL the replica still trusts what it found: the documented revocation delay.
    clock.advance(Duration.ofSeconds(4));
    assertEquals(server.tenantA.tenantId(), auth.authenticate(header).tenantId());
    clock.advance(Duration.ofSeconds(2));
    dev.convene.server.grpc.ConveneException e = assertThrows(dev.convene.server.grpc.ConveneException.class,
        () -> auth.authenticate(header));
    assertEquals(Code.UNAUTHENTICATED, e.code());
    assertEquals(dev.convene.v1.ErrorReason.INVALID_CREDENTIAL, e.reason());
  }
}
