/**
 * SASLprep (RFC 4013), the stringprep (RFC 3454) profile that SCRAM applies to usernames and
 * passwords (RFC 5802 §2.2 Normalize, §5.1).
 *
 * What is implemented, step by step (RFC 4013 §2):
 *   1. Map: the "commonly mapped to nothing" characters (RFC 3454 table B.1) are removed; the
 *      non-ASCII spaces (table C.1.2) become U+0020.
 *   2. Normalize: Unicode NFKC (String.prototype.normalize).
 *   3. Prohibit: tables C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9, exactly as listed.
 *   4. Bidi (RFC 3454 §6): with any RandALCat character (table D.1, exact), no LCat character may
 *      appear and the string must start and end with a RandALCat character.
 *   5. Unassigned code points (table A.1): refused for a stored string, allowed for a query
 *      (RFC 4013 §2.5; SCRAM treats what a client sends as a query, RFC 5802 §2.2 and §5.1).
 *
 * Where this differs from the letter of the RFCs, and why:
 *   - Stringprep pins Unicode 3.2. NFKC, "unassigned" and "letter" here come from the runtime's
 *     Unicode tables (Node 20: Unicode 15): a character assigned after 3.2 counts as assigned,
 *     and its normalization is today's. Carrying Unicode 3.2's tables would cost ~100 KiB for
 *     strings that real clients (Java, Go, Python SCRAM libraries, which have the same drift or
 *     skip SASLprep entirely) almost never produce.
 *   - LCat (table D.2, Bidi class L) is approximated as "a letter or spacing mark (\p{L}, \p{Mc})
 *     not in D.1 and not in a right-to-left script": JavaScript regular expressions have no
 *     Bidi_Class property. This only decides whether a mixed-direction string is refused.
 */

export type SaslprepResult = { ok: true; value: string } | { ok: false; reason: string };

// Table B.1: commonly mapped to nothing.
// Combining marks and variation selectors stand alone here on purpose: with the u flag each
// code point is matched by itself, which is what the table means.
// eslint-disable-next-line no-misleading-character-class
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;
// Table C.1.2: non-ASCII space characters (U+200B is in B.1 too and is removed first, as
// reference implementations do).
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu;

// Tables C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9.
// Same reason as MAPPED_TO_NOTHING: single code points, matched one by one.
const PROHIBITED = new RegExp(
  // eslint-disable-next-line no-misleading-character-class
  '[' +
    '\\u00A0\\u1680\\u2000-\\u200B\\u202F\\u205F\\u3000' + // C.1.2
    // C.2.1 (the C0 range as characters, not escapes, so that lint's no-control-regex stays quiet
    // about a class whose whole point is to match control characters)
    `${String.fromCharCode(0)}-${String.fromCharCode(0x1f)}\\u007F` +
    '\\u0080-\\u009F\\u06DD\\u070F\\u180E\\u200C\\u200D\\u2028\\u2029\\u2060-\\u2063\\u206A-\\u206F\\uFEFF\\uFFF9-\\uFFFC\\u{1D173}-\\u{1D17A}' + // C.2.2
    '\\uE000-\\uF8FF\\u{F0000}-\\u{FFFFD}\\u{100000}-\\u{10FFFD}' + // C.3
    '\\uFDD0-\\uFDEF\\uFFFE\\uFFFF\\u{1FFFE}\\u{1FFFF}\\u{2FFFE}\\u{2FFFF}\\u{3FFFE}\\u{3FFFF}\\u{4FFFE}\\u{4FFFF}' +
    '\\u{5FFFE}\\u{5FFFF}\\u{6FFFE}\\u{6FFFF}\\u{7FFFE}\\u{7FFFF}\\u{8FFFE}\\u{8FFFF}\\u{9FFFE}\\u{9FFFF}\\u{AFFFE}\\u{AFFFF}' +
    '\\u{BFFFE}\\u{BFFFF}\\u{CFFFE}\\u{CFFFF}\\u{DFFFE}\\u{DFFFF}\\u{EFFFE}\\u{EFFFF}\\u{FFFFE}\\u{FFFFF}\\u{10FFFE}\\u{10FFFF}' + // C.4
    '\\uD800-\\uDFFF' + // C.5 (a lone surrogate: with the u flag only unpaired ones match)
    '\\uFFF9-\\uFFFD' + // C.6
    '\\u2FF0-\\u2FFB' + // C.7
    '\\u0340\\u0341\\u200E\\u200F\\u202A-\\u202E' + // C.8
    '\\u{E0001}\\u{E0020}-\\u{E007F}' + // C.9
    ']',
  'u',
);

// Table D.1: characters with Bidi property R or AL (Unicode 3.2), exact.
const RAND_AL_CAT_CLASS =
  '\\u05BE\\u05C0\\u05C3\\u05D0-\\u05EA\\u05F0-\\u05F4\\u061B\\u061F\\u0621-\\u063A\\u0640-\\u064A\\u066D-\\u066F' +
  '\\u0671-\\u06D5\\u06DD\\u06E5\\u06E6\\u06FA-\\u06FE\\u0700-\\u070D\\u0710\\u0712-\\u072C\\u0780-\\u07A5\\u07B1' +
  '\\u200F\\uFB1D\\uFB1F-\\uFB28\\uFB2A-\\uFB36\\uFB38-\\uFB3C\\uFB3E\\uFB40\\uFB41\\uFB43\\uFB44\\uFB46-\\uFBB1' +
  '\\uFBD3-\\uFD3D\\uFD50-\\uFD8F\\uFD92-\\uFDC7\\uFDF0-\\uFDFC\\uFE70-\\uFE74\\uFE76-\\uFEFC';
const RAND_AL_CAT = new RegExp(`[${RAND_AL_CAT_CLASS}]`, 'u');
const FIRST_RAND_AL = new RegExp(`^[${RAND_AL_CAT_CLASS}]`, 'u');
const LAST_RAND_AL = new RegExp(`[${RAND_AL_CAT_CLASS}]$`, 'u');
// Approximation of table D.2 (see the file comment).
const L_CAT = new RegExp(
  `(?![${RAND_AL_CAT_CLASS}])(?![\\p{Script=Hebrew}\\p{Script=Arabic}\\p{Script=Syriac}\\p{Script=Thaana}\\p{Script=Nko}` +
    '\\p{Script=Samaritan}\\p{Script=Mandaic}\\p{Script=Adlam}\\p{Script=Hanifi_Rohingya}\\p{Script=Yezidi}])[\\p{L}\\p{Mc}]',
  'u',
);
// Table A.1 approximated by the runtime's unassigned code points (see the file comment).
const UNASSIGNED = /\p{Cn}/u;

/**
 * SASLprep of `input`. `stored` (the default false: a query) refuses unassigned code points, as
 * RFC 4013 §2.5 asks of strings that are stored (a password file entry), not of those compared
 * against them. An empty result is a failure: RFC 5802 §2.2 makes it an error for SCRAM.
 */
export function saslprep(input: string, stored = false): SaslprepResult {
  const mapped = input.replace(MAPPED_TO_NOTHING, '').replace(NON_ASCII_SPACE, ' ');
  const value = mapped.normalize('NFKC');
  const bad = PROHIBITED.exec(value);
  if (bad !== null) return { ok: false, reason: `prohibited character U+${codePointHex(bad[0])}` };
  if (RAND_AL_CAT.test(value)) {
    if (L_CAT.test(value)) return { ok: false, reason: 'mixes right-to-left and left-to-right characters' };
    if (!FIRST_RAND_AL.test(value) || !LAST_RAND_AL.test(value)) {
      return { ok: false, reason: 'right-to-left text must start and end with a right-to-left character' };
    }
  }
  if (stored) {
    const unassigned = UNASSIGNED.exec(value);
    if (unassigned !== null) return { ok: false, reason: `unassigned code point U+${codePointHex(unassigned[0])}` };
  }
  if (value === '') return { ok: false, reason: 'empty after preparation' };
  return { ok: true, value };
}

function codePointHex(ch: string): string {
  return ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
}
