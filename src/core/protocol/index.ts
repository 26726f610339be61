export * from './packets';
export * from './errors';
export * from './parser';
export * from './encoder';
export { decodeTopicName, decodeUtf8, isValidMqttString } from './utf8';
