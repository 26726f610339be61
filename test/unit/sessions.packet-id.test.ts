/**
 * Packet id allocation of a session [MQTT-2.3.1-1, MQTT-2.3.1-4]: never 0, never an id in flight,
 * and never an endless search. The search runs under a vm timeout, so a regression that spins
 * fails this test instead of hanging the test run.
 */
import * as vm from 'node:vm';
import { Message, InflightMessage, OutboundState } from '../../src/core/sessions/message';
import { Session } from '../../src/core/sessions/session';

/** Runs `f` with a 2 s watchdog: a synchronous loop that does not end is interrupted. */
function bounded<T>(f: () => T): T {
  return vm.runInNewContext('f()', { f }, { timeout: 2000 }) as T;
}

function fill(session: Session, count: number): void {
  const msg = new Message('t', Buffer.alloc(0), 1, false, '');
  for (let i = 0; i < count; i++) {
    const id = session.allocatePacketId();
    session.addInflight(new InflightMessage(id, msg, 1, false, OutboundState.AWAIT_ACK));
  }
}

describe('session packet ids', () => {
  it('[MQTT-2.3.1-4] with 65534 ids in flight the last free one is found, in one lap', () => {
    const s = new Session('c', true);
    fill(s, 65535);
    s.deleteInflight(40000);
    expect(bounded(() => s.allocatePacketId())).toBe(40000);
  });

  it('[MQTT-2.3.1-1] with all 65535 ids in flight it throws at once instead of spinning forever', () => {
    const s = new Session('c', true);
    fill(s, 65535);
    expect(s.inflightCount).toBe(65535);
    expect(() => bounded(() => s.allocatePacketId())).toThrow(/all 65535 packet ids are in flight/);
  });
});
