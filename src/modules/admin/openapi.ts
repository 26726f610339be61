import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { BrokerConfig } from '../../core';

export const OPENAPI_PATH = 'api/docs';
export const OPENAPI_JSON_PATH = 'api/docs-json';
export const OPENAPI_YAML_PATH = 'api/docs-yaml';

/**
 * Serves the admin API's OpenAPI description: the UI at /api/docs, the JSON at /api/docs-json (YAML at
 * /api/docs-yaml). They are open, like the health probes: they describe the API and hold no
 * secret, and a browser cannot add a bearer token to the UI's own assets (a token-guarded UI
 * could not be opened at all). The UI's Authorize button takes the token for the calls it makes.
 */
export function setupOpenApi(app: INestApplication, _config: BrokerConfig, version: string): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('nestmq admin API')
      .setDescription(
        'Health probes, Prometheus metrics and this description (no token), and the broker REST API under /api/v1 ' +
          '(bearer token from admin.token / NESTMQ_ADMIN__TOKEN; without one, loopback clients only). ' +
          'State-changing requests need Content-Type: application/json or an X-Nestmq-Request header.',
      )
      .setVersion(version)
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'admin.token (an opaque string, not a JWT)' })
      .build(),
  );
  // DocumentBuilder marks every bearer scheme `bearerFormat: JWT`; the admin token is no JWT.
  const schemes = document.components?.securitySchemes ?? {};
  for (const scheme of Object.values(schemes)) delete (scheme as { bearerFormat?: string }).bearerFormat;
  SwaggerModule.setup(OPENAPI_PATH, app, document, {
    jsonDocumentUrl: OPENAPI_JSON_PATH,
    yamlDocumentUrl: OPENAPI_YAML_PATH,
    swaggerOptions: { persistAuthorization: false },
  });
}
