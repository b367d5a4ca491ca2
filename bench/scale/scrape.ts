// Scraping an exporter the way Prometheus does: a kept-alive connection and Prometheus' own headers.
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

/** What Prometheus 2.42 sends: OpenMetrics preferred, gzip accepted. Every exporter gets the same. */
const PROMETHEUS_HEADERS = {
  Accept:
    'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,'
    + 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
  'Accept-Encoding': 'gzip',
  'User-Agent': 'Prometheus/2.42.0',
  'X-Prometheus-Scrape-Timeout-Seconds': '10',
};

export interface Scrape {
  /** From sending the request to the response's last byte. */
  seconds: number;
  /** Body bytes as they crossed the wire (compressed when the exporter gzips). */
  bytes: number;
  encoding: string;
}

export class Scraper {
  readonly url: string;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(url: string) {
    this.url = url;
  }

  /** One scrape; the body is counted, not kept. */
  scrape(): Promise<Scrape> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const req = request(this.url, { agent: this.#agent, headers: PROMETHEUS_HEADERS }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${this.url}: HTTP ${res.statusCode}`));
          else resolve({ seconds: (performance.now() - started) / 1000, bytes, encoding: res.headers['content-encoding'] ?? 'identity' });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** The body as text (uncompressed: no Accept-Encoding), for reading our own self-metrics. */
  text(): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(this.url, { agent: this.#agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
