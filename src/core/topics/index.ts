export { isValidTopicName, isValidTopicFilter, hasWildcard, topicLevels, MAX_TOPIC_BYTES } from './topic-validation';
export { SubscriptionTrie, MatchResult } from './subscription-trie';
export { RetainedTrie } from './retained-trie';
