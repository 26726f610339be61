import {
  AUTH_PACKET_TYPE,
  CloseReason,
  ReasonCode,
  connackReasonCode,
  disconnectReasonCode,
  isFailure,
  isReasonCode,
  isReasonCodeAllowed,
  reasonCodesFor,
  toV3ConnackReturnCode,
  toV3SubackReturnCode,
} from '../../src/core/protocol';

/**
 * MQTT 5.0 section 2.4, Table 2-6 "Reason Codes", copied row by row from the standard (value,
 * name, packets), independently of the enum and of the bit table in reason-codes.ts.
 */
const SPEC: [number, string, string][] = [
  [0x00, 'Success', 'CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH'],
  [0x00, 'Normal disconnection', 'DISCONNECT'],
  [0x00, 'Granted QoS 0', 'SUBACK'],
  [0x01, 'Granted QoS 1', 'SUBACK'],
  [0x02, 'Granted QoS 2', 'SUBACK'],
  [0x04, 'Disconnect with Will Message', 'DISCONNECT'],
  [0x10, 'No matching subscribers', 'PUBACK, PUBREC'],
  [0x11, 'No subscription existed', 'UNSUBACK'],
  [0x18, 'Continue authentication', 'AUTH'],
  [0x19, 'Re-authenticate', 'AUTH'],
  [0x80, 'Unspecified error', 'CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT'],
  [0x81, 'Malformed Packet', 'CONNACK, DISCONNECT'],
  [0x82, 'Protocol Error', 'CONNACK, DISCONNECT'],
  [0x83, 'Implementation specific error', 'CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT'],
  [0x84, 'Unsupported Protocol Version', 'CONNACK'],
  [0x85, 'Client Identifier not valid', 'CONNACK'],
  [0x86, 'Bad User Name or Password', 'CONNACK'],
  [0x87, 'Not authorized', 'CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT'],
  [0x88, 'Server unavailable', 'CONNACK'],
  [0x89, 'Server busy', 'CONNACK, DISCONNECT'],
  [0x8a, 'Banned', 'CONNACK'],
  [0x8b, 'Server shutting down', 'DISCONNECT'],
  [0x8c, 'Bad authentication method', 'CONNACK, DISCONNECT'],
  [0x8d, 'Keep Alive timeout', 'DISCONNECT'],
  [0x8e, 'Session taken over', 'DISCONNECT'],
  [0x8f, 'Topic Filter invalid', 'SUBACK, UNSUBACK, DISCONNECT'],
  [0x90, 'Topic Name invalid', 'CONNACK, PUBACK, PUBREC, DISCONNECT'],
  [0x91, 'Packet Identifier in use', 'PUBACK, PUBREC, SUBACK, UNSUBACK'],
  [0x92, 'Packet Identifier not found', 'PUBREL, PUBCOMP'],
  [0x93, 'Receive Maximum exceeded', 'DISCONNECT'],
  [0x94, 'Topic Alias invalid', 'DISCONNECT'],
  [0x95, 'Packet too large', 'CONNACK, DISCONNECT'],
  [0x96, 'Message rate too high', 'DISCONNECT'],
  [0x97, 'Quota exceeded', 'CONNACK, PUBACK, PUBREC, SUBACK, DISCONNECT'],
  [0x98, 'Administrative action', 'DISCONNECT'],
  [0x99, 'Payload format invalid', 'CONNACK, PUBACK, PUBREC, DISCONNECT'],
  [0x9a, 'Retain not supported', 'CONNACK, DISCONNECT'],
  [0x9b, 'QoS not supported', 'CONNACK, DISCONNECT'],
  [0x9c, 'Use another server', 'CONNACK, DISCONNECT'],
  [0x9d, 'Server moved', 'CONNACK, DISCONNECT'],
  [0x9e, 'Shared Subscriptions not supported', 'SUBACK, DISCONNECT'],
  [0x9f, 'Connection rate exceeded', 'CONNACK, DISCONNECT'],
  [0xa0, 'Maximum connect time', 'DISCONNECT'],
  [0xa1, 'Subscription Identifiers not supported', 'SUBACK, DISCONNECT'],
  [0xa2, 'Wildcard Subscriptions not supported', 'SUBACK, DISCONNECT'],
];

const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

/** Packet type numbers, MQTT 5.0 section 2.1.2. */
const TYPE: Record<string, number> = {
  CONNECT: 1, CONNACK: 2, PUBLISH: 3, PUBACK: 4, PUBREC: 5, PUBREL: 6, PUBCOMP: 7, SUBSCRIBE: 8,
  SUBACK: 9, UNSUBSCRIBE: 10, UNSUBACK: 11, PINGREQ: 12, PINGRESP: 13, DISCONNECT: 14, AUTH: 15,
};

/** The spec's name as an enum member name: 'Bad User Name or Password' -> 'BadUserNameOrPassword'. */
function memberName(specName: string): string {
  return specName
    .replace(/-/g, ' ')
    .split(/\s+/)
    .map((w) => (w === 'QoS' ? w : w[0].toUpperCase() + w.slice(1)))
    .join('');
}

/** packet name -> codes it may carry, from the spec table. */
function specByPacket(): Map<string, Set<number>> {
  const m = new Map<string, Set<number>>();
  for (const [code, , packets] of SPEC) {
    for (const p of packets.split(', ')) {
      if (!m.has(p)) m.set(p, new Set());
      m.get(p)!.add(code);
    }
  }
  return m;
}

describe('ReasonCode values [MQTT 5.0 Table 2-6]', () => {
  it.each(SPEC.map(([code, name]) => [hex(code), name, code] as const))('%s is %s', (_hex, name, code) => {
    const member = memberName(name);
    expect((ReasonCode as unknown as Record<string, number>)[member]).toBe(code);
  });

  it('has no member the spec does not list', () => {
    const specNames = new Set(SPEC.map(([, name]) => memberName(name)));
    const members = Object.keys(ReasonCode).filter((k) => Number.isNaN(Number(k)));
    expect(members.filter((m) => !specNames.has(m))).toEqual([]);
    expect(members).toHaveLength(SPEC.length);
  });

  it('isReasonCode is true exactly for the values of the table', () => {
    const values = new Set(SPEC.map(([c]) => c));
    for (let c = 0; c < 256; c++) expect([c, isReasonCode(c)]).toEqual([c, values.has(c)]);
    expect(isReasonCode(-1)).toBe(false);
    expect(isReasonCode(256)).toBe(false);
  });

  it('isFailure: 0x80 and above', () => {
    for (const [code] of SPEC) expect(isFailure(code)).toBe(code >= 0x80);
  });
});

describe('isReasonCodeAllowed', () => {
  const byPacket = specByPacket();

  it.each([...byPacket.keys()])('%s carries exactly the codes the spec lists for it', (packet) => {
    const type = TYPE[packet];
    expect(reasonCodesFor(type)).toEqual([...byPacket.get(packet)!].sort((a, b) => a - b));
    for (let c = 0; c < 256; c++) expect([c, isReasonCodeAllowed(type, c)]).toEqual([c, byPacket.get(packet)!.has(c)]);
  });

  it('packets without a Reason Code carry none', () => {
    for (const p of ['CONNECT', 'PUBLISH', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PINGREQ', 'PINGRESP']) {
      expect([p, reasonCodesFor(TYPE[p])]).toEqual([p, []]);
    }
    expect(reasonCodesFor(0)).toEqual([]);
  });

  it('out-of-range input is never allowed', () => {
    expect(isReasonCodeAllowed(TYPE.DISCONNECT, 256)).toBe(false);
    expect(isReasonCodeAllowed(TYPE.DISCONNECT, -1)).toBe(false);
    expect(isReasonCodeAllowed(16, 0)).toBe(false);
    expect(isReasonCodeAllowed(-1, 0)).toBe(false);
  });

  it('AUTH is packet type 15', () => {
    expect(AUTH_PACKET_TYPE).toBe(15);
  });
});

describe('toV3ConnackReturnCode', () => {
  // MQTT 3.1.1 section 3.2.2.3: 0 accepted, 1 unacceptable protocol version, 2 identifier
  // rejected, 3 server unavailable, 4 bad user name or password, 5 not authorized.
  const expected: [number, number | null][] = [
    [0x00, 0],
    [0x80, 3], [0x81, null], [0x82, null], [0x83, 3],
    [0x84, 1], [0x85, 2], [0x86, 4], [0x87, 5], [0x88, 3], [0x89, 3], [0x8a, 5],
    [0x8c, 5], [0x90, null], [0x95, null], [0x97, 3], [0x99, null], [0x9a, null], [0x9b, null],
    [0x9c, 3], [0x9d, 3], [0x9f, 3],
  ];

  it.each(expected.map(([code, v3]) => [hex(code), v3, code] as const))('%s -> %s', (_hex, v3, code) => {
    expect(toV3ConnackReturnCode(code as ReasonCode)).toBe(v3);
  });

  it('covers every CONNACK reason code', () => {
    const connack = reasonCodesFor(TYPE.CONNACK);
    expect(expected.map(([c]) => c).sort((a, b) => a - b)).toEqual(connack);
  });

  it('Server shutting down folds into server unavailable too', () => {
    expect(toV3ConnackReturnCode(ReasonCode.ServerShuttingDown)).toBe(3);
  });

  it('refuses codes CONNACK cannot carry', () => {
    expect(() => toV3ConnackReturnCode(ReasonCode.GrantedQoS1)).toThrow(RangeError);
    expect(() => toV3ConnackReturnCode(ReasonCode.KeepAliveTimeout)).toThrow(RangeError);
  });
});

describe('toV3SubackReturnCode [MQTT-3.9.3-2]', () => {
  it('granted QoS stays as it is', () => {
    expect(toV3SubackReturnCode(ReasonCode.GrantedQoS0)).toBe(0);
    expect(toV3SubackReturnCode(ReasonCode.GrantedQoS1)).toBe(1);
    expect(toV3SubackReturnCode(ReasonCode.GrantedQoS2)).toBe(2);
  });

  it('every SUBACK failure is 0x80', () => {
    for (const code of reasonCodesFor(TYPE.SUBACK).filter((c) => c >= 0x80)) {
      expect([code, toV3SubackReturnCode(code)]).toEqual([code, 0x80]);
    }
  });

  it('refuses codes SUBACK cannot carry', () => {
    expect(() => toV3SubackReturnCode(ReasonCode.NoMatchingSubscribers)).toThrow(RangeError);
    expect(() => toV3SubackReturnCode(ReasonCode.KeepAliveTimeout)).toThrow(RangeError);
  });
});

describe('CloseReason', () => {
  it('keeps the strings of the clientDisconnected event', () => {
    expect(Object.values(CloseReason).sort()).toEqual(
      [
        'disconnect', 'closed', 'keepalive', 'protocol-error', 'takeover', 'shutdown', 'admin',
        'connect-timeout', 'auth-timeout', 'store-failure', 'queue-overflow',
        'protocol-version', 'identifier-rejected', 'not-authorized', 'bad-credentials', 'auth-error',
        'auth-failures', 'auth-busy', 'session-owner', 'session-limit',
      ].sort(),
    );
  });

  const disconnect: [CloseReason, number | null][] = [
    [CloseReason.Keepalive, 0x8d],
    [CloseReason.Takeover, 0x8e],
    [CloseReason.Shutdown, 0x8b],
    [CloseReason.Admin, 0x98],
    [CloseReason.ProtocolError, 0x82],
    [CloseReason.QueueOverflow, 0x97],
    [CloseReason.StoreFailure, 0x80],
    [CloseReason.Disconnect, null],
    [CloseReason.Closed, null],
    [CloseReason.ConnectTimeout, null],
    [CloseReason.AuthTimeout, null],
    [CloseReason.ProtocolVersion, null],
    [CloseReason.IdentifierRejected, null],
    [CloseReason.NotAuthorized, null],
    [CloseReason.BadCredentials, null],
    [CloseReason.AuthError, null],
    [CloseReason.AuthFailures, null],
    [CloseReason.AuthBusy, null],
    [CloseReason.SessionOwner, null],
    [CloseReason.SessionLimit, null],
  ];

  it.each(disconnect.map(([reason, code]) => [reason, code === null ? 'none' : hex(code), code] as const))('%s -> DISCONNECT %s', (reason, _hex, code) => {
    expect(disconnectReasonCode(reason)).toBe(code);
  });

  it('every DISCONNECT code it picks is one a DISCONNECT may carry', () => {
    expect(disconnect.map(([r]) => r).sort()).toEqual(Object.values(CloseReason).sort());
    for (const reason of Object.values(CloseReason)) {
      const code = disconnectReasonCode(reason);
      if (code !== null) expect([reason, isReasonCodeAllowed(TYPE.DISCONNECT, code)]).toEqual([reason, true]);
    }
  });

  it('[MQTT-3.14.0-1] no DISCONNECT for a connection that never got a successful CONNACK', () => {
    for (const reason of Object.values(CloseReason)) {
      if (connackReasonCode(reason) !== null || reason === CloseReason.ConnectTimeout) expect([reason, disconnectReasonCode(reason)]).toEqual([reason, null]);
    }
  });

  it('CONNACK refusals fold back into the 3.1.1 return codes sent today', () => {
    // src/core/handlers/connect.ts and connection.ts (auth-timeout) send these return codes.
    const today: [CloseReason, number][] = [
      [CloseReason.ProtocolVersion, 1],
      [CloseReason.IdentifierRejected, 2],
      [CloseReason.BadCredentials, 4],
      [CloseReason.NotAuthorized, 5],
      [CloseReason.AuthError, 5],
      [CloseReason.AuthTimeout, 3],
      [CloseReason.AuthFailures, 5],
      [CloseReason.AuthBusy, 3],
      [CloseReason.SessionOwner, 5],
      [CloseReason.SessionLimit, 3],
    ];
    for (const [reason, v3] of today) {
      const code = connackReasonCode(reason)!;
      expect([reason, isReasonCodeAllowed(TYPE.CONNACK, code), toV3ConnackReturnCode(code)]).toEqual([reason, true, v3]);
    }
    expect(connackReasonCode(CloseReason.Keepalive)).toBeNull();
  });

  it('each CONNACK refusal has its MQTT 5 Reason Code', () => {
    const v5: [CloseReason, ReasonCode | null][] = [
      [CloseReason.ProtocolVersion, ReasonCode.UnsupportedProtocolVersion],
      [CloseReason.IdentifierRejected, ReasonCode.ClientIdentifierNotValid],
      [CloseReason.BadCredentials, ReasonCode.BadUserNameOrPassword],
      [CloseReason.NotAuthorized, ReasonCode.NotAuthorized],
      [CloseReason.AuthError, ReasonCode.NotAuthorized],
      [CloseReason.AuthTimeout, ReasonCode.ServerUnavailable],
      [CloseReason.AuthFailures, ReasonCode.NotAuthorized],
      [CloseReason.AuthBusy, ReasonCode.ServerBusy],
      [CloseReason.SessionOwner, ReasonCode.NotAuthorized],
      [CloseReason.SessionLimit, ReasonCode.QuotaExceeded],
      [CloseReason.Disconnect, null],
      [CloseReason.Closed, null],
      [CloseReason.Keepalive, null],
      [CloseReason.ProtocolError, null],
      [CloseReason.Takeover, null],
      [CloseReason.Shutdown, null],
      [CloseReason.Admin, null],
      [CloseReason.ConnectTimeout, null],
      [CloseReason.StoreFailure, null],
      [CloseReason.QueueOverflow, null],
    ];
    expect(v5.map(([r]) => r).sort()).toEqual(Object.values(CloseReason).sort());
    for (const [reason, code] of v5) expect([reason, connackReasonCode(reason)]).toEqual([reason, code]);
  });
});
