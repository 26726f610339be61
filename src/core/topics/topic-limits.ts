import type { LimitsConfig } from '../config/types';
import { ProtocolError } from '../protocol/errors';

/** True when `topic` (a name or a filter) is beyond max-topic-length or max-topic-levels. */
export function exceedsTopicLimits(limits: LimitsConfig, topic: string): boolean {
  // A UTF-16 unit takes 1-3 UTF-8 bytes: only long strings need the exact byte count.
  if (topic.length * 3 > limits.maxTopicLength && Buffer.byteLength(topic) > limits.maxTopicLength) return true;
  // n characters hold at most n + 1 levels: short topics need no count.
  if (topic.length < limits.maxTopicLevels) return false;
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) levels++;
  return levels > limits.maxTopicLevels;
}

/** A PUBLISH or Will topic beyond max-topic-length / max-topic-levels: the connection closes. */
export class TopicLimitError extends ProtocolError {}
