// A command's flags, declared once: the same table is handed to `parseArgs` (the keys it knows are the ones
// it reads; the rest describe the flag) and rendered as the "options:" section of the command's --help.

interface OptionBase {
  /** A one-letter alias, given as `-x`. */
  short?: string;
  /** What the flag does, as one sentence without a final period; --help wraps it. */
  help: string;
  /** The default as --help states it, where the command applies it itself (parseArgs has no `default`). */
  defaultText?: string;
}

/** A flag taking a value: `--socket PATH`. */
export interface StringOption extends OptionBase {
  type: 'string';
  multiple?: false;
  /** What --help calls the value: PATH, SECONDS, HOST:PORT. */
  placeholder: string;
  default?: string;
}

/** A flag given once per value: `--tap IF --tap IF`. */
export interface ListOption extends OptionBase {
  type: 'string';
  multiple: true;
  placeholder: string;
  default?: string[];
}

/** A flag that is present or not: `--json`. */
export interface BooleanOption extends OptionBase {
  type: 'boolean';
  default?: boolean;
}

export type OptionSpec = StringOption | ListOption | BooleanOption;

/**
 * Every flag of a command, by long name. Declare it with `satisfies OptionTable` rather than as a type
 * annotation, so that parseArgs sees each flag's literal type and types the parsed values by it.
 */
export type OptionTable = Record<string, OptionSpec>;

/** Where --help wraps the description of a flag. */
const HELP_COLUMNS = 100;
const INDENT = '  ';
const GAP = '  ';

/** `-s, --sort COLUMN`, `--json`. */
export function optionSynopsis(name: string, spec: OptionSpec): string {
  const flag = `${spec.short === undefined ? '' : `-${spec.short}, `}--${name}`;
  return spec.type === 'boolean' ? flag : `${flag} ${spec.placeholder}`;
}

/** The words of a flag's description; "(default X)" is one, so that a line never ends inside it. */
function descriptionWords(spec: OptionSpec): string[] {
  const words = spec.help.split(/\s+/).filter((word) => word !== '');
  const shown = spec.defaultText ?? (typeof spec.default === 'string' ? spec.default : undefined);
  return shown === undefined ? words : [...words, `(default ${shown})`];
}

/** `words` joined into lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(words: string[], width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

/** The "options:" section of --help: one entry per flag, descriptions aligned and wrapped. */
export function optionsHelp(table: OptionTable): string {
  const entries = Object.entries(table).map(([name, spec]) => [optionSynopsis(name, spec), descriptionWords(spec)] as const);
  const width = Math.max(...entries.map(([synopsis]) => synopsis.length));
  const column = INDENT.length + width + GAP.length;
  const lines = entries.map(
    ([synopsis, words]) => INDENT + synopsis.padEnd(width) + GAP + wrap(words, HELP_COLUMNS - column).join('\n' + ' '.repeat(column)),
  );
  return ['options:', ...lines].join('\n');
}

/** A command's --help: its prose, the options its table declares, then any closing prose (signals, examples). */
export function usageText(prose: string, table: OptionTable, closing?: string): string {
  return [prose, optionsHelp(table), ...(closing === undefined ? [] : [closing])].join('\n\n');
}
