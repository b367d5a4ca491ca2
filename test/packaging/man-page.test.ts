// packaging/man/vmm-stats.8 against the commands it documents: mandoc finds nothing to warn about, and each
// command's flags, read from its option table, have their items (with their defaults) in its subsection
// and their place in its SYNOPSIS, so that a flag added, renamed or removed cannot go unnoticed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { commands } from '../../src/commands/index.js';
import { optionSynopsis, type OptionSpec } from '../../src/commands/options.js';

const pagePath = fileURLToPath(new URL('../../packaging/man/vmm-stats.8', import.meta.url));
const page = readFileSync(pagePath, 'utf8');

function mandocMissing(): string | undefined {
  if (spawnSync('mandoc', ['-T', 'lint', '/dev/null'], { stdio: 'ignore' }).error === undefined) return undefined;
  const reason = "no 'mandoc' (Debian package mandoc)";
  console.warn(`skipping mandoc's lint of the man page: ${reason}`);
  return reason;
}

/** What `mandoc -T lint -W warning` says of a page: nothing for a clean one. */
function lint(path: string): string {
  const run = spawnSync('mandoc', ['-T', 'lint', '-W', 'warning', path], { encoding: 'utf8' });
  return run.stdout + run.stderr;
}

/** The body of `.Ss vmm-stats NAME`, up to the next section or subsection. */
function subsection(name: string): string | undefined {
  return new RegExp(`^\\.Ss vmm-stats ${name}\\n([^]*?)(?=^\\.S[hs] )`, 'm').exec(page)?.[1];
}

/** The SYNOPSIS lines of a command: each `.Nm` / `.Cm NAME ...` block, up to the next `.Nm`. */
function synopsisOf(name: string): string {
  const synopsis = /^\.Sh SYNOPSIS\n([^]*?)^\.Sh /m.exec(page)![1]!;
  return synopsis
    .split(/^(?=\.Nm$)/m)
    .filter((block) => new RegExp(`^\\.Cm ${name}\\b`, 'm').test(block))
    .join('');
}

/** An item's heading as the reader sees it, without spaces: `.It Fl -metrics Ar host : Ns Ar port` is `--metricshost:port`. */
function shownHeading(line: string): string {
  const words = line.replace(/^\.It\s+/, '').split(/\s+/);
  const shown = words.map((word, i) => (words[i - 1] === 'Fl' ? `-${word}` : word));
  return shown.filter((word) => !['Fl', 'Ar', 'Ns'].includes(word)).join('').toLowerCase();
}

/** The `.It` items of a subsection that name a flag, by the flag's long name: their heading and text. */
function flagItems(section: string): Map<string, { heading: string; text: string }> {
  const items = new Map<string, { heading: string; text: string }>();
  for (const item of section.split(/^(?=\.It )/m).filter((chunk) => chunk.startsWith('.It '))) {
    const heading = item.slice(0, item.indexOf('\n'));
    const long = /\bFl -([a-z][a-z0-9-]*)/.exec(heading)?.[1];
    if (long !== undefined) items.set(long, { heading, text: item });
  }
  return items;
}

/** The default as --help states it, split into the words an item's text must hold. */
function defaultWords(spec: OptionSpec): string[] | undefined {
  const shown = spec.defaultText ?? (typeof spec.default === 'string' ? spec.default : undefined);
  return shown?.split(/\s+/).map((word) => word.replace(/^-+/, '').replace(/[:,;]$/, ''));
}

describe('the man page', () => {
  const missing = mandocMissing();

  it.skipIf(missing !== undefined)('is clean to mandoc -T lint -W warning, which does find a fault', () => {
    expect(lint(pagePath)).toBe('');
    const dir = mkdtempSync(join(tmpdir(), 'vmm-stats-man-'));
    try {
      const broken = join(dir, 'broken.8');
      writeFileSync(broken, page.replace(/^\.El\n/m, ''));
      expect(lint(broken)).toMatch(/WARNING|ERROR/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has a subsection and a SYNOPSIS entry for every command, and for no other', () => {
    const names = commands.map((command) => command.name);
    expect(names.length).toBeGreaterThan(5);
    const documented = [...page.matchAll(/^\.Ss vmm-stats (\S+)$/gm)].map((match) => match[1]);
    expect(documented).toEqual(names);
    for (const name of names) expect(synopsisOf(name), name).not.toBe('');
  });

  it('is section 8, vmm-stats, with the sections an operator looks for', () => {
    expect(page).toMatch(/^\.Dt VMM-STATS 8$/m);
    expect(page).toMatch(/^\.Nm vmm-stats$/m);
    const sections = [...page.matchAll(/^\.Sh (.+)$/gm)].map((match) => match[1]);
    for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'SIGNALS', 'ENVIRONMENT', 'FILES', 'EXIT STATUS', 'EXAMPLES', 'SEE ALSO']) {
      expect(sections).toContain(section);
    }
  });
});

describe.each(commands.map((command) => ({ name: command.name, command })))('the man page on vmm-stats $name', ({ name, command }) => {
  const entries = Object.entries(command.options);

  it('has an item for each flag, headed as --help shows it, stating its default; and none for a flag it lacks', () => {
    const section = subsection(name);
    expect(section, `.Ss vmm-stats ${name}`).toBeDefined();
    const items = flagItems(section!);
    expect(entries.length).toBeGreaterThan(0);
    for (const [flag, spec] of entries) {
      const item = items.get(flag);
      expect(item, `--${flag}`).toBeDefined();
      expect(shownHeading(item!.heading), `--${flag}`).toBe(optionSynopsis(flag, spec).replace(/\s+/g, '').toLowerCase());
      const words = defaultWords(spec);
      if (words === undefined) continue;
      expect(item!.text, `--${flag}`).toMatch(/Default:/);
      for (const word of words) expect(item!.text, `the default of --${flag}`).toContain(word);
    }
    expect([...items.keys()].sort()).toEqual(entries.map(([flag]) => flag).sort());
  });

  it('gives each flag in the SYNOPSIS, and no other', () => {
    const synopsis = synopsisOf(name);
    const flags = [...new Set([...synopsis.matchAll(/\bFl -([a-z][a-z0-9-]*)/g)].map((match) => match[1]!))];
    expect(flags.sort()).toEqual(entries.map(([flag]) => flag).sort());
  });
});
