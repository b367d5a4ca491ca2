// Test helpers for top's CSV log: the records of CSV text as RFC 4180 reads them, to check the writer
// against a reader of its own (quoted cells may hold commas, quotes and line breaks).

export function readCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted && c === '"' && text[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (quoted || (c !== ',' && c !== '\n')) {
      cell += c;
    } else {
      record.push(cell);
      cell = '';
      if (c === '\n') {
        records.push(record);
        record = [];
      }
    }
  }
  return records;
}
