// Each command's option table against what the command does with it: parseArgs reads every flag the table
// declares, and --help (the real CLI's) lists every one of them, with its default.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { commands } from '../../src/commands/index.js';
import { parseCommandLine, UsageError } from '../../src/commands/command.js';
import { optionsHelp, optionSynopsis, type OptionSpec } from '../../src/commands/options.js';
import { thrown } from '../helpers/thrown.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

async function helpOf(name: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', name, '--help'], { cwd: repoRoot });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  expect(code).toBe(0);
  return stdout;
}

/** The command line that gives a flag, and the value parseArgs should make of it. */
function exampleOf(name: string, spec: OptionSpec): { argv: string[]; value: unknown } {
  if (spec.type === 'boolean') return { argv: [`--${name}`], value: true };
  if (spec.multiple) return { argv: [`--${name}`, 'first', `--${name}`, 'second'], value: ['first', 'second'] };
  return { argv: [`--${name}=given`], value: 'given' };
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** From "options:" to the next blank line. */
const optionsSection = (usage: string) => /\noptions:\n[^]*?(?=\n\n|\n?$)/.exec(usage)![0];

describe.each(commands.map((command) => ({ name: command.name, command })))('vmm-stats $name', ({ command }) => {
  const entries = Object.entries(command.options);

  it('has flags, and parseArgs reads each of them with the type its table gives', () => {
    expect(entries.length).toBeGreaterThan(0);
    for (const [name, spec] of entries) {
      const { argv, value } = exampleOf(name, spec);
      expect(parseCommandLine(argv, command.options).values[name], `--${name}`).toEqual(value);
    }
  });

  it('applies the defaults its table declares, and refuses a flag it does not declare', () => {
    const { values } = parseCommandLine([], command.options);
    for (const [name, spec] of entries) expect(values[name], `--${name}`).toEqual(spec.default);
    expect(thrown(UsageError, () => parseCommandLine(['--no-such-flag'], command.options)).message).toMatch(/no-such-flag/);
  });

  it('lists every flag in --help, with its default, and mentions no flag it does not have', async () => {
    const help = await helpOf(command.name);
    expect(help).toBe(command.usage.trimEnd() + '\n');
    const section = optionsSection(help);
    for (const [name, spec] of entries) {
      expect(section).toMatch(new RegExp(`^  ${escapeRegExp(optionSynopsis(name, spec))}  `, 'm'));
      const shown = spec.defaultText ?? (typeof spec.default === 'string' ? spec.default : undefined);
      if (shown !== undefined) expect(section.replace(/\s+/g, ' ')).toContain(`(default ${shown})`);
    }
    const mentioned = new Set([...help.matchAll(/--([a-z][a-z-]*)/g)].map((match) => match[1]));
    expect([...mentioned].filter((flag) => !(flag in command.options))).toEqual([]);
    expect(section.split('\n').filter((line) => line.length > 100)).toEqual([]);
  });
});

describe('the options section of --help', () => {
  it('wraps a long description under its own column, keeping every word and the default whole', () => {
    const help = 'counts the frames it has seen so far and '.repeat(6).trim();
    const section = optionsHelp({
      short: { type: 'boolean', help: 'a flag' },
      'long-one': { type: 'string', short: 'l', placeholder: 'PATH', default: '/a/rather/long/default/path', help },
    });
    const [heading, first, second, ...rest] = section.split('\n');
    expect(heading).toBe('options:');
    expect(first).toBe('  --short              a flag');
    expect(second).toMatch(/^ {2}-l, --long-one PATH {2}counts the frames/);
    expect(rest.length).toBeGreaterThan(0);
    for (const line of [second!, ...rest]) expect(line.length).toBeLessThanOrEqual(100);
    for (const line of rest) expect(line).toMatch(/^ {23}\S/);
    const text = [second!.slice(23), ...rest.map((line) => line.slice(23))].join(' ');
    expect(text).toBe(`${help} (default /a/rather/long/default/path)`);
    expect(rest.at(-1)).toMatch(/\(default \/a\/rather\/long\/default\/path\)$/);
  });
});
