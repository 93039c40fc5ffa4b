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
