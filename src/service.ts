/**
 * Boots the nestmq service around a validated config: the Nest application (HTTP on the admin
 * bind when `admin.enabled`, else a plain application context), the broker started by its
 * lifecycle provider, and one graceful shutdown. main.ts wraps this with the command line and the
 * process signals; tests call it in-process. Nothing here touches signals or exits the process.
 */
import type { AddressInfo } from 'node:net';
import { type INestApplicationContext, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule, type AppOptions } from './app.module';
import { Broker, type BrokerConfig, BrokerReloader, describeReload, type ReloadReport } from './core';
import { AdminExpressAdapter } from './modules/admin/admin-http';
import { methodNotAllowed } from './modules/admin/method-not-allowed';
import { setupOpenApi } from './modules/admin/openapi';
import { ReloadService } from './modules/admin/reload.service';
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
  /**
   * Reloads users, ACLs (the config file's inline ones, re-read, and the acl-file) and TLS
   * certificates without dropping anyone; logs and returns what changed. The same for SIGHUP,
   * POST /api/v1/reload and the file watch (reload.watch); one reload at a time.
   */
  reload(reason: string): Promise<ReloadReport>;
}

export interface ServiceOptions extends AppOptions {
  /** The config file `config` was loaded from: a reload re-reads it (inline ACLs), the watch watches it. */
  configFile?: string;
  /** The environment whose NESTMQ_* overrides were applied to it (applied again on reload). */
  env?: Record<string, string | undefined>;
}

export async function startService(config: BrokerConfig, options: ServiceOptions = {}): Promise<NestmqService> {
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
    http.use(methodNotAllowed(http));
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
    http.get(ServiceLogger).log(`admin API bound to http://${host}:${a.port} (/health/live, /health/ready, /metrics, /api/v1, /api/docs, /dashboard)`, 'nestmq');
  } else {
    app = await NestFactory.createApplicationContext(module, { bufferLogs: true, abortOnError: false });
    app.useLogger(app.get(ServiceLogger));
    await app.init();
  }

  const broker = app.get(Broker);
  const logger = new Logger('nestmq');
  const drain = config.admin.enabled ? app.get(ShutdownService) : null;
  const reloader = new BrokerReloader(broker, { configFile: options.configFile, env: options.env });
  const logReload = (reason: string, report: ReloadReport): ReloadReport => {
    const line = `reload (${reason}): ${describeReload(report)}`;
    if (report.failed.length > 0) logger.warn(line);
    else logger.log(line);
    return report;
  };
  const reload = (reason: string): Promise<ReloadReport> => reloader.reload().then((report) => logReload(reason, report));
  if (config.reload.watch) {
    const folders = reloader.startWatching(
      (report, changed) => void report.then((r) => logReload(`changed: ${changed.join(', ')}`, r)),
      (err) => logger.warn(err.message),
    );
    if (folders.length > 0) logger.log(`reload.watch: watching ${folders.join(', ')}`);
  }
  if (config.admin.enabled) app.get(ReloadService).setHandler(reload, () => reloader.reloadAuth());
  let stopping: Promise<void> | null = null;
  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      // Readiness 503 at once; the listeners keep serving for shutdown-drain-delay so that load
      // balancers (Kubernetes endpoints) stop sending new clients before the drain begins.
      drain?.beginDrain(reason);
      reloader.close();
      if (config.shutdownDrainDelay > 0) {
        logger.log(`${reason}: readiness 503, serving ${config.shutdownDrainDelay} s more (shutdown-drain-delay) before the drain`);
        await new Promise<void>((resolve) => setTimeout(resolve, config.shutdownDrainDelay * 1000));
      }
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
    reload,
  };
}
