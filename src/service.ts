/**
 * Boots the nestmq service around a validated config: the Nest application (HTTP on the admin
 * bind when `admin.enabled`, else a plain application context), the broker started by its
 * lifecycle provider, and one graceful shutdown. main.ts wraps this with the command line and the
 * process signals; tests call it in-process. Nothing here touches signals or exits the process.
 */
import type { AddressInfo } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule, type AppOptions } from './app.module';
import { Broker, type BrokerConfig } from './core';
import { AdminExpressAdapter } from './modules/admin/admin-http';
import { setupOpenApi } from './modules/admin/openapi';
import { ShutdownService } from './modules/admin/shutdown.service';
import { ServiceLogger } from './modules/logging/service-logger';

export interface NestmqService {
  readonly app: INestApplicationContext;
  readonly broker: Broker;
  readonly config: BrokerConfig;
  /** The admin HTTP server's bound address (useful with port 0), or null when admin is disabled. */
  readonly adminAddress: { host: string; port: number } | null;
  /**
   * The graceful shutdown, the same for SIGTERM, SIGINT and POST /api/v1/shutdown: readiness
   * answers 503 at once, the broker stops (listeners stop accepting, every client is closed, the
   * stores are flushed and closed), then the application closes (HTTP last). Idempotent.
   */
  shutdown(reason: string): Promise<void>;
  /** Who handles POST /api/v1/shutdown (default: shutdown()); main.ts installs its own to exit. */
  onShutdownRequest(handler: (reason: string) => void): void;
}

export async function startService(config: BrokerConfig, options: AppOptions = {}): Promise<NestmqService> {
  const module = AppModule.forRoot({ config }, options);
  let app: INestApplicationContext;
  let adminAddress: { host: string; port: number } | null = null;
  if (config.admin.enabled) {
    const http = await NestFactory.create<NestExpressApplication>(module, new AdminExpressAdapter(config.admin), {
      bufferLogs: true,
      abortOnError: false,
    });
    app = http;
    http.useLogger(http.get(ServiceLogger));
    http.disable('x-powered-by');
    setupOpenApi(http, config, http.get(Broker).version);
    try {
      // init() starts the broker (BrokerLifecycle), then the admin HTTP server binds.
      await http.listen(config.admin.port, config.admin.host);
    } catch (err) {
      await http.close().catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      throw code !== undefined && /^E[A-Z]+$/.test(code)
        ? new Error(`admin.bind: cannot listen on ${config.admin.host}:${config.admin.port}: ${code}`)
        : err;
    }
    const a = http.getHttpServer().address() as AddressInfo;
    adminAddress = { host: a.address, port: a.port };
    const host = a.address.includes(':') ? `[${a.address}]` : a.address;
    http.get(ServiceLogger).log(`admin API bound to http://${host}:${a.port} (/health/live, /health/ready, /metrics, /api/v1, /api/docs)`, 'nestmq');
  } else {
    app = await NestFactory.createApplicationContext(module, { bufferLogs: true, abortOnError: false });
    app.useLogger(app.get(ServiceLogger));
    await app.init();
  }

  const broker = app.get(Broker);
  const drain = config.admin.enabled ? app.get(ShutdownService) : null;
  let stopping: Promise<void> | null = null;
  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      drain?.beginDrain(reason);
      await broker.shutdown();
      await app.close();
    })();
    return stopping;
  };
  drain?.setHandler((reason) => void shutdown(reason).catch(() => undefined));
  return {
    app,
    broker,
    config,
    adminAddress,
    shutdown,
    onShutdownRequest: (handler) => drain?.setHandler(handler),
  };
}
