import { Module } from '@nestjs/common';
import { MemorySessionStore } from '../../core';
import { SESSION_STORE } from '../tokens';

/** The session store backend (in memory; durable backends arrive with the persistence issue). */
@Module({
  providers: [{ provide: SESSION_STORE, useFactory: () => new MemorySessionStore() }],
  exports: [SESSION_STORE],
})
export class SessionsModule {}
