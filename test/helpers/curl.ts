// curl as a scraper or a person runs it, for the tests of the metrics endpoint on a network: its exit code,
// and the HTTP status, headers and body when it got as far as a response.
import { execFile } from 'node:child_process';
import { findTool } from './prometheus.js';

export const curlBinary = findTool('curl');

export interface CurlResult {
  /** curl's exit code: 0, or why it got no response (35, 56: TLS; 52: an empty reply; 60: an untrusted certificate). */
  exit: number;
  /** Undefined when no response came. */
  status: number | undefined;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
  stderr: string;
}

function parseResponse(stdout: string): Pick<CurlResult, 'status' | 'headers' | 'body'> {
  const end = stdout.indexOf('\r\n\r\n');
  if (!stdout.startsWith('HTTP/') || end < 0) return { status: undefined, headers: {}, body: stdout };
  const [statusLine, ...lines] = stdout.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  }));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: stdout.slice(end + 4) };
}

/** Runs curl with `args` (and -sS, -i, a time limit); never rejects for curl's own failures. */
export function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    execFile(curlBinary!, ['-sS', '-i', '--max-time', '20', ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const exit = err === null ? 0 : typeof err.code === 'number' ? err.code : undefined;
      if (exit === undefined) {
        reject(err);
        return;
      }
      resolve({ exit, stderr, ...parseResponse(stdout) });
    });
  });
}
