// What a child running as another user needs from the checkout, copied where that user can read it: a
// clone may lie inside a directory only its owner can enter (a fresh `mktemp -d` is 0700).
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]);
}

/** Every directory under `dir` enterable and every file readable by anyone, whatever the umask. */
function openToAll(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) openToAll(path);
    else chmodSync(path, statSync(path).mode | 0o444);
  }
}

/**
 * A world-readable copy of the package as plain JavaScript (src/ transpiled, no tsx needed), with the
 * built addon and node-gyp-build to load it. Returns the copy's root; the caller removes it.
 */
export function readableCopy(): string {
  const copy = mkdtempSync(join(tmpdir(), 'vmm-stats-readable-'));
  for (const source of filesUnder(join(ROOT, 'src')).filter((file) => file.endsWith('.ts'))) {
    const target = join(copy, relative(ROOT, source)).replace(/\.ts$/, '.js');
    const { outputText } = ts.transpileModule(readFileSync(source, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'));
  cpSync(join(ROOT, 'node_modules', 'node-gyp-build'), join(copy, 'node_modules', 'node-gyp-build'), { recursive: true });
  for (const built of ['build/Release', 'prebuilds']) {
    try {
      cpSync(join(ROOT, built), join(copy, built), { recursive: true });
    } catch {
      // The addon is in one of the two.
    }
  }
  openToAll(copy);
  return copy;
}
