/**
 * Username enumeration by timing: an unknown user must take as long as a known user's wrong
 * password, whatever the scheme and cost of the password file. The decoy used for unknown users
 * follows the file's most common scheme and cost (a bcrypt decoy in a file of $7$ users answered
 * unknown users in ~50 ms and wrong passwords in ~1 ms).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hashPassword } from '../../src/core/auth/hashes';
import { TestBroker } from '../helpers/broker';
import { connack, connect, RawClient } from '../helpers/raw';
import { mosquittoHash, pythonSha512Crypt, tmp } from './auth.helpers';

// Interleaved tries; medians of 25 (15 were too few for millisecond hashes on a loaded machine).
const TRIES = 25;

/** Milliseconds from CONNECT to CONNACK over a connection opened beforehand. */
async function responseTime(port: number, username: string, password: string): Promise<number> {
  const c = await RawClient.tcp(port);
  try {
    const t = performance.now();
    c.send(connect({ clientId: `t-${username}`, username, password }));
    const p = await c.next(10_000);
    const ms = performance.now() - t;
    expect(p.bytes).toEqual(connack(0, 4));
    return ms;
  } finally {
    c.destroy();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};

describe('an unknown user takes as long as a wrong password (no username enumeration by timing)', () => {
  const dir = tmp();
  const cases: [string, () => Promise<Record<string, string>>][] = [
    // Mostly Mosquitto 2 $7$ (PBKDF2, ~1 ms) with one bcrypt user, as in the attacker's file.
    ['Mosquitto $7$', async () => ({ a: mosquittoHash(dir, 'a-pw'), b: mosquittoHash(dir, 'b-pw'), c: mosquittoHash(dir, 'c-pw'), old: await hashPassword('old-pw', 10) })],
    ['SHA-512-crypt $6$', async () => ({ a: pythonSha512Crypt('a-pw'), b: pythonSha512Crypt('b-pw'), c: pythonSha512Crypt('c-pw'), old: await hashPassword('old-pw', 10) })],
    ['bcrypt', async () => ({ a: await hashPassword('a-pw', 8), b: await hashPassword('b-pw', 8), c: await hashPassword('c-pw', 8), m: mosquittoHash(dir, 'm-pw') })],
  ];
  for (const [scheme, users] of cases) {
    it(`${scheme} file: median response of an unknown user is within 0.5x-2x that of a wrong password`, async () => {
      const file = join(dir, `passwd-${scheme.replace(/\W/g, '')}`);
      writeFileSync(file, Object.entries(await users()).map(([u, h]) => `${u}:${h}\n`).join(''));
      const tb = await TestBroker.start({
        auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': file },
        limits: { 'max-auth-failures-per-address': 0 }, // this test fails logins on purpose
      });
      try {
        await responseTime(tb.port, 'ghost', 'x'); // warm-up (worker thread, first bcrypt)
        await responseTime(tb.port, 'a', 'x');
        const unknown: number[] = [];
        const wrong: number[] = [];
        for (let i = 0; i < TRIES; i++) {
          unknown.push(await responseTime(tb.port, `ghost-${i}`, 'guess'));
          wrong.push(await responseTime(tb.port, 'a', 'guess'));
        }
        const ratio = median(unknown) / median(wrong);
        console.log(`${scheme}: unknown user ${median(unknown).toFixed(2)} ms, wrong password ${median(wrong).toFixed(2)} ms (median of ${TRIES}), ratio ${ratio.toFixed(2)}`);
        expect(ratio).toBeGreaterThan(0.5);
        expect(ratio).toBeLessThan(2);
      } finally {
        await tb.close();
      }
    }, 60_000);
  }
});
