/**
 * The engine's wire format: one JSON-RPC message per frame, with its typed arrays carried as raw bytes
 * after the JSON instead of as JSON arrays of numbers. Used by the engine and the extension over stdio
 * (inside vscode-jsonrpc's Content-Length framing) and as one binary WebSocket message per frame.
 *
 * Frame: u32 LE length of the JSON, the JSON (UTF-8), zero padding to a multiple of 8, then the arrays'
 * bytes, each starting at a multiple of 8. In the JSON an array is {"$bin": [dtype, offset, length]}
 * (offset in bytes from the start of the array section, length in elements). A key of the message's own
 * spelled "$bin", "$$bin", ... goes out with one more "$" and comes back as it was, so no data can pass
 * for an array reference.
 * Pure code without imports: it runs in Node and in a browser.
 */

type Typed = Float32Array | Uint16Array | Uint8Array | Int32Array;
const DTYPES = { f32: Float32Array, u16: Uint16Array, u8: Uint8Array, i32: Int32Array } as const;
type DType = keyof typeof DTYPES;

function dtypeOf(a: unknown): DType | undefined {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Uint16Array) return 'u16';
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof Int32Array) return 'i32';
  return undefined;
}

const align8 = (n: number) => (n + 7) & ~7;

const BIN_KEY = /^\$+bin$/;

/** `value` with every own key /^\$+bin$/ given one "$" more (escape) or less (unescape); as is without any. */
function renameBinKeys(value: unknown, escape: boolean): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  // Unescaping leaves a bare "$bin" (not the encoder's: a malformed frame's) as it is.
  const renamed = (k: string) => BIN_KEY.test(k) && (escape || k.length > 4);
  if (!keys.some(renamed)) return value;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const to = !renamed(k) ? k : escape ? `$${k}` : k.slice(1);
    // defineProperty: a "__proto__" key stays a plain property, as JSON.parse makes it.
    Object.defineProperty(out, to, { value: (value as Record<string, unknown>)[k], enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export function encodeFrame(message: unknown): Uint8Array {
  const arrays: Typed[] = [];
  let offset = 0;
  const json = JSON.stringify(message, (_key, value: unknown) => {
    const dtype = dtypeOf(value);
    if (!dtype) return renameBinKeys(value, true);
    const a = value as Typed;
    arrays.push(a);
    const ref = { $bin: [dtype, offset, a.length] };
    offset += align8(a.byteLength);
    return ref;
  });
  const jsonBytes = new TextEncoder().encode(json);
  const head = align8(4 + jsonBytes.length);
  const out = new Uint8Array(head + offset);
  new DataView(out.buffer).setUint32(0, jsonBytes.length, true);
  out.set(jsonBytes, 4);
  let at = head;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += align8(a.byteLength);
  }
  return out;
}

/** A malformed frame; the message is one line (control characters quoted from the frame are escaped). */
export class FrameError extends Error {
  constructor(message: string) {
    super(message.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
    this.name = 'FrameError';
  }
}

/** Decodes a frame; the arrays are copies (the input buffer may be reused by the transport). */
export function decodeFrame(bytes: Uint8Array): unknown {
  if (bytes.length < 4) throw new FrameError(`frame of ${bytes.length} bytes: too short for its header`);
  const jsonLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + jsonLength > bytes.length) throw new FrameError(`frame says its JSON has ${jsonLength} bytes, but the frame has ${bytes.length}`);
  const section = align8(4 + jsonLength);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(4, 4 + jsonLength));
  } catch {
    throw new FrameError('frame JSON is not valid UTF-8');
  }
  try {
    return JSON.parse(text, (_key, value: unknown) => {
      const ref = (value as { $bin?: unknown } | null)?.$bin;
      if (!Array.isArray(ref)) return renameBinKeys(value, false);
      const [dtype, offset, length] = ref as [string, number, number];
      // Own keys only: "constructor" or "toString" must not reach Object's.
      const C = typeof dtype === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, dtype) ? DTYPES[dtype as DType] : undefined;
      if (!C || !Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0)
        throw new FrameError(`bad array reference ${JSON.stringify(ref)}`);
      const start = section + offset;
      const end = start + length * C.BYTES_PER_ELEMENT;
      if (end > bytes.length) throw new FrameError(`array ${JSON.stringify(ref)} runs past the end of the frame (${bytes.length} bytes)`);
      const copy = new Uint8Array(end - start);
      copy.set(bytes.subarray(start, end));
      return new C(copy.buffer);
    });
  } catch (e) {
    if (e instanceof FrameError) throw e;
    throw new FrameError(`frame JSON does not parse (${(e as Error).message})`);
  }
}

/**
 * The frame format as a content-type codec: the shape vscode-jsonrpc's stream readers and writers take
 * (`contentTypeEncoder` / `contentTypeDecoder`), so its Content-Length framing carries our frames.
 */
export const frameCodec = {
  name: 'application/vnd.difflora-frame',
  encode: (message: unknown): Promise<Uint8Array> => Promise.resolve(encodeFrame(message)),
  decode: (bytes: Uint8Array): Promise<unknown> => Promise.resolve().then(() => decodeFrame(bytes)),
};
