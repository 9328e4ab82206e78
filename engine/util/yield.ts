/**
 * Lets the event loop run: tfjs's CPU work never gives it back by itself (an awaited `data()` on a
 * CPU backend is a microtask), so without this a server neither sends its progress nor reads a
 * cancellation until a long request ends. Call it between steps, tokens and layers.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
