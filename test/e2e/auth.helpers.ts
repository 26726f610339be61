/** Shared by the auth end-to-end tests: hash vectors from the real tools, CONNACK codes, SUBACKs. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { hashPassword } from '../../src/core/auth/hashes';
import { roundTrip } from '../helpers/broker';

export const tmp = (): string => mkdtempSync(join(tmpdir(), 'nestmq-auth-e2e-'));

/** sha512-crypt as hbmqtt users made it (Python's crypt module). */
export function pythonSha512Crypt(password: string): string {
  const script = 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_SHA512)))';
  return execFileSync('python3', ['-W', 'ignore', '-c', script, password]).toString().trim();
}

/** A hash as mosquitto_passwd writes it: $7$ (PBKDF2-SHA512) by default, $6$ with -H sha512. */
export function mosquittoHash(dir: string, password: string, algorithm?: 'sha512'): string {
  const file = join(dir, `mosq-${Math.random().toString(36).slice(2)}`);
  execFileSync('mosquitto_passwd', [...(algorithm ? ['-H', algorithm] : []), '-c', '-b', file, 'x', password]);
  return readFileSync(file, 'utf8').trim().slice(2);
}

/** One user per supported hash format, password `<user>-pw`. */
export async function usersInEveryFormat(dir: string): Promise<Record<string, string>> {
  const b = await hashPassword('bcrypt2b-pw', 4);
  const a = await hashPassword('bcrypt2a-pw', 4);
  const y = await hashPassword('bcrypt2y-pw', 4);
  return {
    bcrypt2b: b,
    bcrypt2a: `$2a$${a.slice(4)}`,
    bcrypt2y: `$2y$${y.slice(4)}`,
    sha512crypt: pythonSha512Crypt('sha512crypt-pw'),
    mosquitto6: mosquittoHash(dir, 'mosquitto6-pw', 'sha512'),
    mosquitto7: mosquittoHash(dir, 'mosquitto7-pw'),
  };
}

export const passwordFile = (users: Record<string, string>): string =>
  Object.entries(users)
    .map(([u, h]) => `${u}:${h}\n`)
    .join('');

/** Connects and resolves with the CONNACK return code (0 = accepted; the client is then ended). */
export function connackCode(url: string, options: IClientOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options });
    c.once('connect', () => {
      c.end(true);
      resolve(0);
    });
    c.once('error', (err: Error & { code?: number }) => {
      c.end(true);
      if (typeof err.code === 'number') resolve(err.code);
      else reject(err);
    });
    c.once('close', () => reject(new Error('closed without CONNACK')));
  });
}

/** SUBSCRIBE several filters in one packet; resolves with the SUBACK return codes in order. */
export function subscribeCodes(c: MqttClient, filters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  const map: Record<string, { qos: 0 | 1 | 2 }> = {};
  for (const f of filters) map[f] = { qos };
  return new Promise((resolve, reject) =>
    c.subscribe(map, (err, granted) => {
      // MQTT.js reports a SUBACK with a 0x80 as an error carrying the packet: the codes are there,
      // in the order of the filters (which is the order of the map's keys).
      const suback = (err as (Error & { packet?: { granted?: number[] } }) | null)?.packet?.granted;
      if (suback !== undefined) return resolve(suback);
      if (err) return reject(err);
      const byTopic = new Map((granted ?? []).map((g) => [g.topic, g.qos]));
      resolve(filters.map((f) => byTopic.get(f) ?? -1));
    }),
  );
}

/** Publish and wait for the acknowledgement (PUBACK / PUBCOMP; immediate for QoS 0). */
export function publishAcked(c: MqttClient, topic: string, payload: string, opts: { qos?: 0 | 1 | 2; retain?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => c.publish(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false }, (err) => (err ? reject(err) : resolve())));
}

/**
 * Starts recording the topics `c` receives; the returned function ends the recording after a
 * round trip on each of `senders` (everything they published before has been routed) and then on
 * `c` (everything routed to it has arrived), and returns them in arrival order: no time window.
 */
export function recording(c: MqttClient, ...senders: MqttClient[]): () => Promise<string[]> {
  const got: string[] = [];
  const on = (topic: string): void => void got.push(topic);
  c.on('message', on);
  return async () => {
    try {
      for (const s of senders) await roundTrip(s);
      await roundTrip(c);
    } finally {
      c.off('message', on);
    }
    return got;
  };
}

/** Topics received within `ms`, in arrival order (prefer recording(): no time window). */
export function received(c: MqttClient, ms: number): Promise<string[]> {
  const got: string[] = [];
  const on = (topic: string): void => void got.push(topic);
  c.on('message', on);
  return new Promise((resolve) =>
    setTimeout(() => {
      c.off('message', on);
      resolve(got);
    }, ms),
  );
}
