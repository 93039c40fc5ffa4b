package dev.convene.server.platform;

import com.google.protobuf.MessageLite;
import java.util.List;

/**
 * Page bounds besides the item count: a page stops before its items pass {@link #MAX_BYTES}, so a
 * valid page never comes near the 4 MiB message limit clients have by default, whatever the items
 * hold.
 */
public final class Pages {
  /** The most bytes of items one page carries. */
  public static final int MAX_BYTES = 1 << 20;

  private Pages() {}

  /**
   * How many of {@code items}, in order, go on a page of at most {@code size} items and
   * {@code maxBytes}; at least one when there is any, since one valid item always fits.
   */
  public static int fit(List<? extends MessageLite> items, int size, int maxBytes) {
    int n = Math.min(size, items.size());
    long bytes = 0;
    for (int i = 0; i < n; i++) {
      // Each repeated item costs its length, a length prefix and a tag.
      bytes += items.get(i).getSerializedSize() + 6;
      if (bytes > maxBytes && i > 0) {
        return i;
      }
    }
    return n;
  }

  public static int fit(List<? extends MessageLite> items, int size) {
    return fit(items, size, MAX_BYTES);
  }
}
