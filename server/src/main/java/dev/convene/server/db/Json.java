package dev.convene.server.db;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.JsonFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/** JSON for jsonb columns, through protobuf's own JSON mapping (no second JSON library). */
public final class Json {
  private Json() {}

  public static String print(MessageOrBuilder message) {
    try {
      return JsonFormat.printer().omittingInsignificantWhitespace().print(message);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException(e);
    }
  }

  public static void merge(String json, Message.Builder into) {
    try {
      JsonFormat.parser().merge(json, into);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("stored JSON does not parse", e);
    }
  }

  /** A string map as a JSON object. */
  public static String ofStringMap(Map<String, String> map) {
    Struct.Builder b = Struct.newBuilder();
    map.forEach((k, v) -> b.putFields(k, Value.newBuilder().setStringValue(v).build()));
    return print(b);
  }

  /** A JSON object of strings as a map, in stored order. */
  public static Map<String, String> toStringMap(String json) {
    Struct.Builder b = Struct.newBuilder();
    merge(json, b);
    Map<String, String> out = new LinkedHashMap<>();
    b.getFieldsMap().forEach((k, v) -> out.put(k, v.getStringValue()));
    return out;
  }
}
