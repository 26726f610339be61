/**
 * A session belongs to the username that created it: another user presenting its client id gets
 * CONNACK 0x05 and neither the session's messages nor the live client's place. Every path that
 * sends a message to a client (in-flight resends included) runs the read check.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashPassword } from '../../src/core/auth/hashes';
import { TestBroker } from '../helpers/broker';
import { connack, connect, PINGREQ, PINGRESP, readPublish, RawClient, subscribe, suback, T } from '../helpers/raw';
import { publishAcked, tmp } from './auth.helpers';

const ACL = [
  'topic read public/#',
  'user owner',
  'topic readwrite home/owner/#',
  'user intruder',
  'topic read public/#',
  // %c: the attack's point was that a stolen client id granted the owner's device topics too.
  'pattern read devices/%c/#',
].join('\n');

async function setUp(dir: string): Promise<{ passwd: string; acl: string }> {
  const passwd = join(dir, 'passwd');
  const lines = await Promise.all(['owner', 'intruder'].map(async (u) => `${u}:${await hashPassword(`${u}-pw`, 4)}\n`));
  writeFileSync(passwd, lines.join(''));
  const acl = join(dir, 'acl');
  writeFileSync(acl, ACL);
  return { passwd, acl };
}

const CLIENT_ID = 'owner-phone';

/** Connects raw with the owner's client id; resolves with the client and its CONNACK bytes. */
async function rawConnect(tb: TestBroker, username: string | undefined, clean = false): Promise<{ c: RawClient; connack: Buffer }> {
  const c = await RawClient.tcp(tb.port);
  c.send(connect({ clientId: CLIENT_ID, clean, keepalive: 60, username, password: username === undefined ? undefined : `${username}-pw` }));
  const p = await c.next();
  expect(p.type).toBe(T.CONNACK);
  return { c, connack: p.bytes };
}

/** Owner subscribes to its tree at QoS 1 and receives three messages without acknowledging them. */
async function ownerHoldsThreeInflight(tb: TestBroker): Promise<RawClient> {
  const { c, connack: ack } = await rawConnect(tb, 'owner');
  expect(ack).toEqual(connack(0, 0));
  c.send(subscribe(1, ['home/owner/#', 1]));
  await c.expect(suback(1, 1));
  const publisher = await tb.client({ username: 'owner', password: 'owner-pw', clientId: 'owner-laptop' });
  for (const t of ['home/owner/door', 'home/owner/alarm', 'home/owner/camera']) await publishAcked(publisher, t, 'secret');
  const got = await c.take(3);
  expect(got.map((p) => readPublish(p).topic)).toEqual(['home/owner/door', 'home/owner/alarm', 'home/owner/camera']);
  return c;
}

function disconnected(tb: TestBroker, clientId: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (e: { clientId: string }): void => {
      if (e.clientId !== clientId) return;
      tb.broker.off('clientDisconnected', on);
      resolve();
    };
    tb.broker.on('clientDisconnected', on);
  });
}

describe('session ownership: a client id cannot be used to steal another user\'s session', () => {
  let tb: TestBroker;
  let files: { passwd: string; acl: string };
  beforeEach(async () => {
    files = await setUp(tmp());
    tb = await TestBroker.start({
      auth: { plugins: ['auth.file'], 'allow-anonymous': true, 'password-file': files.passwd },
      'topic-check': { 'acl-file': files.acl },
    });
  });
  afterEach(() => tb.close());

  it('offline session: another user (or anonymous) with the owner\'s client id gets CONNACK 0x05 and none of its messages; the owner gets them back', async () => {
    const owner = await ownerHoldsThreeInflight(tb);
    const gone = disconnected(tb, CLIENT_ID);
    owner.reset();
    await gone;

    for (const [who, clean] of [['intruder', false], ['intruder', true], [undefined, false]] as const) {
      const { c, connack: ack } = await rawConnect(tb, who, clean);
      expect(ack).toEqual(connack(0, 5));
      await c.expectClosed(); // and nothing else: no resend, no queued message
    }
    expect(tb.broker.stats.refusedSessionOwner).toBe(3);

    // The session was left alone: its owner resumes it and gets the three messages with DUP.
    const back = await rawConnect(tb, 'owner');
    expect(back.connack).toEqual(connack(1, 0));
    const resent = (await back.c.take(3)).map(readPublish);
    expect(resent.map((p) => [p.topic, p.dup])).toEqual([
      ['home/owner/door', true],
      ['home/owner/alarm', true],
      ['home/owner/camera', true],
    ]);
  });

  it('live owner: the intruder is refused with 0x05 and the owner is not kicked', async () => {
    const owner = await ownerHoldsThreeInflight(tb);
    const { c, connack: ack } = await rawConnect(tb, 'intruder');
    expect(ack).toEqual(connack(0, 5));
    await c.expectClosed();
    // The owner's connection is untouched: it still answers.
    owner.send(PINGREQ);
    await owner.expect(PINGRESP);
    expect(owner.closed).toBe(false);
    expect(tb.broker.client(CLIENT_ID)?.username).toBe('owner');
  });

  it('in-flight resends run the read check: after an ACL reload that denies the topic, nothing is re-sent', async () => {
    const owner = await ownerHoldsThreeInflight(tb);
    const gone = disconnected(tb, CLIENT_ID);
    owner.reset();
    await gone;
    writeFileSync(files.acl, ACL.replace('topic readwrite home/owner/#', 'topic write home/owner/#'));
    await tb.broker.reloadAuth();
    const back = await rawConnect(tb, 'owner');
    expect(back.connack).toEqual(connack(1, 0));
    // Resends leave right after CONNACK; a PINGRESP as the next packet proves there were none.
    back.c.send(PINGREQ);
    await back.c.expect(PINGRESP);
  });
});

describe('session ownership survives a restart (SQLite)', () => {
  it('a session restored from SQLite still belongs to its username', async () => {
    const dir = tmp();
    const files = await setUp(dir);
    const config = {
      auth: { plugins: ['auth.file'], 'allow-anonymous': true, 'password-file': files.passwd },
      'topic-check': { 'acl-file': files.acl },
      persistence: { backend: 'sqlite', path: join(dir, 'nestmq.db') },
    };
    let tb = await TestBroker.start(config);
    try {
      await ownerHoldsThreeInflight(tb);
    } finally {
      await tb.close();
    }
    tb = await TestBroker.start(config);
    try {
      const { c, connack: ack } = await rawConnect(tb, 'intruder');
      expect(ack).toEqual(connack(0, 5));
      await c.expectClosed();
      const back = await rawConnect(tb, 'owner');
      expect(back.connack).toEqual(connack(1, 0));
      expect((await back.c.take(3)).map((p) => readPublish(p).dup)).toEqual([true, true, true]);
    } finally {
      await tb.close();
    }
  });
});
