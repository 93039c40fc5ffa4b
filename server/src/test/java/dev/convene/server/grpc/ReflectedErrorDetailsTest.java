package dev.convene.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.DynamicMessage;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.GetSessionRequest;
import dev.convene.v1.SessionServiceGrpc;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A reflection client (as grpcurl does) can decode the ErrorInfo of an error. */
class ReflectedErrorDetailsTest {
  @RegisterExtension
  static final TestServerExtension server = new TestServerExtension();

  @Test
  void reflectionServesErrorDetails_soAClientCanDecodeTheReason() throws Exception {
    TestServer s = server.get();
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> SessionServiceGrpc
        .newBlockingStub(s.channel).withCallCredentials(TestServer.bearer(s.tenantA.key()))
        .getSession(GetSessionRequest.newBuilder().setSessionId("ses_nosuchsession").build()));
    Any detail = StatusProto.fromThrowable(e).getDetails(0);
    String typeName = detail.getTypeUrl().substring(detail.getTypeUrl().lastIndexOf('/') + 1);
    assertEquals("google.rpc.ErrorInfo", typeName);

    // Only what reflection returns is used to find the type and decode it.
    Descriptor type = fileContaining(s, typeName).findMessageTypeByName("ErrorInfo");
    DynamicMessage info = DynamicMessage.parseFrom(type, detail.getValue());
    assertEquals("SESSION_NOT_FOUND", info.getField(type.findFieldByName("reason")));
    assertEquals("convene.dev", info.getField(type.findFieldByName("domain")));
    assertTrue(fileContaining(s, "google.rpc.BadRequest").getName().endsWith("error_details.proto"));

    // The service itself is reflected unchanged: same methods.
    assertEquals(SessionServiceGrpc.getServiceDescriptor().getMethods().size(),
        fileContaining(s, "convene.v1.SessionService").findServiceByName("SessionService").getMethods().size());
  }

  /** Asks reflection for the file defining {@code symbol} and builds it from the files returned. */
  private static FileDescriptor fileContaining(TestServer s, String symbol) throws Exception {
    CompletableFuture<ServerReflectionResponse> reply = new CompletableFuture<>();
    StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(s.channel)
        .serverReflectionInfo(new StreamObserver<>() {
          @Override
          public void onNext(ServerReflectionResponse value) {
            reply.complete(value);
          }

          @Override
          public void onError(Throwable t) {
            reply.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {}
        });
    requests.onNext(ServerReflectionRequest.newBuilder().setFileContainingSymbol(symbol).build());
    ServerReflectionResponse response = reply.get(30, TimeUnit.SECONDS);
    requests.onCompleted();
    Map<String, FileDescriptorProto> files = new HashMap<>();
    for (ByteString bytes : response.getFileDescriptorResponse().getFileDescriptorProtoList()) {
      FileDescriptorProto file = FileDescriptorProto.parseFrom(bytes);
      files.put(file.getName(), file);
    }
    // The first file returned is the one defining the symbol; the rest are its dependencies.
    FileDescriptorProto first = FileDescriptorProto.parseFrom(
        response.getFileDescriptorResponse().getFileDescriptorProto(0));
    return build(first.getName(), files, new HashMap<>());
  }

  private static FileDescriptor build(String name, Map<String, FileDescriptorProto> files,
      Map<String, FileDescriptor> built) throws Exception {
    if (built.containsKey(name)) {
      return built.get(name);
    }
    FileDescriptorProto proto = files.get(name);
    assertTrue(proto != null, "reflection did not return " + name);
    List<FileDescriptor> dependencies = new ArrayList<>();
    for (String dependency : proto.getDependencyList()) {
      dependencies.add(build(dependency, files, built));
    }
    FileDescriptor file = FileDescriptor.buildFrom(proto, dependencies.toArray(FileDescriptor[]::new));
    built.put(name, file);
    return file;
  }
}
