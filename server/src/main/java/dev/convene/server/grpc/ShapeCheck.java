package dev.convene.server.grpc;

import build.buf.validate.FieldPath;
import build.buf.validate.FieldPathElement;
import build.buf.validate.FieldRules;
import build.buf.validate.ValidateProto;
import build.buf.validate.Violation;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Duration;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The checks that must hold before protovalidate's rules can be evaluated safely and quickly, run
 * first over any request: every list and map within its declared {@code max_items} /
 * {@code max_pairs} (protovalidate would otherwise evaluate every rule, some quadratic such as
 * {@code unique()}, over a list of any length before reporting its size), and every Timestamp and
 * Duration within the range the protobuf well-known types define (outside it CEL and PostgreSQL
 * fail on the value instead of rejecting it). Violations look like protovalidate's, so the caller
 * sees one kind of INVALID_ARGUMENT.
 */
final class ShapeCheck {
  /** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range of google.protobuf.Timestamp. */
  static final long MIN_SECONDS = -62_135_596_800L;
  static final long MAX_SECONDS = 253_402_300_799L;
  /** About 10,000 years, the range of google.protobuf.Duration. */
  static final long MAX_DURATION_SECONDS = 315_576_000_000L;

  private ShapeCheck() {}

  /** The shape violations of {@code message}; empty when protovalidate may run. */
  static List<Violation> violations(Message message) {
    List<Violation> out = new ArrayList<>();
    walk(message, new ArrayList<>(), out);
    return out;
  }

  private static void walk(Message message, List<FieldPathElement> path, List<Violation> out) {
    for (Map.Entry<FieldDescriptor, Object> e : message.getAllFields().entrySet()) {
      FieldDescriptor f = e.getKey();
      FieldRules rules = f.getOptions().getExtension(ValidateProto.field);
      if (f.isMapField()) {
        int n = message.getRepeatedFieldCount(f);
        if (rules.hasMap() && rules.getMap().hasMaxPairs() && n > rules.getMap().getMaxPairs()) {
          out.add(violation(path, element(f), "map.max_pairs",
              "map must be at most " + rules.getMap().getMaxPairs() + " entries"));
          continue;
        }
        FieldDescriptor valueField = f.getMessageType().findFieldByName("value");
        if (valueField.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
          for (Object entry : (List<?>) e.getValue()) {
            Message m = (Message) entry;
            Object key = m.getField(f.getMessageType().findFieldByName("key"));
            FieldPathElement.Builder el = element(f);
            if (key instanceof String s) {
              el.setStringKey(s);
            }
            check((Message) m.getField(valueField), path, el.build(), out);
          }
        }
      } else if (f.isRepeated()) {
        int n = message.getRepeatedFieldCount(f);
        if (rules.hasRepeated() && rules.getRepeated().hasMaxItems() && n > rules.getRepeated().getMaxItems()) {
          out.add(violation(path, element(f), "repeated.max_items",
              "value must contain no more than " + rules.getRepeated().getMaxItems() + " item(s)"));
          continue;
        }
        if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
          List<?> items = (List<?>) e.getValue();
          for (int i = 0; i < items.size(); i++) {
            check((Message) items.get(i), path, element(f).setIndex(i).build(), out);
          }
        }
      } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
        check((Message) e.getValue(), path, element(f).build(), out);
      }
    }
  }

  private static void check(Message value, List<FieldPathElement> path, FieldPathElement at, List<Violation> out) {
    if (value instanceof Timestamp t) {
      if (t.getSeconds() < MIN_SECONDS || t.getSeconds() > MAX_SECONDS || t.getNanos() < 0
          || t.getNanos() > 999_999_999) {
        out.add(violation(path, at.toBuilder(), "timestamp.valid",
            "must be a valid timestamp, from 0001-01-01 to 9999-12-31"));
      }
    } else if (value instanceof Duration d) {
      long s = d.getSeconds();
      int n = d.getNanos();
      if (Math.abs(s) > MAX_DURATION_SECONDS || Math.abs(n) > 999_999_999 || (s > 0 && n < 0) || (s < 0 && n > 0)) {
        out.add(violation(path, at.toBuilder(), "duration.valid", "must be a valid duration, at most 10,000 years"));
      }
    } else {
      path.add(at);
      walk(value, path, out);
      path.remove(path.size() - 1);
    }
  }

  private static FieldPathElement.Builder element(FieldDescriptor f) {
    return FieldPathElement.newBuilder().setFieldNumber(f.getNumber()).setFieldName(f.getName())
        .setFieldType(f.getType().toProto());
  }

  private static Violation violation(List<FieldPathElement> path, FieldPathElement.Builder at, String rule,
      String message) {
    return Violation.newBuilder()
        .setField(FieldPath.newBuilder().addAllElements(path).addElements(at))
        .setRuleId(rule)
        .setMessage(message)
        .build();
  }
}
