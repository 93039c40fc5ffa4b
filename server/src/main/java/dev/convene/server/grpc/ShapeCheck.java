package dev.convene.server.grpc;

import build.buf.validate.FieldPath;
import build.buf.validate.FieldPathElement;
import build.buf.validate.FieldRules;
import build.buf.validate.ValidateProto;
import build.buf.validate.Violation;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Duration;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

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

  /**
   * What the walk must look at in one message type, worked out once per type: lists and maps
   * (with their declared size limit, or -1) and fields holding messages. A type with none, such as
   * GetSessionRequest, costs the walk nothing.
   */
  private record Plan(FieldDescriptor field, long max, FieldDescriptor mapKey, FieldDescriptor mapValue) {}

  private static final Map<Descriptor, List<Plan>> PLANS = new ConcurrentHashMap<>();

  private static List<Plan> plan(Descriptor type) {
    return PLANS.computeIfAbsent(type, t -> {
      List<Plan> plans = new ArrayList<>();
      for (FieldDescriptor f : t.getFields()) {
        FieldRules rules = f.getOptions().getExtension(ValidateProto.field);
        if (f.isMapField()) {
          long max = rules.hasMap() && rules.getMap().hasMaxPairs() ? rules.getMap().getMaxPairs() : -1;
          plans.add(new Plan(f, max, f.getMessageType().findFieldByName("key"),
              f.getMessageType().findFieldByName("value")));
        } else if (f.isRepeated()) {
          long max = rules.hasRepeated() && rules.getRepeated().hasMaxItems() ? rules.getRepeated().getMaxItems() : -1;
          plans.add(new Plan(f, max, null, null));
        } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
          plans.add(new Plan(f, -1, null, null));
        }
      }
      return List.copyOf(plans);
    });
  }

  private static void walk(Message message, List<FieldPathElement> path, List<Violation> out) {
    for (Plan p : plan(message.getDescriptorForType())) {
      FieldDescriptor f = p.field();
      if (!f.isRepeated()) {
        if (message.hasField(f)) {
          check((Message) message.getField(f), path, element(f).build(), out);
        }
        continue;
      }
      int n = message.getRepeatedFieldCount(f);
      if (p.max() >= 0 && n > p.max()) {
        out.add(f.isMapField()
            ? violation(path, element(f), "map.max_pairs", "map must be at most " + p.max() + " entries")
            : violation(path, element(f), "repeated.max_items", "value must contain no more than " + p.max() + " item(s)"));
        continue;
      }
      for (int i = 0; i < n; i++) {
        if (f.isMapField()) {
          if (p.mapValue().getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
            Message entry = (Message) message.getRepeatedField(f, i);
            FieldPathElement.Builder el = element(f);
            if (entry.getField(p.mapKey()) instanceof String key) {
              el.setStringKey(key);
            }
            check((Message) entry.getField(p.mapValue()), path, el.build(), out);
          }
        } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
          check((Message) message.getRepeatedField(f, i), path, element(f).setIndex(i).build(), out);
        }
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
