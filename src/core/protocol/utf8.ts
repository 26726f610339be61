/**
 * Strict decoding of MQTT UTF-8 string bodies (section 1.5.3).
 *
 * - ill-formed UTF-8, overlong forms and encoded surrogates U+D800..U+DFFF are refused [MQTT-1.5.3-1]
 *   (Buffer#toString('utf8') would quietly substitute U+FFFD: never use it on peer input);
 * - U+0000 is refused [MQTT-1.5.3-2]: in well-formed UTF-8 it can only be the byte 00, so a byte
 *   scan finds it;
 * - U+FEFF (EF BB BF) is kept wherever it is, including at the start [MQTT-1.5.3-3]: hence
 *   ignoreBOM: true, without which TextDecoder strips a leading one.
 *
 * Policy for the "SHOULD NOT" characters of 1.5.3 (controls U+0001..U+001F, U+007F..U+009F,
 * non-characters): accepted. The spec lets the receiver close, but does not require it, and
 * peers (mosquitto, aedes) accept them.
 */
import { MALFORMED_PACKET, ProtocolError } from './errors';

/** ReasonCode.TopicNameInvalid. */
const TOPIC_NAME_INVALID = 0x90;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Byte classes: 0 plain ASCII, 1 NUL, 2 non-ASCII (>= 0x80), 3 wildcard ('+' or '#'). */
const PLAIN = 0;
const NUL = 1;
const WILDCARD = 3;
/** Classes for any string field: wildcards are ordinary characters. */
const STRING_CLASS = new Uint8Array(256);
/** Classes for Topic Names (PUBLISH topic, Will Topic), where '+' and '#' are refused. */
const TOPIC_CLASS = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const c = b === 0 ? NUL : b >= 0x80 ? 2 : PLAIN;
  STRING_CLASS[b] = c;
  TOPIC_CLASS[b] = b === 0x23 || b === 0x2b ? WILDCARD : c;
}

/**
 * Decodes `buf[start, end)` as a strict MQTT UTF-8 string; throws ProtocolError otherwise.
 * Pure-ASCII strings (the overwhelming majority of topics and client ids) take a fast path that
 * avoids TextDecoder and the subarray it needs.
 */
export function decodeUtf8(buf: Buffer, start: number, end: number): string {
  return decode(buf, start, end, STRING_CLASS, '', V3_RULES);
}

/**
 * decodeUtf8 for MQTT 5 connections: the same rules, cited by their 5.0 ids v5 [MQTT-1.5.4-1]
 * (well-formed, no surrogates) and v5 [MQTT-1.5.4-2] (no U+0000); U+FEFF kept v5 [MQTT-1.5.4-3].
 * Every failure is a Malformed Packet (0x81).
 */
export function decodeUtf8V5(buf: Buffer, start: number, end: number): string {
  return decode(buf, start, end, STRING_CLASS, '', V5_RULES);
}

/**
 * decodeUtf8 for a Topic Name, also refusing '+' and '#' (with `wildcardRule`, e.g. 'MQTT-3.3.2-2'
 * for a PUBLISH topic, 'MQTT-4.7.1-1' for a Will Topic) in the same pass over the bytes. Both are
 * ASCII, so a byte never belongs to a multi-byte sequence: a byte scan is exact.
 * Emptiness is the caller's check [MQTT-4.7.3-1].
 */
export function decodeTopicName(buf: Buffer, start: number, end: number, wildcardRule: string): string {
  return decode(buf, start, end, TOPIC_CLASS, wildcardRule, V3_RULES);
}

/**
 * decodeTopicName for MQTT 5 connections (PUBLISH topic, Will Topic, Response Topic): a wildcard
 * is reported with 0x90 Topic Name invalid, v5 [MQTT-4.7.0-1].
 */
export function decodeTopicNameV5(buf: Buffer, start: number, end: number, wildcardRule: string): string {
  return decode(buf, start, end, TOPIC_CLASS, wildcardRule, V5_RULES);
}

interface Rules {
  nul: string;
  malformed: string;
  wildcardCode: number;
}
const V3_RULES: Rules = { nul: 'MQTT-1.5.3-2', malformed: 'MQTT-1.5.3-1', wildcardCode: MALFORMED_PACKET };
const V5_RULES: Rules = { nul: 'MQTT-1.5.4-2', malformed: 'MQTT-1.5.4-1', wildcardCode: TOPIC_NAME_INVALID };

function decode(buf: Buffer, start: number, end: number, classes: Uint8Array, wildcardRule: string, rules: Rules): string {
  let i = start;
  while (i < end && classes[buf[i]] === PLAIN) i++;
  if (i === end) return buf.toString('latin1', start, end);
  // Stopped on NUL, a wildcard or a byte >= 0x80. 00, '+' and '#' never occur inside a multi-byte
  // sequence, so the rest of the scan stays byte-wise; then the strict decoder judges the UTF-8.
  for (; i < end; i++) {
    const c = classes[buf[i]];
    if (c === NUL) throw new ProtocolError('string contains U+0000', rules.nul);
    if (c === WILDCARD) throw new ProtocolError('Topic Name contains a wildcard character', wildcardRule, rules.wildcardCode);
  }
  try {
    return decoder.decode(buf.subarray(start, end));
  } catch {
    throw new ProtocolError('string is not well-formed UTF-8', rules.malformed);
  }
}

/**
 * Whether `buf[start, end)` is a string decodeUtf8 accepts (well-formed UTF-8 [MQTT-1.5.3-1], no
 * U+0000 [MQTT-1.5.3-2]), judged on the bytes without building the string: for fields that are
 * validated but never used (SUBSCRIBE filters beyond the handler's cap).
 */
export function isValidUtf8(buf: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b = buf[i];
    if (b < 0x80) {
      if (b === 0) return false;
      i++;
      continue;
    }
    let n: number;
    let min: number;
    let cp: number;
    if (b >= 0xc2 && b <= 0xdf) {
      n = 1;
      min = 0x80;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      min = 0x800;
      cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      min = 0x10000;
      cp = b & 0x07;
    } else {
      return false; // continuation byte, overlong C0/C1, or beyond U+10FFFF
    }
    if (i + n >= end) return false; // sequence cut by the field's end
    for (let k = 1; k <= n; k++) {
      const c = buf[i + k];
      if ((c & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong, surrogate (U+D800..U+DFFF) or beyond U+10FFFF.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
    i += n + 1;
  }
  return true;
}
