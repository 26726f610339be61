import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { BrokerConfig } from '../../core';
import { adminAccessMiddleware } from './admin-token.guard';

export const OPENAPI_PATH = 'api/docs';
export const OPENAPI_JSON_PATH = 'api/docs-json';
export const OPENAPI_YAML_PATH = 'api/docs-yaml';

/**
 * Serves the admin API's OpenAPI description: the UI at /api/docs, the JSON at /api/docs-json (YAML at
 * /api/docs-yaml).
 * They follow the API's access rule (token, or loopback when none is configured).
 */
export function setupOpenApi(app: INestApplication, config: BrokerConfig, version: string): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('nestmq admin API')
      .setDescription(
        'Health probes and Prometheus metrics (no token), and the broker REST API under /api/v1 ' +
          '(bearer token from admin.token / NESTMQ_ADMIN__TOKEN; without one, loopback clients only).',
      )
      .setVersion(version)
      .addBearerAuth()
      .build(),
  );
  app.use([`/${OPENAPI_PATH}`, `/${OPENAPI_JSON_PATH}`, `/${OPENAPI_YAML_PATH}`], adminAccessMiddleware(config));
  SwaggerModule.setup(OPENAPI_PATH, app, document, { jsonDocumentUrl: OPENAPI_JSON_PATH, yamlDocumentUrl: OPENAPI_YAML_PATH });
}
