/**
 * Reason Strings the server puts in its CONNACK refusals and DISCONNECTs to MQTT 5 clients: a
 * short human-readable why, for people reading client logs (a program acts on the Reason Code).
 *
 * Where they go: only to a client that did not set Request Problem Information 0. The spec lets
 * CONNACK and DISCONNECT carry one even then v5 [MQTT-3.1.2-29]; we honour the client's wish
 * everywhere instead (it asked for less, and it still gets the Reason Code). Never in a packet
 * that would then exceed the client's Maximum Packet Size v5 [MQTT-3.2.2-19], [MQTT-3.14.2-3]:
 * the packet goes without it. At most MAX_REASON_STRING characters (an error message quoted as
 * the reason is cut).
 */
import { encodeConnackV5, encodeDisconnectV5 } from '../protocol/encoder-v5';
import { CloseReason } from '../protocol/reason-codes';
import type { ClientV5Settings } from './link';

export const MAX_REASON_STRING = 128;

/** The Reason String for closing a connection for `reason` (CONNACK refusal or DISCONNECT), or null. */
export function reasonStringFor(reason: CloseReason): string | null {
  switch (reason) {
    case CloseReason.Keepalive:
      return 'nothing received within 1.5 times the Keep Alive';
    case CloseReason.Takeover:
      return 'another connection took over this client identifier';
    case CloseReason.Shutdown:
      return 'server shutting down';
    case CloseReason.Admin:
      return 'disconnected by an administrator';
    case CloseReason.StoreFailure:
      return 'the server could not store the session state';
    case CloseReason.QueueOverflow:
      return 'too many messages not acknowledged (max-queued-messages)';
    case CloseReason.IdentifierRejected:
      return 'client identifier not accepted (max-client-id-length)';
    case CloseReason.NotAuthorized:
      return 'not authorized';
    case CloseReason.BadCredentials:
      return 'bad user name or password';
    case CloseReason.AuthError:
      return 'authentication failed';
    case CloseReason.AuthTimeout:
      return 'authentication did not finish in time';
    case CloseReason.AuthFailures:
      return 'too many failed logins from this address, retry later';
    case CloseReason.AuthBusy:
      return 'too many logins pending, retry later';
    case CloseReason.SessionOwner:
      return 'this client identifier belongs to another user';
    case CloseReason.SessionLimit:
      return 'session limit reached (max-sessions)';
    default:
      return null;
  }
}

/** `text` bounded to MAX_REASON_STRING code points (a cut never splits a surrogate pair). */
function bounded(text: string): string {
  if (text.length <= MAX_REASON_STRING) return text;
  return Array.from(text).slice(0, MAX_REASON_STRING).join('');
}

/** Whether `v5`'s client takes a Reason String at all (Request Problem Information not 0). */
function wantsProblemInformation(v5: ClientV5Settings | null): v5 is ClientV5Settings {
  return v5 !== null && v5.requestProblemInformation;
}

/** True when `packet` fits the client's Maximum Packet Size (none given: everything fits). */
function fits(v5: ClientV5Settings, packet: Buffer): boolean {
  return v5.maximumPacketSize === 0 || packet.length <= v5.maximumPacketSize;
}

/** A v5 CONNACK refusal with `text` as its Reason String where the client takes it. */
export function connackWithReason(v5: ClientV5Settings | null, code: number, text: string | null): Buffer {
  if (text !== null && wantsProblemInformation(v5)) {
    const packet = encodeConnackV5(false, code, { reasonString: bounded(text) });
    if (fits(v5, packet)) return packet;
  }
  return encodeConnackV5(false, code);
}

/** A server DISCONNECT with `text` as its Reason String where the client takes it. */
export function disconnectWithReason(v5: ClientV5Settings | null, code: number, text: string | null): Buffer {
  if (text !== null && wantsProblemInformation(v5)) {
    const packet = encodeDisconnectV5(code, { reasonString: bounded(text) });
    if (fits(v5, packet)) return packet;
  }
  return encodeDisconnectV5(code);
}
