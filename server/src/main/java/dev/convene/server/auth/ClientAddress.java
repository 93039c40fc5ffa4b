package dev.convene.server.auth;

import io.grpc.Context;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * The address a call came from, as throttling counts it: the connection's peer, or, behind Envoy
 * (CONVENE_TRUST_FORWARDED_FOR), the last address of {@code x-forwarded-for}, which Envoy appends
 * and a client cannot forge past it.
 */
public final class ClientAddress {
  static final Context.Key<String> CONTEXT_KEY = Context.key("convene.client-address");
  private static final Metadata.Key<String> FORWARDED_FOR =
      Metadata.Key.of("x-forwarded-for", Metadata.ASCII_STRING_MARSHALLER);

  private ClientAddress() {}

  /** The current call's client address; "unknown" outside a call. */
  public static String current() {
    String a = CONTEXT_KEY.get();
    return a == null ? "unknown" : a;
  }

  static String of(ServerCall<?, ?> call, Metadata headers, boolean trustForwardedFor) {
    if (trustForwardedFor) {
      String xff = headers.get(FORWARDED_FOR);
      if (xff != null && !xff.isBlank()) {
        String last = xff.substring(xff.lastIndexOf(',') + 1).trim();
        if (!last.isEmpty() && last.length() <= 64) {
          return last;
        }
      }
    }
    SocketAddress peer = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
    if (peer instanceof InetSocketAddress inet && inet.getAddress() != null) {
      return inet.getAddress().getHostAddress();
    }
    return peer == null ? "unknown" : peer.toString();
  }
}
