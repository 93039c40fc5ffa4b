package dev.convene.server.platform;

import java.util.List;
import java.util.function.Function;

/**
 * Rows as parallel column arrays, for the one-statement multi-row writes
 * ({@code unnest(CAST(:a AS text[]), CAST(:b AS text[]), ...)}).
 */
public final class SqlArrays {
  private SqlArrays() {}

  /** One column of {@code rows}: {@code value} of each, in order. */
  public static <T> String[] column(List<T> rows, Function<T, String> value) {
    String[] out = new String[rows.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = value.apply(rows.get(i));
    }
    return out;
  }
}
