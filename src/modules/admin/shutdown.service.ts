import { Injectable } from '@nestjs/common';

export type ShutdownHandler = (reason: string) => void;

/**
 * The admin side of the graceful shutdown. It holds the "draining" mark that turns readiness to
 * 503 the moment shutdown begins, and hands shutdown requests from the API to the process-level
 * shutdown function (main.ts registers it, so SIGTERM, SIGINT and POST /api/v1/shutdown take the
 * same path). It never touches signals or exits the process itself.
 */
@Injectable()
export class ShutdownService {
  private reason: string | null = null;
  private handler: ShutdownHandler | null = null;

  /** Why shutdown began, or null while serving. */
  get drainingReason(): string | null {
    return this.reason;
  }

  get draining(): boolean {
    return this.reason !== null;
  }

  /** Readiness answers 503 from now on. */
  beginDrain(reason: string): void {
    this.reason ??= reason;
  }

  setHandler(handler: ShutdownHandler): void {
    this.handler = handler;
  }

  /**
   * Starts the shutdown on the next turn of the event loop, after the HTTP answer that asked for
   * it has been written. Returns false when no handler is registered.
   */
  request(reason: string): boolean {
    const handler = this.handler;
    if (handler === null) return false;
    this.beginDrain(reason);
    setImmediate(() => handler(reason));
    return true;
  }
}
