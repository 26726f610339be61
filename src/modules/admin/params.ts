import { BadRequestException, ParseBoolPipe, ParseIntPipe } from '@nestjs/common';

/**
 * Nest's parsing pipes whose 400 names the parameter and what it expects (their default,
 * "Validation failed (numeric string is expected)", names neither).
 */
export function intParam(name: string): ParseIntPipe {
  return new ParseIntPipe({ exceptionFactory: () => new BadRequestException(`${name}: expected an integer`) });
}

export function boolParam(name: string): ParseBoolPipe {
  return new ParseBoolPipe({ exceptionFactory: () => new BadRequestException(`${name}: expected true or false`) });
}
