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

  setHandler(handler: ReloadHandler): void {
    this.handler = handler;
  }

  /** The reload's report, or null when no handler is registered. */
  request(reason: string): Promise<ReloadReport> | null {
    return this.handler === null ? null : this.handler(reason);
  }
}
