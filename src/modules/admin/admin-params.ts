import { isUtf8 } from 'node:buffer';
import { BadRequestException, ParseBoolPipe, ParseIntPipe } from '@nestjs/common';
import type { QoS } from '../../core';

/**
 * Nest's parsing pipes whose 400 names the parameter and what it expects (their default,
 * "Validation failed (numeric string is expected)", names neither).
 */
export function intParam(name: string): ParseIntPipe {
  return new ParseIntPipe({ exceptionFactory: () => new BadRequestException(`${name}: expected an integer`) });
}

/** `optional`: an absent parameter passes as undefined instead of failing. */
export function boolParam(name: string, optional = false): ParseBoolPipe {
  return new ParseBoolPipe({ optional, exceptionFactory: () => new BadRequestException(`${name}: expected true or false`) });
}

/** The largest page any admin listing returns. */
export const MAX_PAGE_SIZE = 1000;
/** The largest offset a listing accepts (a walk past it costs more than a page is worth). */
export const MAX_OFFSET = 10_000_000;

/** offset and limit of a listing, checked: 0 <= offset <= MAX_OFFSET, 1 <= limit <= MAX_PAGE_SIZE. */
export function pageParams(offset: number, limit: number): { offset: number; limit: number } {
  if (offset < 0 || offset > MAX_OFFSET) throw new BadRequestException(`offset: expected an integer from 0 to ${MAX_OFFSET}`);
  if (limit < 1 || limit > MAX_PAGE_SIZE) throw new BadRequestException(`limit: expected an integer from 1 to ${MAX_PAGE_SIZE}`);
  return { offset, limit };
}

/** A JSON body as an object, or 400. */
export function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestException('expected a JSON object body (Content-Type: application/json)');
  }
  return body as Record<string, unknown>;
}

export function qosParam(value: unknown, name = 'qos', fallback?: QoS): QoS {
  if (value === undefined && fallback !== undefined) return fallback;
  if (value !== 0 && value !== 1 && value !== 2) throw new BadRequestException(`${name}: expected 0, 1 or 2`);
  return value;
}

export function stringParam(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new BadRequestException(`${name}: expected a non-empty string`);
  return value;
}

/** Sort by a string key without locale rules (byte order of UTF-16, stable across machines). */
export function byKey<T>(key: (x: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

/** A payload as the API shows it: base64 always, and as text when it is valid UTF-8. */
export function payloadViews(payload: Buffer): { payloadBase64: string; payloadUtf8: string | null; size: number } {
  return { payloadBase64: payload.toString('base64'), payloadUtf8: isUtf8(payload) ? payload.toString('utf8') : null, size: payload.length };
}
