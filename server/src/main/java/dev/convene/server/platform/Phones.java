package dev.convene.server.platform;

import com.google.i18n.phonenumbers.NumberParseException;
import com.google.i18n.phonenumbers.PhoneNumberUtil;
import com.google.i18n.phonenumbers.Phonenumber.PhoneNumber;
import dev.convene.server.grpc.ConveneException;
import dev.convene.v1.ErrorReason;

/** Phone numbers through libphonenumber: parsed (E.164, or national with a region), validated, normalised, masked. */
public final class Phones {
  private static final PhoneNumberUtil UTIL = PhoneNumberUtil.getInstance();

  private Phones() {}

  /**
   * {@code phone} as E.164 ({@code +14155550123}); INVALID_ARGUMENT naming {@code field} (the
   * request's phone field) when it is no valid number.
   */
  public static String normalise(String phone, String region, String field) {
    PhoneNumber number;
    try {
      number = UTIL.parse(phone, region.isEmpty() ? null : region);
    } catch (NumberParseException e) {
      throw invalid(field, region.isEmpty() && !phone.startsWith("+")
          ? "phone must be E.164 (+ and country code), or give phone_region" : "phone is not a phone number");
    }
    if (!UTIL.isValidNumber(number)) {
      throw invalid(field, "phone is not a valid number" + (region.isEmpty() ? "" : " in " + region));
    }
    return UTIL.format(number, PhoneNumberUtil.PhoneNumberFormat.E164);
  }

  /** The E.164 number with all but its country code and last four digits hidden: {@code +1••••••0123}. */
  public static String mask(String e164) {
    PhoneNumber number;
    try {
      number = UTIL.parse(e164, null);
    } catch (NumberParseException e) {
      throw new IllegalArgumentException("not E.164");
    }
    String cc = "+" + number.getCountryCode();
    String national = e164.substring(cc.length());
    int shown = Math.min(4, national.length());
    return cc + "\u2022".repeat(national.length() - shown) + national.substring(national.length() - shown);
  }

  private static ConveneException invalid(String field, String message) {
    return ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, field, message);
  }
}
