// The WV2 codec's public API.

export type * from './messages.js';
export { WireError, type WireErrorCode } from './errors.js';
export { Tag, REPLY_BIT, FAIL_TAG, INFO_REPLY_TAG, isReplyTag } from './tags.js';
export { HEADER_SIZE, decodeHeader } from './header.js';
export { Encoder, encodeMessage, encodeStatsData, encodeStatsDataRows } from './serializer.js';
export type { StatsRows } from './stats.js';
export { FrameMemory } from './buffer-writer.js';
export { vmmCounters, vmmPairs } from './vmm-section.js';
export { Decoder, decodeFrame, type DecodeOptions } from './parser.js';
export { FrameReader, FrameStreamError, DEFAULT_MAX_FRAME_SIZE, type FrameReaderOptions } from './frame-reader.js';
export { successReply, failReply } from './replies.js';
export { frameToJson, messageToJson, messageFromJson, jsonLine, type Json, type JsonObject } from './json.js';
