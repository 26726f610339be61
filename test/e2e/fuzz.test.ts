import * as fc from 'fast-check';
import type { Socket } from 'node:net';
import { TestBroker, nextMessage } from '../helpers/broker';
import { waitFor } from '../helpers/wait';

const CONNECT = Buffer.from('101000044d5154540402003c000466757a7a', 'hex'); // client id "fuzz"

function waitClose(s: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * [MQTT-4.8.0-1] random bytes, before and after a valid CONNECT, never crash the broker, never
 * leak a connection, and never disturb another client.
 */
describe('[MQTT-4.8.0-1] broker-level fuzzing', () => {
  let tb: TestBroker;
  beforeAll(async () => (tb = await TestBroker.start({ limits: { 'connect-timeout': 1 } })));
  afterAll(() => tb.close());

  it('survives random byte streams; every fuzzed connection is released; a bystander keeps working', async () => {
    const bystander = await tb.client({ clientId: 'bystander' });
    await bystander.subscribeAsync('ok/#', { qos: 1 });
    const before = tb.broker.connectionCount;
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 6 }),
        async (connectFirst, chunks) => {
          const s = await tb.socket();
          s.on('error', () => undefined);
          s.on('data', () => undefined);
          if (connectFirst) s.write(CONNECT);
          for (const c of chunks) s.write(Buffer.from(c));
          // Either the broker closed it (malformed) or it still waits for more bytes: our FIN
          // follows the bytes, so once the broker has closed its side it has handled them all.
          s.end();
          expect(await waitClose(s, 2000)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
    // Every fuzzed connection is gone from the broker.
    await waitFor(() => tb.broker.connectionCount === before, 1000, 'every fuzzed connection to be released');
    const pub = await tb.client();
    const got = nextMessage(bystander);
    await pub.publishAsync('ok/still', 'alive', { qos: 1 });
    expect((await got).payload.toString()).toBe('alive');
  });
});
