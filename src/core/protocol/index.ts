export * from './packets';
export * from './errors';
export * from './parser';
export * from './encoder';
export { decodeTopicName, decodeUtf8 } from './utf8';
export * from './reason-codes';
