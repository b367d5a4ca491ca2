import { once } from 'node:events';
import { fstatSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import {
  Decoder,
  Encoder,
  DEFAULT_MAX_FRAME_SIZE,
  FrameReader,
  FrameStreamError,
  frameToJson,
  jsonLine,
  messageFromJson,
  WireError,
  type JsonObject,
} from '../wire/index.js';
import type { Frame } from '../wire/messages.js';
import { parseCommandLine, parseInteger, UsageError, type Command } from './command.js';
import { usageText, type OptionTable } from './options.js';

/** The flags of `wire decode`; `wire encode` takes none. */
const decodeOptions = {
  binary: {
    type: 'boolean',
    help:
      'decode a raw byte stream of concatenated frames (a socket capture) instead of hex lines; ' +
      'the stream cannot be resynchronised after a bad header, so decoding stops there',
  },
  'max-frame': {
    type: 'string',
    placeholder: 'BYTES',
    defaultText: `with --binary: ${DEFAULT_MAX_FRAME_SIZE}`,
    help: 'refuse frames announcing a larger payload',
  },
} satisfies OptionTable;

const usage = usageText(
  `usage: vmm-stats wire decode [--binary] [--max-frame BYTES]
       vmm-stats wire encode

The wire inspector: WV2 frames to JSON and back, one per line.

decode  reads frames on stdin, one hex frame a line (blank lines are skipped), and prints one JSON line
        per frame: {"ok":true,"kind":"stats.data","header":{"tag":515,"version":2,"id":"0","length":...},
        "name":[...],...}, or {"ok":false,"error":"...","code":"..."} for a frame that does not decode.
        u64 values are decimal strings, "ts" is {"d":days,"ps":"picoseconds"}, a VM image is hex.
        A bad frame does not stop the rest; the exit status is 0 unless stdin cannot be read.
encode  reads JSON lines in the same schema ("kind", "id", "name", ... as decode prints them, with "id"
        at the top level instead of "header") and prints each frame as hex. A line that cannot be encoded
        is reported on stderr with its line number, and the exit status is then 1.`,
  decodeOptions,
  `examples:
  echo 0000020100020000000000000000002a0000000d0000000000000001000374656e | vmm-stats wire decode
  vmm-stats wire decode --binary < capture.bin
  vmm-stats wire decode < frames.hex | vmm-stats wire encode`,
);

export const wireCommand: Command = {
  name: 'wire',
  summary: 'decode WV2 frames (hex lines or a byte stream) to JSON lines, or encode JSON lines to frames',
  options: decodeOptions,
  usage,
  async run(argv) {
    const [action, ...rest] = argv;
    if (action === 'decode') return decode(rest);
    if (action === 'encode') return encode(rest);
    throw new UsageError(action === undefined ? 'expected decode or encode' : `unknown action '${action}'`);
  },
};

async function decode(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, decodeOptions);
  const limit = values['max-frame'];
  const maxFrameSize = limit === undefined ? undefined : parseInteger('--max-frame', limit, 0, 0xffffffff);
  const out = new LineWriter(process.stdout);
  const decoder = new Decoder();
  return guarded(async () => {
    if (values.binary) await decodeStream(process.stdin, out, decoder, maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE);
    else await decodeHexLines(process.stdin, out, decoder, maxFrameSize);
    await out.flush();
  });
}

async function decodeHexLines(input: Readable, out: LineWriter, decoder: Decoder, maxFrameSize: number | undefined): Promise<void> {
  for await (const raw of readLines(input)) {
    const line = raw.trim();
    if (line === '') continue;
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(line)) {
      await out.write(jsonLine({ ok: false, error: 'not a frame in hex (an even number of hex digits)', code: 'not_hex' }));
      continue;
    }
    await out.write(decodeToJsonLine(decoder, Buffer.from(line, 'hex'), maxFrameSize));
  }
}

async function decodeStream(input: Readable, out: LineWriter, decoder: Decoder, maxFrameSize: number): Promise<void> {
  const reader = new FrameReader({ maxFrameSize });
  for await (const chunk of input) {
    let frames: Buffer[];
    try {
      frames = reader.push(chunk as Buffer);
    } catch (err) {
      if (!(err instanceof FrameStreamError)) throw err;
      for (const frame of err.frames) await out.write(decodeToJsonLine(decoder, frame, maxFrameSize));
      await out.write(errorLine(err));
      return;
    }
    for (const frame of frames) await out.write(decodeToJsonLine(decoder, frame, maxFrameSize));
  }
  if (reader.buffered > 0) {
    await out.write(
      jsonLine({ ok: false, error: `the stream ends inside a frame (${reader.buffered} bytes left over)`, code: 'truncated' }),
    );
  }
}

/** A decoded frame as the inspector prints it, which is how the seed's oracle prints it. */
export function frameJsonLine(frame: Frame): string {
  return jsonLine({ ok: true, ...frameToJson(frame) });
}

function decodeToJsonLine(decoder: Decoder, bytes: Uint8Array, maxFrameSize: number | undefined): string {
  try {
    return frameJsonLine(decoder.decode(bytes, { maxFrameSize }));
  } catch (err) {
    if (err instanceof WireError) return errorLine(err);
    throw err;
  }
}

function errorLine(err: WireError): string {
  const line: JsonObject = { ok: false, error: err.message, code: err.code };
  if (err.id !== undefined) line.id = err.id.toString();
  return jsonLine(line);
}

async function encode(argv: string[]): Promise<number> {
  parseCommandLine(argv, {});
  const out = new LineWriter(process.stdout);
  let failures = 0;
  let lineNumber = 0;
  const encoder = new Encoder();
  const status = await guarded(async () => {
    for await (const raw of readLines(process.stdin)) {
      lineNumber++;
      if (raw.trim() === '') continue;
      try {
        await out.write(encoder.encodeMessage(messageFromJson(JSON.parse(raw))).toString('hex'));
      } catch (err) {
        if (!(err instanceof WireError || err instanceof SyntaxError)) throw err;
        process.stderr.write(`vmm-stats wire encode: line ${lineNumber}: ${err.message}\n`);
        failures++;
      }
    }
    await out.flush();
  });
  return status !== 0 ? status : failures > 0 ? 1 : 0;
}

/** Runs `work`: stdin that cannot be read is reported with exit status 1; a reader of stdout that went away
 * (`| head`) ends the run quietly. */
async function guarded(work: () => Promise<void>): Promise<number> {
  try {
    // Node reads a directory on stdin as empty input rather than failing: refuse it here.
    if (fstatSync(0).isDirectory()) throw new Error('cannot read stdin: it is a directory');
    await work();
    return 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    process.stderr.write(`vmm-stats wire: ${(err as Error).message}\n`);
    return 1;
  }
}

/** The lines of a stream of UTF-8 text (a multi-byte character may straddle chunks); read errors throw. */
async function* readLines(input: Readable): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  for await (const chunk of input) {
    const lines = (partial + decoder.write(chunk as Buffer)).split('\n');
    partial = lines.pop()!;
    yield* lines;
  }
  partial += decoder.end();
  if (partial !== '') yield partial;
}

/** Batches output lines into large writes and waits for the stream to drain, so that big inputs stay fast. */
class LineWriter {
  private lines: string[] = [];
  private bytes = 0;
  private error: Error | undefined;

  constructor(private readonly stream: Writable) {
    stream.on('error', (err: Error) => {
      this.error = err;
    });
  }

  async write(line: string): Promise<void> {
    this.lines.push(line);
    this.bytes += line.length + 1;
    if (this.bytes >= 1 << 16) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.error !== undefined) throw this.error;
    if (this.lines.length === 0) return;
    const text = this.lines.join('\n') + '\n';
    this.lines = [];
    this.bytes = 0;
    // once() rejects if the stream fails while we wait.
    if (!this.stream.write(text)) await once(this.stream, 'drain');
    if (this.error !== undefined) throw this.error;
  }
}
