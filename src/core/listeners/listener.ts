import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { WebSocketServer } from 'ws';
import type { ListenerConfig } from '../config/types';
import { Connection } from '../connection/connection';
import type { Transport } from '../connection/transport';
import type { Engine } from '../engine';
import { AddressLimit } from './address-limit';
import { WebSocketTransport } from './ws-transport';

/**
 * Refuses (400) a WebSocket upgrade that does not offer the `mqtt` (or `mqttv3.1`) sub-protocol:
 * 6.0.0-3 (client-side) binds the client to offer it (MQTT.js and browsers' MQTT libraries always do),
 * and an upgrade without it is not an MQTT client (a cross-site page, a scanner).
 */
function verifyMqttSubprotocol(
  info: { req: http.IncomingMessage },
  done: (verified: boolean, code?: number, message?: string) => void,
): void {
  const header = info.req.headers['sec-websocket-protocol'];
  if (typeof header === 'string') {
    for (const offered of header.split(',')) {
      const p = offered.trim();
      if (p === 'mqtt' || p === 'mqttv3.1') return done(true);
    }
  }
  done(false, 400, 'Bad Request: offer the WebSocket sub-protocol mqtt');
}

/** One AddressLimit per broker (its engine), shared by all of its listeners. */
const addressLimits = new WeakMap<Engine, AddressLimit>();

export function addressLimitOf(engine: Engine): AddressLimit {
  let limit = addressLimits.get(engine);
  if (limit === undefined) {
    limit = new AddressLimit(engine.limits.maxConnectionsPerAddress, engine.limits.limitLoopbackConnections);
    addressLimits.set(engine, limit);
  }
  return limit;
}

/**
 * One configured listener: a TCP, TLS, WS or WSS server that turns accepted sockets into
 * Connections. It tracks its sockets so that close() really ends them (server.close() alone
 * leaves open sockets running).
 */
export class Listener {
  private server: net.Server | http.Server | null = null;
  private wss: WebSocketServer | null = null;
  /** Live connections of this listener (a count: the engine's set already holds them all). */
  private connections = 0;
  /**
   * TLS and WebSocket sockets still in their TLS handshake or HTTP upgrade (no Connection yet),
   * by peer address: closed after connect-timeout like a socket that sends no CONNECT.
   */
  private readonly handshaking = new Map<string, { socket: net.Socket; timer: NodeJS.Timeout | null }>();
  /** Connections refused because max-connections was reached. */
  refused = 0;
  address: { host: string; port: number } | null = null;

  private readonly addressLimit: AddressLimit;
  /** SHA-256 of the certificate, key and CAs in use (TLS and WSS): a reload of the same files changes nothing. */
  private tlsHash = '';

  constructor(
    readonly config: ListenerConfig,
    private readonly engine: Engine,
  ) {
    this.addressLimit = addressLimitOf(engine);
  }

  /**
   * A raw socket just accepted: counted against its peer address, or closed at once (counted)
   * when that address already has max-connections-per-address open.
   */
  private admitAddress(socket: net.Socket): boolean {
    if (this.addressLimit.admit(socket)) return true;
    this.engine.stats.refusedAddressLimit++;
    socket.destroy();
    return false;
  }

  get connectionCount(): number {
    return this.connections;
  }

  private tlsOptions(): tls.TlsOptions {
    const c = this.config;
    const path = `listeners.${c.name}`;
    const read = (key: string, file: string | undefined): Buffer | undefined => {
      if (file === undefined) return undefined;
      try {
        return readFileSync(file);
      } catch (err) {
        throw new Error(`${path}.${key}: cannot read ${file}: ${(err as Error).message}`);
      }
    };
    if (!c.certfile || !c.keyfile) throw new Error(`${path}: ssl is on but certfile and keyfile are not both set`);
    const ca: (string | Buffer)[] = [];
    const cafile = read('cafile', c.cafile);
    if (cafile) ca.push(cafile);
    if (c.capath) {
      // PEM files by extension (Mosquitto's layout) and OpenSSL's hashed names (`c_rehash`,
      // `openssl rehash`: what hbmqtt's load_verify_locations(capath=...) reads).
      let found = 0;
      try {
        for (const f of readdirSync(c.capath)) {
          if (/\.(pem|crt)$/i.test(f) || /^[0-9a-f]{8}\.\d+$/i.test(f)) {
            ca.push(readFileSync(join(c.capath, f)));
            found++;
          }
        }
      } catch (err) {
        throw new Error(`${path}.capath: cannot read ${c.capath}: ${(err as Error).message}`);
      }
      // An empty folder would silently turn client-certificate verification off.
      if (found === 0) throw new Error(`${path}.capath: no CA certificate (*.pem, *.crt or OpenSSL hash names) in ${c.capath}`);
    }
    if (c.cadata) ca.push(c.cadata);
    if ((c.requireCertificate || c.useIdentityAsUsername) && ca.length === 0) {
      // Without a CA nothing can be verified: refuse to start rather than accept every client
      // (require-certificate) or refuse every client (use-identity-as-username).
      const key = c.requireCertificate ? 'require-certificate' : 'use-identity-as-username';
      throw new Error(`${path}.${key}: needs cafile, capath or cadata to verify client certificates`);
    }
    return {
      // TCP_NODELAY on accepted sockets, as on the plain TCP listener (net.Server option).
      noDelay: true,
      cert: read('certfile', c.certfile),
      key: read('keyfile', c.keyfile),
      ca: ca.length > 0 ? ca : undefined,
      // A CA turns on client-certificate verification: optional by default (a client without a
      // certificate may still log in with a password), mandatory with require-certificate.
      requestCert: ca.length > 0,
      rejectUnauthorized: ca.length > 0 && c.requireCertificate,
    };
  }

  /**
   * A raw socket of a TLS or WebSocket listener: refused at once when the listener is full
   * (counting sockets still in their handshake), else watched until accept() takes it over.
   */
  private watchHandshake(socket: net.Socket): void {
    if (!this.admitAddress(socket)) return;
    const max = this.config.maxConnections;
    if (max > 0 && this.connections + this.handshaking.size >= max) {
      this.refused++;
      this.engine.stats.connectionsRefused++;
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const ms = this.engine.limits.connectTimeout * 1000;
    const entry: { socket: net.Socket; timer: NodeJS.Timeout | null } = { socket, timer: null };
    if (ms > 0) {
      entry.timer = setTimeout(() => {
        if (this.handshaking.get(key) !== entry) return;
        this.handshaking.delete(key);
        this.engine.stats.closedConnectTimeout++;
        socket.destroy();
      }, ms);
    }
    this.handshaking.set(key, entry);
    socket.once('close', () => this.handshakeDone(key, entry));
  }

  private handshakeDone(key: string, entry?: { socket: net.Socket; timer: NodeJS.Timeout | null }): void {
    const e = this.handshaking.get(key);
    if (e === undefined || (entry !== undefined && e !== entry)) return;
    if (e.timer !== null) clearTimeout(e.timer);
    this.handshaking.delete(key);
  }

  /** Accepts a new transport, or closes it at once when the listener is full (counted). */
  private accept(transport: Transport & { destroy(): unknown }, tlsSocket?: tls.TLSSocket): void {
    if (this.handshaking.size > 0) this.handshakeDone(`${transport.remoteAddress}:${transport.remotePort}`);
    const max = this.config.maxConnections;
    if (max > 0 && this.connections >= max) {
      this.refused++;
      this.engine.stats.connectionsRefused++;
      transport.destroy();
      return;
    }
    const conn = new Connection(this.engine, transport, this.config.name, this);
    if (tlsSocket !== undefined) {
      if (tlsSocket.authorized) {
        const cn = tlsSocket.getPeerCertificate()?.subject?.CN;
        conn.certificateCommonName = Array.isArray(cn) ? cn[0] : (cn ?? null);
      }
      // Set whether or not a verified certificate came: a client without one is then refused
      // (CONNACK 0x05) instead of falling back to the username it sent.
      conn.identityIsUsername = this.config.useIdentityAsUsername;
    }
    this.connections++;
    this.engine.addConnection(conn);
  }

  /** Called once by each of its connections when it closes. */
  release(): void {
    this.connections--;
  }

  async listen(): Promise<void> {
    const c = this.config;
    if (!c.ssl && (c.requireCertificate || c.useIdentityAsUsername)) {
      // A plain listener has no certificate to require or to take the identity from.
      const key = c.requireCertificate ? 'require-certificate' : 'use-identity-as-username';
      throw new Error(`listeners.${c.name}.${key}: needs ssl on (the listener has no TLS)`);
    }
    const secure = c.ssl ? this.tlsOptions() : undefined;
    if (secure !== undefined) this.tlsHash = tlsOptionsHash(secure);
    if (c.type === 'tcp') {
      this.server = secure
        ? tls.createServer(secure, (s) => this.accept(s, s))
        : net.createServer({ noDelay: true }, (s) => this.admitAddress(s) && this.accept(s));
    } else {
      const server = secure ? https.createServer(secure) : http.createServer();
      server.on('request', (_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n');
      });
      // [MQTT-6.0.0-4] select the `mqtt` sub-protocol (mqttv3.1 accepted for older clients).
      this.wss = new WebSocketServer({
        server,
        path: '/mqtt',
        maxPayload: this.engine.limits.maxPacketSize + 5,
        perMessageDeflate: false,
        verifyClient: verifyMqttSubprotocol,
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      });
      // A frame holds at most one packet's worth plus the few bytes of another's header; the first
      // message (CONNECT) only max-connect-packet-size's worth.
      const limits = this.engine.limits;
      const frameLimits = { first: Math.min(limits.maxConnectPacketSize, limits.maxPacketSize) + 5, rest: limits.maxPacketSize + 5 };
      this.wss.on('connection', (ws, req) => {
        const transport = new WebSocketTransport(ws, req.socket, frameLimits);
        // ws refuses a frame longer than its limit from its header, before buffering the body:
        // the WebSocket form of a packet over max-packet-size (or of a CONNECT over
        // max-connect-packet-size), counted as such.
        ws.on('error', (err: Error & { code?: string }) => {
          if (err.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return;
          if (transport.awaitingFirstMessage && frameLimits.first < frameLimits.rest) this.engine.stats.closedConnectTooLarge++;
          else this.engine.stats.closedPacketTooLarge++;
        });
        this.accept(transport, c.ssl ? (req.socket as tls.TLSSocket) : undefined);
      });
      this.server = server;
    }
    if (c.ssl || c.type === 'ws') this.server.on('connection', (s: net.Socket) => this.watchHandshake(s));
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new Error(`listeners.${c.name}.bind: cannot listen on ${c.host}:${c.port}: ${err.code ?? err.message}`));
      };
      server.once('error', onError);
      server.listen({ host: c.host, port: c.port, backlog: 1024 }, () => {
        server.off('error', onError);
        const a = server.address() as net.AddressInfo;
        this.address = { host: a.address, port: a.port };
        resolve();
      });
    });
    server.on('error', (err) => this.engine.events.emit('warning', err));
  }

  /** Stop accepting; open sockets are ended by the broker (closing their connections). */
  stopAccepting(): Promise<void> {
    const server = this.server;
    if (server === null) return Promise.resolve();
    this.wss?.close();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  destroyAll(): void {
    for (const c of this.engine.connections) if (c.owner === this) c.transport.destroy();
    for (const { socket, timer } of this.handshaking.values()) {
      if (timer !== null) clearTimeout(timer);
      socket.destroy();
    }
    this.handshaking.clear();
  }

  /**
   * Re-reads certfile, keyfile and the CAs and, when they changed, gives them to the bound server
   * (server.setSecureContext): new TLS handshakes use them, established connections keep theirs
   * and stay up. Returns whether anything changed; throws (the old context stays) when a file
   * cannot be read or is not a valid certificate or key.
   */
  reloadTls(): boolean {
    const server = this.server;
    if (!this.config.ssl || server === null) return false;
    const secure = this.tlsOptions();
    const hash = tlsOptionsHash(secure);
    if (hash === this.tlsHash) return false;
    // Builds the context first: a key that does not match its certificate throws here.
    tls.createSecureContext(secure);
    (server as tls.Server).setSecureContext(secure);
    this.tlsHash = hash;
    return true;
  }
}

function tlsOptionsHash(o: tls.TlsOptions): string {
  const h = createHash('sha256');
  for (const part of [o.cert, o.key, ...(Array.isArray(o.ca) ? o.ca : [o.ca])]) {
    if (part !== undefined) h.update(typeof part === 'string' ? part : (part as Buffer)).update('\0');
  }
  return h.digest('hex');
}
