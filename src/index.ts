/**
 * nestmq's public embedding API: the Broker, its config and event types. Nothing from Nest:
 * `import { Broker } from 'nestmq'` works in any TypeScript or JavaScript program.
 */
export * from './core';
