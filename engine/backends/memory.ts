/** How much memory a model may take on the native backend, whose tensors live in the process's own heap. */
import * as fs from 'fs';
import * as os from 'os';

/** Set by tests only, to check the refusal without a model larger than the machine. */
const FAKE_ENV = 'DIFFLORA_TEST_AVAILABLE_MEMORY';

/**
 * Bytes that can be allocated without swapping: MemAvailable of /proc/meminfo (free + reclaimable
 * page cache), else os.freemem(), which on Linux leaves the page cache out.
 */
export function availableMemory(): { bytes: number; source: string } {
  const fake = process.env[FAKE_ENV];
  if (fake) return { bytes: Number(fake), source: FAKE_ENV };
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return { bytes: Number(m[1]) * 1024, source: 'MemAvailable in /proc/meminfo' };
  } catch {
    /* not Linux */
  }
  return { bytes: os.freemem(), source: 'os.freemem()' };
}
