import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runPasswd, type PasswdIO } from '../../src/cli/passwd';
import { TestBroker } from '../helpers/broker';
import { connackCode, tmp } from './auth.helpers';

/**
 * A SCRAM-SHA-256 line of the password file (docs/scram.md) also serves a plain MQTT 3.1.1
 * username/password CONNECT, over a real socket with MQTT.js.
 */
describe('auth.file with SCRAM-SHA-256 entries and real MQTT clients', () => {
  // RFC 7677's user "user" with password "pencil", in PostgreSQL's format.
  const PENCIL = 'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=';
  let tb: TestBroker;

  beforeAll(async () => {
    const file = join(tmp(), 'passwd');
    writeFileSync(file, `user:${PENCIL}\n`);
    const stdin = new PassThrough();
    stdin.end();
    const io = { stdin, stdout: new PassThrough(), stderr: new PassThrough() } as PasswdIO;
    expect(await runPasswd(['--scram', '--iterations', '5000', '-b', file, 'alice', 'wönderland'], io)).toBe(0);
    tb = await TestBroker.start({ auth: { plugins: ['auth.anonymous', 'auth.file'], 'allow-anonymous': false, 'password-file': file } });
  });
  afterAll(() => tb.close());

  it('an entry written by `nestmq passwd --scram` accepts the right password (0) and refuses a wrong one (0x04)', async () => {
    expect(await connackCode(tb.url, { username: 'alice', password: 'wönderland' })).toBe(0);
    expect(await connackCode(tb.url, { username: 'alice', password: 'wonderland' })).toBe(4);
  });

  it('a PostgreSQL SCRAM secret copied in as it is works (RFC 7677 "pencil")', async () => {
    expect(await connackCode(tb.url, { username: 'user', password: 'pencil' })).toBe(0);
    expect(await connackCode(tb.url, { username: 'user', password: 'pencil!' })).toBe(4);
  });
});
