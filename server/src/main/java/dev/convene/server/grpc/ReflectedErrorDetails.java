package dev.convene.server.grpc;

import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.Descriptors.DescriptorValidationException;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import com.google.rpc.ErrorDetailsProto;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.ProtoServiceDescriptorSupplier;
import java.util.ArrayList;
import java.util.List;

/**
 * Makes server reflection serve {@code google/rpc/error_details.proto}, so that reflection
 * clients such as grpcurl can decode the {@code ErrorInfo} and {@code BadRequest} every error
 * carries instead of printing them as base64.
 *
 * <p>Reflection serves the files that the registered services' files depend on, and no proto of
 * ours uses the error detail messages as a field (they travel in the {@code grpc-status-details-bin}
 * trailer). So a service's file is presented to reflection with {@code error_details.proto}
 * added to its dependencies; its messages, methods and handlers are unchanged.
 */
public final class ReflectedErrorDetails {
  private ReflectedErrorDetails() {}

  /** The same service, whose reflected file also depends on {@code error_details.proto}. */
  public static ServerServiceDefinition include(ServerServiceDefinition service) {
    if (!(service.getServiceDescriptor().getSchemaDescriptor() instanceof ProtoServiceDescriptorSupplier schema)) {
      return service;
    }
    FileDescriptor file = schema.getFileDescriptor();
    FileDescriptor errorDetails = ErrorDetailsProto.getDescriptor();
    if (file.getDependencies().contains(errorDetails)) {
      return service;
    }
    FileDescriptor withDetails = withDependency(file, errorDetails);
    ServiceDescriptor reflected = withDetails.findServiceByName(schema.getServiceDescriptor().getName());

    io.grpc.ServiceDescriptor.Builder descriptor = io.grpc.ServiceDescriptor
        .newBuilder(service.getServiceDescriptor().getName())
        .setSchemaDescriptor(new ProtoServiceDescriptorSupplier() {
          @Override
          public FileDescriptor getFileDescriptor() {
            return withDetails;
          }

          @Override
          public ServiceDescriptor getServiceDescriptor() {
            return reflected;
          }
        });
    service.getMethods().forEach(method -> descriptor.addMethod(method.getMethodDescriptor()));
    ServerServiceDefinition.Builder out = ServerServiceDefinition.builder(descriptor.build());
    for (ServerMethodDefinition<?, ?> method : service.getMethods()) {
      out.addMethod(method);
    }
    return out.build();
  }

  private static FileDescriptor withDependency(FileDescriptor file, FileDescriptor dependency) {
    FileDescriptorProto proto = file.toProto().toBuilder().addDependency(dependency.getName()).build();
    List<FileDescriptor> dependencies = new ArrayList<>(file.getDependencies());
    dependencies.add(dependency);
    try {
      return FileDescriptor.buildFrom(proto, dependencies.toArray(FileDescriptor[]::new));
    } catch (DescriptorValidationException e) {
      throw new IllegalStateException("cannot add " + dependency.getName() + " to " + file.getName(), e);
    }
  }
}
