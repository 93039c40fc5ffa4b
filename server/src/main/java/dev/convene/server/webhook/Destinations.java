package dev.convene.server.webhook;

import dev.convene.server.grpc.ConveneException;
import dev.convene.v1.ErrorReason;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Which URLs webhooks may be sent to (SSRF): https only, except to loopback; and no host that is or
 * resolves to a loopback, private, link-local, unique-local, shared (CGNAT), multicast or
 * unspecified address, unless it lies in a network {@code CONVENE_WEBHOOK_ALLOWED_NETWORKS} allows.
 * Checked when an endpoint is saved, and again before every attempt, since DNS answers change.
 */
final class Destinations {
  private final List<Network> allowed;

  /** {@code allowedNetworks}: CIDRs ({@code 127.0.0.0/8}, {@code 10.1.0.0/16}, {@code ::1/128}). */
  Destinations(List<String> allowedNetworks) {
    List<Network> parsed = new ArrayList<>();
    for (String cidr : allowedNetworks) {
      parsed.add(Network.parse(cidr));
    }
    this.allowed = List.copyOf(parsed);
  }

  /** INVALID_ARGUMENT (WEBHOOK_URL_NOT_ALLOWED) naming {@code field} unless webhooks may go to {@code url}. */
  void require(String url, String field) {
    refusal(url).ifPresent(why -> {
      throw ConveneException.invalidArgument(ErrorReason.WEBHOOK_URL_NOT_ALLOWED, field, why);
    });
  }

  /** Why webhooks may not go to {@code url} now; empty if they may. A host that does not resolve may (it fails later). */
  Optional<String> refusal(String url) {
    URI uri;
    try {
      uri = new URI(url);
    } catch (java.net.URISyntaxException e) {
      return Optional.of("the URL does not parse");
    }
    String host = uri.getHost();
    if (host == null || uri.getUserInfo() != null || uri.getFragment() != null) {
      return Optional.of("the URL needs a host, and no user info or fragment");
    }
    InetAddress[] addresses;
    try {
      addresses = InetAddress.getAllByName(host);
    } catch (UnknownHostException e) {
      addresses = new InetAddress[0];
    }
    boolean loopbackOnly = addresses.length > 0;
    for (InetAddress a : addresses) {
      loopbackOnly &= a.isLoopbackAddress();
      if (!isPublic(a) && allowed.stream().noneMatch(n -> n.contains(a))) {
        return Optional.of("the host resolves to a private, loopback or link-local address that "
            + "CONVENE_WEBHOOK_ALLOWED_NETWORKS does not allow");
      }
    }
    if (!"https".equals(uri.getScheme()) && !("http".equals(uri.getScheme()) && loopbackOnly)) {
      return Optional.of("webhooks are sent over https (http only to loopback)");
    }
    return Optional.empty();
  }

  static boolean isPublic(InetAddress a) {
    if (a.isLoopbackAddress() || a.isAnyLocalAddress() || a.isLinkLocalAddress() || a.isSiteLocalAddress()
        || a.isMulticastAddress()) {
      return false;
    }
    byte[] b = a.getAddress();
    if (a instanceof Inet6Address) {
      return (b[0] & 0xfe) != 0xfc; // fc00::/7, unique local
    }
    int first = b[0] & 0xff;
    int second = b[1] & 0xff;
    return first != 0 && !(first == 100 && second >= 64 && second < 128) // 100.64.0.0/10, shared (CGNAT)
        && !(first == 192 && second == 0 && (b[2] & 0xff) == 0) // 192.0.0.0/24, protocol assignments
        && first < 240; // reserved and broadcast
  }

  /** An IP network in CIDR notation. */
  record Network(byte[] base, int prefix) {
    static Network parse(String cidr) {
      String[] parts = cidr.trim().split("/", 2);
      try {
        byte[] base = InetAddress.getByName(parts[0]).getAddress();
        int prefix = parts.length == 2 ? Integer.parseInt(parts[1]) : base.length * 8;
        if (prefix < 0 || prefix > base.length * 8 || !parts[0].matches("[0-9A-Fa-f:.]+")) {
          throw new IllegalArgumentException();
        }
        return new Network(base, prefix);
      } catch (UnknownHostException | IllegalArgumentException e) {
        throw new IllegalArgumentException("CONVENE_WEBHOOK_ALLOWED_NETWORKS: '" + cidr + "' is not a CIDR network");
      }
    }

    boolean contains(InetAddress a) {
      byte[] b = a.getAddress();
      if (b.length != base.length) {
        return false;
      }
      for (int bit = 0; bit < prefix; bit++) {
        int mask = 0x80 >> (bit % 8);
        if ((b[bit / 8] & mask) != (base[bit / 8] & mask)) {
          return false;
        }
      }
      return true;
    }
  }
}
