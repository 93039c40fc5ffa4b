package dev.convene.server.invitation;

import dev.convene.server.grpc.ConveneException;
import dev.convene.server.platform.Tx;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.InvitationSettings;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/**
 * What an invitation says and where its link points: the tenant's SMS text around the link and
 * its join page (else the defaults: {@link #DEFAULT_SMS}, CONVENE_INVITE_BASE_URL). An SMS text must fit in {@link #MAX_SEGMENTS} segments with the longest link.
 */
final class Templates {
  static final String DEFAULT_SMS = "You are invited to a video visit. Join here: {link}";
  static final String DEFAULT_GROUP_SMS = "You are invited to join a group for calls. Join here: {link}";
  static final int MAX_SEGMENTS = 3;
  /** The longest link's tail: a session id of 64 characters and a code (a group's is as long). */
  private static final String LONGEST_TAIL = "#session=ses_" + "x".repeat(60) + "&code=XXXX-XXXX";
  /** GSM 03.38's basic character set (one septet each) and its extension table (two each). */
  private static final String GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
      + "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  private static final String GSM_EXTENDED = "^{}\\[~]|€\f";

  /** The tenant's settings, defaults filled in. */
  record Settings(String smsTemplate, String baseUrl, String groupSmsTemplate) {
    InvitationSettings toProto() {
      return InvitationSettings.newBuilder().setSmsTemplate(smsTemplate).setInviteBaseUrl(baseUrl)
          .setGroupSmsTemplate(groupSmsTemplate).build();
    }
  }

  private final String defaultBaseUrl;

  Templates(String defaultBaseUrl) {
    this.defaultBaseUrl = defaultBaseUrl;
  }

  Settings settings(Handle h, String tenantId) {
    Optional<String[]> row = h.createQuery(
            "SELECT sms_template, invite_base_url, group_sms_template FROM invitation_settings WHERE tenant_id = :tenantId")
        .bind("tenantId", tenantId).map((rs, ctx) -> new String[] {rs.getString(1), rs.getString(2), rs.getString(3)})
        .findOne();
    String template = row.map(r -> r[0]).orElse(null);
    String base = row.map(r -> r[1]).orElse(null);
    String group = row.map(r -> r[2]).orElse(null);
    return new Settings(template == null ? DEFAULT_SMS : template, base == null ? defaultBaseUrl : base,
        group == null ? DEFAULT_GROUP_SMS : group);
  }

  /** Stores the tenant's settings (empty: the default); INVALID_ARGUMENT naming the field that does not fit. */
  Settings set(Tx tx, InvitationSettings req) {
    String template = req.getSmsTemplate().isEmpty() ? null : req.getSmsTemplate();
    String base = req.getInviteBaseUrl().isEmpty() ? null : req.getInviteBaseUrl();
    String group = req.getGroupSmsTemplate().isEmpty() ? null : req.getGroupSmsTemplate();
    Settings next = new Settings(template == null ? DEFAULT_SMS : template, base == null ? defaultBaseUrl : base,
        group == null ? DEFAULT_GROUP_SMS : group);
    if (base != null && base.contains("#")) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "settings.invite_base_url",
          "invite_base_url must not have a fragment: the session and code go there");
    }
    requireFits(next.smsTemplate(), template != null, "sms_template", next.baseUrl());
    requireFits(next.groupSmsTemplate(), group != null, "group_sms_template", next.baseUrl());
    tx.handle().createUpdate("""
            INSERT INTO invitation_settings (tenant_id, sms_template, invite_base_url, group_sms_template, update_time)
            VALUES (:tenantId, :template, :base, :group, :now)
            ON CONFLICT (tenant_id) DO UPDATE
               SET sms_template = excluded.sms_template, invite_base_url = excluded.invite_base_url,
                   group_sms_template = excluded.group_sms_template, update_time = excluded.update_time
            """).bind("tenantId", tx.tenantId()).bind("template", template).bind("base", base).bind("group", group)
        .bind("now", tx.now()).execute();
    return next;
  }

  /**
   * INVALID_ARGUMENT unless {@code text} has {@code {link}} exactly once and, with the longest link
   * on {@code baseUrl}, fits in {@link #MAX_SEGMENTS} segments: naming {@code field} when the tenant
   * gave the text ({@code given}), else the base URL that made the default too long.
   */
  private static void requireFits(String text, boolean given, String field, String baseUrl) {
    if (text.indexOf("{link}") < 0 || text.indexOf("{link}") != text.lastIndexOf("{link}")) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT, "settings." + field,
          field + " must contain {link} exactly once");
    }
    int segments = segments(text.replace("{link}", baseUrl + LONGEST_TAIL));
    if (segments > MAX_SEGMENTS) {
      throw ConveneException.invalidArgument(ErrorReason.INVALID_ARGUMENT,
          given ? "settings." + field : "settings.invite_base_url",
          "with the longest link the text takes " + segments + " SMS segments; at most " + MAX_SEGMENTS);
    }
  }

  /**
   * The join page's link into {@code target} (a session, or a group: {@code #group=}): the id and
   * the code ride in the fragment, which no server logs.
   */
  static String link(Settings s, Target target, String code) {
    return s.baseUrl() + (target.isGroup() ? "#group=" : "#session=") + target.id() + "&code=" + code;
  }

  /** The SMS text of an invitation into {@code target} with {@code code}. */
  static String render(Settings s, Target target, String code) {
    return (target.isGroup() ? s.groupSmsTemplate() : s.smsTemplate()).replace("{link}", link(s, target, code));
  }

  /** How many SMS segments {@code text} takes: 160/153 GSM-7 septets, or 70/67 UCS-2 units. */
  static int segments(String text) {
    int septets = 0;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (GSM_BASIC.indexOf(c) >= 0) {
        septets += 1;
      } else if (GSM_EXTENDED.indexOf(c) >= 0) {
        septets += 2;
      } else {
        int units = text.length();
        return units <= 70 ? 1 : (units + 66) / 67;
      }
    }
    return septets <= 160 ? 1 : (septets + 152) / 153;
  }

}
