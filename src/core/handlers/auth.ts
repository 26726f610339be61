/**
 * MQTT 5 enhanced authentication (sections 3.15 AUTH and 4.12): a challenge/response between the
 * client and the plugin serving its Authentication Method, during CONNECT and as
 * re-authentication of a connected client.
 *
 *   CONNECT  method M, data d1     -> plugin step 1 -> continue(c1): AUTH 0x18 M c1
 *   AUTH 0x18 M d2                 -> plugin step 2 -> success(s):   CONNACK 0x00 M s
 *                                                      fail(code):   CONNACK code, close
 *   (connected) AUTH 0x19 M d1     -> step 1 ... success(s): AUTH 0x00 M s; fail: DISCONNECT, close
 *
 * What a client can make us hold is bounded: one exchange at a time per connection (an AUTH out
 * of turn is a Protocol Error), at most limits.max-auth-steps plugin steps per exchange, the
 * CONNECT exchange within connect-timeout (the timer armed when the socket opened keeps running;
 * without one, the 60 s authentication timeout), each CONNECT step through the AuthGate (its
 * concurrency and per-address limits, as a password verification), and re-authentications per
 * connection within limits.max-reauth-per-minute.
 */
import { type Connection, ConnectionState, Pause } from '../connection/connection';
import type { Engine } from '../engine';
import { Admission } from '../auth/auth-gate';
import type { BrokerPlugin, EnhancedAuthRequest, EnhancedAuthResult } from '../hooks/plugin';
import { type AuthOutcome, connackRefusal, isThenable } from '../hooks/registry';
import { clientInfo } from '../hooks/types';
import { encodeAuth, encodeConnackV5 } from '../protocol/encoder-v5';
import { ProtocolError } from '../protocol/errors';
import { type AuthPacket, type ConnectPacket, PacketType, type Properties, type UserProperty } from '../protocol/packets';
import { CloseReason, isFailure, isReasonCodeAllowed, ReasonCode } from '../protocol/reason-codes';

/** Completes an authenticated CONNECT (connect.ts's completeConnect, passed in: no import cycle). */
export type CompleteConnect = (engine: Engine, conn: Connection, outcome: AuthOutcome) => void;

const NO_PROPERTIES: Properties = Object.freeze({}) as Properties;

/**
 * A connection's enhanced authentication (Connection.enhancedAuth): the method it authenticated
 * with, kept for re-authentication, and the exchange in progress, if any.
 */
export class EnhancedAuth {
  /** Plugin steps run in the current exchange (0: none in progress). */
  step = 0;
  reauthentication = false;
  /** A plugin step is running: an AUTH now is out of turn. */
  running = false;
  /** We sent AUTH 0x18: the client's AUTH 0x18 is the next step. */
  awaitingClient = false;
  /** The plugin's state between steps (EnhancedAuthRequest.state). */
  pluginState: unknown = undefined;
  /** The client's input to the step about to run. */
  data: Buffer | null = null;
  properties: Properties = NO_PROPERTIES;
  password: Buffer | null = null;
  /** Re-authentications started in the current one-minute window. */
  private reauthWindowStart = 0;
  private reauthCount = 0;

  constructor(
    readonly method: string,
    readonly plugin: BrokerPlugin,
    /** Set while the CONNECT's exchange runs; null once connected. */
    public complete: CompleteConnect | null,
  ) {}

  /** The next step's input, from CONNECT or AUTH. */
  input(properties: Properties | undefined): void {
    this.step++;
    this.properties = properties ?? NO_PROPERTIES;
    this.data = properties?.authenticationData ?? null;
  }

  /** The exchange is over (the method stays for re-authentication). */
  end(): void {
    this.step = 0;
    this.running = false;
    this.awaitingClient = false;
    this.pluginState = undefined;
    this.data = null;
    this.password = null;
    this.properties = NO_PROPERTIES;
    this.complete = null;
  }

  /** One more re-authentication within `perMinute` (0: no limit)? */
  admitReauthentication(perMinute: number, now: number): boolean {
    if (perMinute === 0) return true;
    if (now - this.reauthWindowStart >= 60_000) {
      this.reauthWindowStart = now;
      this.reauthCount = 0;
    }
    return ++this.reauthCount <= perMinute;
  }
}

function exchangeOf(conn: Connection): EnhancedAuth | null {
  return conn.enhancedAuth as EnhancedAuth | null;
}

/**
 * A level 5 CONNECT with an Authentication Method: starts the exchange, or refuses a method no
 * plugin serves with CONNACK 0x8C v5 [MQTT-4.12.0-1]. The plain authenticate chain is not asked.
 */
export function startConnectExchange(engine: Engine, conn: Connection, packet: ConnectPacket, complete: CompleteConnect): void {
  const method = packet.properties!.authenticationMethod!;
  const plugin = engine.hooks.enhancedAuthenticator(method);
  if (plugin === null) {
    engine.stats.refusedAuthMethod++;
    conn.will = null;
    return refuseConnect(engine, conn, ReasonCode.BadAuthenticationMethod); // v5 [MQTT-4.12.0-1]
  }
  const ex = new EnhancedAuth(method, plugin, complete);
  conn.enhancedAuth = ex;
  engine.stats.enhancedAuthExchanges++;
  ex.input(packet.properties);
  ex.password = packet.password;
  // The exchange lives within connect-timeout (its timer, armed at accept, is not replaced here):
  // a client cannot stretch it by answering slowly. Without a connect-timeout, the auth timeout.
  if (engine.limits.connectTimeout === 0) conn.startAuthTimeout();
  gateConnectStep(engine, conn);
}

/**
 * A CONNECT step waits for an AuthGate slot like a password verification: a plugin's step may
 * be costly, and a storm of exchanges must not starve other logins.
 */
function gateConnectStep(engine: Engine, conn: Connection): void {
  conn.pause(Pause.AUTH);
  switch (engine.authGate.admit(conn)) {
    case Admission.BLOCKED:
      engine.stats.refusedAuthFailures++;
      conn.will = null;
      return refuseConnect(engine, conn, ReasonCode.NotAuthorized, CloseReason.AuthFailures);
    case Admission.BUSY:
      engine.stats.refusedAuthBusy++;
      conn.will = null;
      return refuseConnect(engine, conn, ReasonCode.ServerBusy, CloseReason.AuthBusy);
    case Admission.QUEUED:
      return; // the gate's turn: dispatcher.authenticationTurn -> connect.ts startAuthentication -> runEnhancedStep
    case Admission.RUN:
      return runEnhancedStep(engine, conn);
  }
}

/** Runs the plugin's step for the input in the connection's exchange. */
export function runEnhancedStep(engine: Engine, conn: Connection): void {
  const ex = exchangeOf(conn)!;
  const req: EnhancedAuthRequest = {
    ...clientInfo(conn),
    method: ex.method,
    data: ex.data,
    step: ex.step,
    reauthentication: ex.reauthentication,
    password: ex.password,
    properties: ex.properties,
    state: ex.pluginState,
  };
  ex.running = true;
  const result = engine.hooks.authenticateEnhanced(ex.plugin, req);
  if (!isThenable(result)) return stepDone(engine, conn, ex, req, result);
  void result.then((r) => stepDone(engine, conn, ex, req, r));
}

function stepDone(engine: Engine, conn: Connection, ex: EnhancedAuth, req: EnhancedAuthRequest, r: EnhancedAuthResult): void {
  ex.running = false;
  ex.pluginState = req.state;
  if (!ex.reauthentication) engine.authGate.finished(conn);
  if (conn.state === ConnectionState.CLOSED || conn.enhancedAuth !== ex) return; // gone meanwhile: nobody learns the answer
  try {
    if ('continue' in r) {
      if (ex.step >= engine.limits.maxAuthSteps) {
        // The client would hold the exchange open past max-auth-steps.
        engine.stats.refusedAuthSteps++;
        return fail(engine, conn, ex, ReasonCode.NotAuthorized);
      }
      ex.awaitingClient = true;
      // v5 [MQTT-4.12.0-2] more data wanted: AUTH 0x18, v5 [MQTT-4.12.0-5] with the same method.
      conn.send(encodeAuth(ReasonCode.ContinueAuthentication, { authenticationMethod: ex.method, authenticationData: r.continue }));
      if (!ex.reauthentication) conn.resume(Pause.AUTH);
      return;
    }
    if (r.success) return succeed(engine, conn, ex, r);
    return fail(engine, conn, ex, r.reasonCode ?? ReasonCode.NotAuthorized);
  } catch (err) {
    // A throw after an asynchronous answer (an embedder's listener, the store) has no
    // handlePacket around it: closed as handleFailure would, with a warning.
    engine.stats.protocolErrors++;
    conn.close(CloseReason.ProtocolError);
    engine.events.emit('warning', err instanceof Error ? err : new Error(String(err)));
  }
}

function succeed(engine: Engine, conn: Connection, ex: EnhancedAuth, r: { data?: Buffer; username?: string; userProperties?: UserProperty[] }): void {
  if (!ex.reauthentication) {
    const complete = ex.complete!;
    ex.end();
    const outcome: AuthOutcome = {
      reasonCode: ReasonCode.Success,
      username: r.username ?? conn.username,
      authenticationMethod: ex.method, // v5 [MQTT-4.12.0-5] the success CONNACK carries the method
    };
    if (r.data !== undefined) outcome.authenticationData = r.data;
    if (r.userProperties !== undefined && r.userProperties.length > 0) outcome.userProperties = r.userProperties;
    complete(engine, conn, outcome);
    conn.resume(Pause.AUTH);
    return;
  }
  // A connection keeps the user it was accepted as (its session, ACLs and quotas are that user's).
  if (r.username !== undefined && r.username !== conn.username) return fail(engine, conn, ex, ReasonCode.NotAuthorized);
  ex.end();
  const props: Properties = { authenticationMethod: ex.method };
  if (r.data !== undefined) props.authenticationData = r.data;
  conn.send(encodeAuth(ReasonCode.Success, props)); // [unnumbered §4.12.1] re-authentication done: AUTH 0x00
}

/** v5 [MQTT-4.12.0-4] refused at a step: CONNACK (CONNECT) or, v5 [MQTT-4.12.1-2], DISCONNECT (re-authentication), then close. */
function fail(engine: Engine, conn: Connection, ex: EnhancedAuth, code: number): void {
  const reauthentication = ex.reauthentication;
  ex.end();
  engine.stats.authFailures++;
  if (!reauthentication) {
    const refusal = connackRefusal(code);
    engine.authGate.failed(conn.peerHost);
    conn.will = null;
    return refuseConnect(engine, conn, refusal, refusal === ReasonCode.BadUserNameOrPassword ? CloseReason.BadCredentials : CloseReason.NotAuthorized);
  }
  const disconnectCode = isFailure(code) && isReasonCodeAllowed(PacketType.DISCONNECT, code) ? code : ReasonCode.NotAuthorized;
  conn.close(CloseReason.NotAuthorized, disconnectCode);
}

function refuseConnect(engine: Engine, conn: Connection, code: ReasonCode, reason: CloseReason = CloseReason.NotAuthorized): void {
  engine.stats.reasonCodesSent.connack[code]++;
  conn.send(encodeConnackV5(false, code));
  conn.close(reason);
}

/**
 * Before CONNACK, a client that sent an Authentication Method may send only AUTH or DISCONNECT
 * v5 [MQTT-3.1.2-30]; anything else is a Protocol Error (CONNACK 0x82, handleFailure).
 */
export function handleBeforeConnack(engine: Engine, conn: Connection, type: PacketType): void {
  if (type === PacketType.DISCONNECT) {
    // The client gives up its exchange: never accepted, so no Will.
    conn.will = null;
    return conn.close(CloseReason.Disconnect);
  }
  throw new ProtocolError(`packet type ${type} before CONNACK of an enhanced authentication`, 'MQTT-3.1.2-30', 0x82);
}

/** AUTH from the client: the next step of an exchange, or the start of a re-authentication. */
export function handleAuth(engine: Engine, conn: Connection, packet: AuthPacket): void {
  const ex = exchangeOf(conn);
  // v5 [MQTT-4.12.0-7] no Authentication Method in CONNECT: AUTH is a Protocol Error.
  if (ex === null) throw new ProtocolError('AUTH without enhanced authentication', 'MQTT-4.12.0-7', 0x82);
  // v5 [MQTT-4.12.1-1] [unnumbered §3.15.2.2.2] the method of the CONNECT, every time.
  if (packet.properties?.authenticationMethod !== ex.method) throw new ProtocolError('AUTH with another Authentication Method', 'MQTT-4.12.1-1', 0x82);
  if (ex.awaitingClient) {
    // v5 [MQTT-4.12.0-3] the answer to our AUTH 0x18 is AUTH 0x18.
    if (packet.reasonCode !== ReasonCode.ContinueAuthentication) throw new ProtocolError('AUTH answer other than 0x18 Continue authentication', 'MQTT-4.12.0-3', 0x82);
    ex.awaitingClient = false;
    ex.input(packet.properties);
    if (conn.state === ConnectionState.AUTHENTICATING) return gateConnectStep(engine, conn);
    return runEnhancedStep(engine, conn);
  }
  // Nothing asked of the client: only a connected client's AUTH 0x19 between exchanges.
  if (conn.state !== ConnectionState.CONNECTED || ex.step !== 0 || packet.reasonCode !== ReasonCode.ReAuthenticate) {
    throw new ProtocolError('AUTH out of turn', 'MQTT-4.12.0-3', 0x82);
  }
  if (!ex.admitReauthentication(engine.limits.maxReauthPerMinute, Date.now())) {
    // Each one may cost the plugin real work (a key derivation): beyond the rate, 0x96.
    engine.stats.closedReauthRate++;
    return conn.close(CloseReason.ProtocolError, ReasonCode.MessageRateTooHigh);
  }
  engine.stats.reauthentications++;
  ex.reauthentication = true;
  ex.input(packet.properties);
  // [unnumbered §4.12.1] the connection goes on meanwhile: no pause, the client may keep sending.
  runEnhancedStep(engine, conn);
}
