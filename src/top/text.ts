// Text as a terminal shows it: how many columns it takes, cut to a width, and one part of a line shown in
// reverse video. VM names may hold any character, so nothing here assumes ASCII but the highlight.

/** Columns a character takes in a terminal: 0 for combining marks, 2 for East Asian wide ones (most). */
function charWidth(char: string): number {
  if (/[\p{Mn}\p{Me}\u200b-\u200f]/u.test(char)) return 0;
  const code = char.codePointAt(0)!;
  const wide =
    (code >= 0x1100 && code <= 0x115f) ||
    (code >= 0x2e80 && code <= 0xa4cf) ||
    (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x1f300 && code <= 0x1faff) ||
    (code >= 0x20000 && code <= 0x3fffd);
  return wide ? 2 : 1;
}

export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += charWidth(char);
  return width;
}

/** A VM name may hold any character: control characters would move the cursor, so they show as '?'. */
export function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, '?');
}

/** The text cut to `width` columns, with an ellipsis where it was cut. */
export function truncate(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  let kept = '';
  let used = 0;
  for (const char of text) {
    if (used + charWidth(char) > width - 1) break;
    kept += char;
    used += charWidth(char);
  }
  return kept + '…' + ' '.repeat(Math.max(0, width - 1 - used));
}

export function padEnd(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}

/** Cuts a line of text to the terminal's width. */
export function fit(line: string, columns: number): string {
  return displayWidth(line) <= columns ? line : truncate(line, columns);
}

const REVERSE_VIDEO = '\x1b[7m';
const NORMAL_VIDEO = '\x1b[27m';

export function reversed(text: string): string {
  return REVERSE_VIDEO + text + NORMAL_VIDEO;
}

/**
 * ASCII parts joined into one line cut to `columns`, with the words of part `active` (its text without the
 * padding) in reverse video when they are wholly visible: a cut line ends in an ellipsis, which hides them.
 */
export function lineWithHighlight(parts: readonly string[], active: number, columns: number): string {
  const full = parts.join('');
  const plain = fit(full, columns);
  if (active < 0 || active >= parts.length) return plain;
  const visible = plain === full ? full.length : columns - 1;
  const words = parts[active]!.trim();
  const start = parts.slice(0, active).join('').length + parts[active]!.indexOf(words);
  if (words === '' || start + words.length > visible) return plain;
  return plain.slice(0, start) + reversed(words) + plain.slice(start + words.length);
}
