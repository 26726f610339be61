/**
 * Where the auth plugins report: failed logins, denied publishes and subscriptions, unreadable
 * files. Never a password. The Broker routes `warn` to its 'warning' event.
 */
export interface AuthLogger {
  warn(message: string): void;
  info?(message: string): void;
}

export const silentLogger: AuthLogger = { warn: () => undefined };

/**
 * At most `limit` messages per `windowMs`; the rest are counted and summed up in one line when
 * the next window opens, so a password-guessing loop or a client publishing into a denied topic
 * in a tight loop cannot flood the log.
 */
export class RateLimitedLogger implements AuthLogger {
  private windowStart = 0;
  private count = 0;
  private suppressed = 0;

  constructor(
    private readonly target: AuthLogger,
    private readonly limit = 20,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(message: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) this.target.warn(`${this.suppressed} similar auth messages suppressed in the last ${Math.round(this.windowMs / 1000)} s`);
      this.windowStart = t;
      this.count = 0;
      this.suppressed = 0;
    }
    if (this.count < this.limit) {
      this.count++;
      this.target.warn(message);
    } else {
      this.suppressed++;
    }
  }

  info(message: string): void {
    this.target.info?.(message);
  }
}

/** `user "alice" (client c1 from 10.0.0.2:5353)` for log lines. */
export function describeClient(c: { username: string | null; clientId: string; remoteAddress?: string }): string {
  const who = c.username === null ? 'anonymous client' : `user ${JSON.stringify(c.username)}`;
  return `${who} (client ${JSON.stringify(c.clientId)}${c.remoteAddress ? ` from ${c.remoteAddress}` : ''})`;
}
