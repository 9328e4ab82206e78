/** Token character ranges (hover-to-inspect) and the analyses' per-head reductions. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { TextTokenizer } from '../../engine/model/tokenizer';
import { tokenSpans } from '../../engine/model/token-spans';
import { bosMass, needlePrompt, spanMass, tokenRange } from '../../engine/api/attention-measures';
import { ROOT } from '../helpers/reference';

const tok = TextTokenizer.fromFolder(path.join(ROOT, 'media', 'default-model'))!;

describe('token spans', () => {
  for (const text of ['def f(x):\n    return x + 1\n', 's = "café ☕ naïve"  # ünïcödé\n', '\t\tx\n\n\n']) {
    it(`tile the text exactly: ${JSON.stringify(text)}`, () => {
      const ids = tok.encode(text);
      const spans = tokenSpans(tok, text, ids);
      assert.equal(spans.length, ids.length);
      let at = 0;
      for (const s of spans) {
        if (s.start === undefined) continue;
        assert.equal(s.start, at, 'contiguous');
        assert.ok(s.end! > s.start);
        at = s.end!;
      }
      assert.equal(at, text.length);
    });
  }
});

describe('analyses', () => {
  // 2 heads, T = 3: head 0 puts everything on token 0, head 1 on the diagonal.
  const T = 3;
  const positive = new Float32Array([1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const layer = { layer: 0, heads: [0, 1], tq: T, tk: T, positive };

  it('BOS mass: mean over queries 1..T-1 of column 0', () => {
    assert.deepEqual(Array.from(bosMass(layer)), [1, 0]);
  });

  it("span mass: the last query's weight on a key range; differential maps win over positive", () => {
    assert.deepEqual(Array.from(spanMass(layer, 2, 3)), [0, 1]);
    const differential = positive.map((v) => v * -0.5);
    assert.deepEqual(Array.from(spanMass({ ...layer, differential }, 0, 1)), [-0.5, 0]);
  });

  it('the needle sits at the asked depth, with its digits as the span, and the same seed gives the same prompt', () => {
    const a = needlePrompt(800, 0.5, 1);
    assert.equal(a.text.slice(a.start, a.end), a.value);
    assert.match(a.value, /^\d{5}$/);
    assert.ok(Math.abs(a.start / a.text.length - 0.5) < 0.1);
    assert.deepEqual(needlePrompt(800, 0.5, 1), a);
    assert.ok(needlePrompt(800, 0, 1).start < 40);
    const ids = tok.encode(a.text);
    const r = tokenRange(tokenSpans(tok, a.text, ids), a.start, a.end)!;
    assert.equal(tok.decode(ids.slice(r.tokenStart, r.tokenEnd), true).trim().replace(/\.$/, ''), a.value);
  });
});
