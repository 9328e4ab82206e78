/**
 * An error about user input (a file, a flag, a message) that the CLI prints as one line.
 * `where` names the file, tensor or key at fault so the user can find it without a stack trace.
 * Control characters in either part (a newline inside a quoted piece of a bad file, in a file name)
 * are escaped, so the message stays one line whatever the input held.
 */
export class InputError extends Error {
  constructor(
    readonly where: string,
    message: string,
  ) {
    super(oneLine(`${where}: ${message}`));
    this.name = 'InputError';
  }
}

/** `s` with its control characters (and U+2028/9, line breaks to some readers) written as escapes. */
export function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
