import { readFileSync } from 'node:fs';
import { commands } from './commands/index.js';
import { UsageError } from './commands/command.js';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'usage: vmm-stats <command> [options]',
    '',
    'Per-VM statistics for bhyve/solo5 and KVM hosts, over the albatross wire protocol (WV2).',
    '',
    'commands:',
    ...lines,
    '',
    "Run 'vmm-stats <command> --help' for a command's options.",
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`vmm-stats ${version}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    process.stderr.write(`vmm-stats: unknown command '${name}'\n\n${mainHelp()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.usage.trimEnd() + '\n');
    return 0;
  }
  if (rest.includes('--version')) {
    process.stdout.write(`vmm-stats ${version}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`vmm-stats ${name}: ${err.message}\nRun 'vmm-stats ${name} --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`vmm-stats ${name}: ${(err as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
