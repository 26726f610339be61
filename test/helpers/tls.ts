/**
 * Test certificates, generated at test time with the openssl CLI into a temporary directory:
 *
 *   ca        a self-signed CA (CN=nestmq-test-ca)
 *   server    CN=localhost, subjectAltName DNS:localhost, IP:127.0.0.1, signed by the CA
 *   alice     a client certificate, CN=alice, signed by the CA
 *   stranger  a self-signed client certificate (CN=stranger), unknown to the CA
 *
 * EC P-256 keys keep generation to about 150 ms. Call `useTestCerts()` once at the top level of
 * a test file: its beforeAll/afterAll pair generates one set for the file and removes it at the
 * end (module state is per test file under Jest, so the `testCerts()` cache is per file too).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  /** Paths of the PEM files. */
  certfile: string;
  keyfile: string;
  /** Their contents. */
  cert: Buffer;
  key: Buffer;
}

export interface TestCerts {
  dir: string;
  /** CA certificate path and contents. */
  cafile: string;
  ca: Buffer;
  server: CertPair;
  alice: CertPair;
  stranger: CertPair;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function pair(dir: string, name: string): CertPair {
  const certfile = join(dir, `${name}.crt`);
  const keyfile = join(dir, `${name}.key`);
  return { certfile, keyfile, cert: readFileSync(certfile), key: readFileSync(keyfile) };
}

/** A leaf certificate signed by the CA, with the given extensions. */
async function signed(dir: string, name: string, cn: string, ext: string): Promise<void> {
  writeFileSync(join(dir, `${name}.ext`), ext);
  await openssl(dir, 'req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  await openssl(
    dir,
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`,
  );
}

/** Generates a fresh set of certificates in a new temporary directory. */
export async function generateTestCerts(): Promise<TestCerts> {
  const dir = mkdtempSync(join(tmpdir(), 'nestmq-certs-'));
  try {
    // The CA and the stranger are independent of each other: generate them in parallel.
    await Promise.all([
      openssl(dir, 'req', '-x509', ...KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=nestmq-test-ca',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'),
      openssl(dir, 'req', '-x509', ...KEY, '-keyout', 'stranger.key', '-out', 'stranger.crt', '-days', '2', '-subj', '/CN=stranger',
        '-addext', 'extendedKeyUsage=clientAuth'),
    ]);
    const leaf = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
    // Sequential: both would otherwise race on ca.srl (-CAcreateserial).
    await signed(dir, 'server', 'localhost', `${leaf}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n`);
    await signed(dir, 'alice', 'alice', `${leaf}extendedKeyUsage=clientAuth\n`);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const cafile = join(dir, 'ca.crt');
  return {
    dir,
    cafile,
    ca: readFileSync(cafile),
    server: pair(dir, 'server'),
    alice: pair(dir, 'alice'),
    stranger: pair(dir, 'stranger'),
  };
}

export function removeTestCerts(certs: TestCerts | undefined): void {
  if (certs !== undefined) rmSync(certs.dir, { recursive: true, force: true });
}

let cached: Promise<TestCerts> | null = null;

/** The certificates of this test file, generated once on first use. */
export function testCerts(): Promise<TestCerts> {
  cached ??= generateTestCerts();
  return cached;
}

/**
 * Registers beforeAll (generate, once per file) and afterAll (remove); returns a getter for use
 * inside tests and hooks that run after beforeAll.
 */
export function useTestCerts(): () => TestCerts {
  let certs: TestCerts | undefined;
  beforeAll(async () => {
    certs = await testCerts();
  });
  afterAll(() => {
    removeTestCerts(certs);
    cached = null;
  });
  return () => {
    if (certs === undefined) throw new Error('test certificates are not generated yet (use them in a test or a later hook)');
    return certs;
  };
}
