/** Line-by-line reading of JSONL files of any size, synchronously, without holding the file in memory. */
import * as fs from 'fs';
import { InputError } from '../errors';

export interface JsonlLine {
  /** 1-based line number in the file. */
  line: number;
  /** The line's text without its terminator (\n or \r\n), or undefined when its bytes are not UTF-8. */
  text?: string;
}

const CHUNK = 1 << 20;
const BOM = [0xef, 0xbb, 0xbf];

/**
 * The lines of a UTF-8 text file, read in 1 MiB chunks. A UTF-8 BOM at the start of the file is dropped, a
 * trailing \r is removed (CRLF files), and a line whose bytes are not valid UTF-8 comes with `text` undefined
 * so the caller can report it. Blank lines are included (the caller decides); line numbers count every line.
 */
export function* readLines(file: string): Generator<JsonlLine> {
  let fd: number;
  try {
    if (fs.statSync(file).isDirectory()) throw new InputError(file, 'is a folder, expected a JSONL file');
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if (e instanceof InputError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(file, code === 'ENOENT' ? 'not found' : `cannot read (${code ?? (e as Error).message})`);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const decode = (bytes: Buffer, lineNo: number): JsonlLine => {
    let b = bytes;
    if (lineNo === 1 && b.length >= 3 && b[0] === BOM[0] && b[1] === BOM[1] && b[2] === BOM[2]) b = b.subarray(3);
    if (b.length > 0 && b[b.length - 1] === 0x0d) b = b.subarray(0, b.length - 1);
    try {
      return { line: lineNo, text: decoder.decode(b) };
    } catch {
      return { line: lineNo };
    }
  };
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let carry: Buffer[] = [];
    let lineNo = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, start);
        if (nl < 0 || nl >= n) break;
        const piece = buf.subarray(start, nl);
        const bytes = carry.length ? Buffer.concat([...carry, piece]) : piece; // decoded before the next read
        carry = [];
        yield decode(bytes, ++lineNo);
        start = nl + 1;
      }
      if (start < n) carry.push(Buffer.from(buf.subarray(start, n)));
    }
    if (carry.length) yield decode(Buffer.concat(carry), ++lineNo);
  } finally {
    fs.closeSync(fd);
  }
}
