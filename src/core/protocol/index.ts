export * from './packets';
export * from './errors';
export * from './parser';
export * from './encoder';
export * from './encoder-v5';
export { decodeTopicName, decodeTopicNameV5, decodeUtf8, decodeUtf8V5 } from './utf8';
export * from './properties';
export * from './reason-codes';
