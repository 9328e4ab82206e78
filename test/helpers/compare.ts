/** Comparison of the engine's attention JSON with the numpy reference's. */
import assert from 'node:assert/strict';
import { AttentionJson, maxAbsDiff } from './reference';

const TOL = 1e-4;

/** Logits, lambda and every map of `ours` within 1e-4 of the reference; the same maps present. */
export function assertMatchesReference(ours: AttentionJson, ref: AttentionJson): void {
  assert.deepEqual(ours.ids, ref.ids);
  // A reference of the first layers only (a 1B model) has no logits.
  if (ref.logits) {
    assert.ok(ours.logits, 'logits missing');
    const dl = maxAbsDiff(ours.logits, ref.logits);
    assert.ok(dl <= TOL, `logits differ by ${dl}`);
  }
  assert.equal(ours.layers.length, ref.layers.length);
  for (let l = 0; l < ref.layers.length; l++) {
    const a = ours.layers[l],
      b = ref.layers[l];
    assert.equal(a.layer, b.layer);
    assert.equal(a.lambda === undefined, b.lambda === undefined, `layer ${l}: lambda presence`);
    if (b.lambda !== undefined)
      assert.ok(Math.abs((a.lambda as number) - b.lambda) <= TOL, `layer ${l}: lambda ${a.lambda} vs ${b.lambda}`);
    assert.equal(a.heads.length, b.heads.length);
    for (let h = 0; h < b.heads.length; h++) {
      for (const kind of ['positive', 'negative', 'differential'] as const) {
        const x = a.heads[h][kind],
          y = b.heads[h][kind];
        assert.equal(x === undefined, y === undefined, `layer ${l} head ${h}: ${kind} presence`);
        if (x && y) {
          const d = maxAbsDiff(x, y);
          assert.ok(d <= TOL, `layer ${l} head ${h} ${kind} differs by ${d}`);
        }
      }
    }
  }
}
