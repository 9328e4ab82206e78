/** Data sets of ../shared (beside the project; DIFFLORA_SHARED overrides). Read in place, never copied in. */
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from './reference';

export function sharedDataFile(...rel: string[]): string | undefined {
  const roots = [process.env.DIFFLORA_SHARED, path.join(ROOT, '..', 'shared'), '/work/shared'].filter((p): p is string => !!p);
  return roots.map((r) => path.join(r, 'data', ...rel)).find((f) => fs.existsSync(f));
}
