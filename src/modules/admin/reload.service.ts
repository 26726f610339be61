import { Injectable } from '@nestjs/common';
import type { ReloadReport } from '../../core';

export type ReloadHandler = (reason: string) => Promise<ReloadReport>;

/**
 * Hands reload requests from the API to the service-level reload (service.ts registers it, so
 * SIGHUP, the file watch and POST /api/v1/reload run the same reload, one at a time).
 */
@Injectable()
export class ReloadService {
  private handler: ReloadHandler | null = null;
  private authHandler: (() => Promise<void>) | null = null;

  /** `authReload`: reloads the auth plugins after an in-process write of the password file. */
  setHandler(handler: ReloadHandler, authReload?: () => Promise<void>): void {
    this.handler = handler;
    this.authHandler = authReload ?? null;
  }

  /** Reloads auth through the service (queued with the other reloads, seen by the file watch), or null when none is registered. */
  reloadAuth(): Promise<void> | null {
    return this.authHandler === null ? null : this.authHandler();
  }

  /** The reload's report, or null when no handler is registered. */
  request(reason: string): Promise<ReloadReport> | null {
    return this.handler === null ? null : this.handler(reason);
  }
}
