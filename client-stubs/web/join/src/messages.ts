// Human messages for what Convene answers, keyed by the ErrorInfo reason the web client decodes
// (conveneErrorDetails(e).reason, a value of the contract's ErrorReason enum).
import type { ConveneErrorDetails } from "@convene/web-client";
import type { PageState } from "./main.js";

export interface Message {
  state: PageState;
  text: string;
  /** Offer the code field again (the code itself was the problem). */
  askAgain?: boolean;
}

const byReason: Record<string, Message> = {
  ACCESS_CODE_NOT_FOUND: {
    state: "error",
    text: "That access code is not right. Check the code in your invitation and try again.",
    askAgain: true,
  },
  ACCESS_CODE_EXPIRED: {
    state: "error",
    text: "This access code has expired. Please ask the clinic for a new invitation.",
  },
  ACCESS_CODE_REVOKED: {
    state: "error",
    text: "This access code is no longer valid. Please ask the clinic for a new invitation.",
  },
  ACCESS_CODE_USED_UP: {
    state: "error",
    text: "This access code has already been used. Please ask the clinic for a new invitation.",
  },
  INVALID_ARGUMENT: {
    state: "error",
    text: "That access code is not right. Check the code in your invitation and try again.",
    askAgain: true,
  },
  SESSION_FULL: { state: "error", text: "This call is full. Please try again in a few minutes or contact the clinic." },
  PARTICIPANT_BANNED: { state: "error", text: "You cannot join this call: the host has removed you from it." },
  SESSION_ENDED: { state: "error", text: "This call has ended." },
  SESSION_NOT_FOUND: { state: "error", text: "We could not find this call. Please open the link from your invitation again." },
  TOO_MANY_ATTEMPTS: {
    state: "error",
    text: "Too many attempts with a wrong code. Please wait a few minutes, then try again.",
  },
  ADMISSION_DENIED: { state: "denied", text: "The host did not let you into this call." },
  JOIN_WINDOW_NOT_OPEN: {
    state: "error",
    text: "This call is not open yet. Please come back a few minutes before your appointment.",
  },
  PROVIDER_UNAVAILABLE: { state: "error", text: "The video service is not answering. Please try again in a minute." },
  PROVIDER_NOT_CONFIGURED: { state: "error", text: "Calls are not set up for this service yet. Please contact support." },
  GROUP_NOT_FOUND: { state: "error", text: "We could not find this group. You may no longer be a member." },
  GROUP_CALL_NOT_LIVE: { state: "error", text: "This group's call has ended. You can start a new one." },
  GROUP_FULL: { state: "error", text: "This group is full, so the invitation could not be accepted. Please ask the group's owner." },
  TOO_MANY_GROUPS: { state: "error", text: "You are in too many groups to join another. Leave one first." },
  INVALID_CREDENTIAL: { state: "error", text: "Your sign-in link has expired. Please open the group calls from the app again." },
  CREDENTIAL_EXPIRED: { state: "error", text: "Your sign-in link has expired. Please open the group calls from the app again." },
};

/** The message for a failed Convene call. */
export function messageFor(error: ConveneErrorDetails): Message {
  const known = byReason[error.reason];
  if (known) {
    return known;
  }
  if (error.codeName === "UNAVAILABLE" || error.codeName === "UNKNOWN" || error.codeName === "DEADLINE_EXCEEDED") {
    return { state: "error", text: "We could not reach the service. Check your internet connection and reload the page." };
  }
  return { state: "error", text: `Something went wrong (${error.reason || error.codeName}). Please reload the page or contact the clinic.` };
}

/** Why joining the provider's call failed, after Convene gave a join token. */
export type CallFailure = "sdk" | "unreachable" | "media-denied" | "no-device" | "device-busy" | "provider-token" | "convene" | "other";

/**
 * The message for a failure to join the provider's call: the browser SDK would not load, the
 * provider could not be reached, the camera or microphone could not be used, or (JoinSession,
 * Jitsi) Convene refused.
 */
export function callFailure(error: unknown, convene: ConveneErrorDetails): { kind: CallFailure; text: string } {
  const name = error instanceof Error ? error.name : "";
  const code = typeof (error as { code?: unknown } | null)?.code === "number" ? (error as { code: number }).code : 0;
  if (name === "SdkLoadError") {
    return { kind: "sdk", text: "We could not load the video call. Check your internet connection, then reload the page." };
  }
  if (name === "NotAllowedError" || name === "PermissionDeniedError" || name === "SecurityError") {
    return {
      kind: "media-denied",
      text: "This page may not use your camera and microphone. Allow them for this page, then reload.",
    };
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return { kind: "no-device", text: "We could not find a camera or microphone. Connect one, then reload the page." };
  }
  if (name === "NotReadableError") {
    return { kind: "device-busy", text: "Your camera or microphone is busy in another app. Close that app, then reload the page." };
  }
  // Twilio: 53000-53002 signaling, 53006 busy, 53500/53501 configuration and TURN; Jitsi: its
  // external_api.js did not load (jitsi.ts names that error ProviderUnreachable).
  if (name === "ProviderUnreachable" || (code >= 53000 && code <= 53006) || code === 53500 || code === 53501) {
    return {
      kind: "unreachable",
      text: "We could not connect to the video service. Check your internet connection (some work networks block video calls), then reload the page.",
    };
  }
  // Twilio 20101-20199: the access token was refused.
  if (code >= 20101 && code <= 20199) {
    return {
      kind: "provider-token",
      text: "The video service did not accept this call's pass. Please reload the page and enter your access code again.",
    };
  }
  if (convene.codeName !== "UNKNOWN" && convene.reason) {
    return { kind: "convene", text: messageFor(convene).text };
  }
  return {
    kind: "other",
    text: "We could not connect you to the call. Check your connection and allow the camera and microphone, then reload.",
  };
}
