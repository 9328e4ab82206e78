/** Asserting the engine's one-line, named errors. */
import assert from 'node:assert/strict';
import { InputError } from '../../engine/errors';

/** Runs `fn`, which must throw a one-line InputError whose message contains every part. */
export function expectInputError(fn: () => unknown, ...parts: (string | RegExp)[]): InputError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof InputError, `expected an InputError, got ${err === undefined ? 'no error' : String(err)}`);
  assert.ok(!err.message.includes('\n'), `message is not one line: ${err.message}`);
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(err.message.includes(p), `message lacks ${JSON.stringify(p)}: ${err.message}`);
    else assert.match(err.message, p);
  }
  return err;
}
