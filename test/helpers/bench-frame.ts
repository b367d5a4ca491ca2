import { readFileSync } from 'node:fs';
import { messageFromJson, type Message } from '../../src/wire/index.js';

/** The Stats Data message bench:wire encodes and decodes (test/fixtures/bench-stats-data.json). */
export function benchStatsData(): Extract<Message, { kind: 'stats.data' }> {
  const json: unknown = JSON.parse(readFileSync(new URL('../fixtures/bench-stats-data.json', import.meta.url), 'utf8'));
  const message = messageFromJson(json);
  if (message.kind !== 'stats.data') throw new Error('bench-stats-data.json is not a stats.data message');
  return message;
}
