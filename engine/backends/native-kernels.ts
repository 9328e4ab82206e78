/**
 * The native backend's kernels: float32 implementations of the hot tfjs kernels through the addon,
 * each with the semantics of tfjs's cpu kernel of the same name. A kernel returns null for what it
 * does not handle (another dtype, a layout it has no fast path for, an input the cpu kernel rejects
 * with its own message), and the cpu kernel runs instead.
 */
import { backend_util, NamedAttrMap, slice_util, TensorInfo, util } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from './native-addon';
import { NativeBackend } from './native-backend';
import { FUSED_KERNELS } from '../model/fused';

export interface KernelArgs {
  inputs: Record<string, TensorInfo> | TensorInfo[];
  backend: MathBackendCPU;
  attrs?: NamedAttrMap;
}
export type NativeKernel = (args: KernelArgs) => TensorInfo | null;

function values(b: MathBackendCPU, t: TensorInfo): Float32Array | null {
  const v = b.data.get(t.dataId).values;
  return t.dtype === 'float32' && v instanceof Float32Array ? v : null;
}

const size = (shape: number[]): number => util.sizeFromShape(shape);

/** A kernel's output buffer, from the backend's pool: its contents are undefined, so write every element. */
function buffer(b: MathBackendCPU, length: number): Float32Array {
  return b instanceof NativeBackend ? b.pool.take(length) : new Float32Array(length);
}

function output(b: MathBackendCPU, shape: number[], out: Float32Array): TensorInfo {
  return b.makeTensorInfo(shape, 'float32', out);
}

function input(args: KernelArgs, name: string): TensorInfo {
  return (args.inputs as Record<string, TensorInfo>)[name];
}

/** a x b with tfjs's shapes: rank >= 2, batch dimensions broadcast (index modulo the smaller batch). */
function matMul(
  addon: NativeAddon,
  b: MathBackendCPU,
  a: TensorInfo,
  bT: TensorInfo,
  transA: boolean,
  transB: boolean,
): { shape: number[]; out: Float32Array } | null {
  const av = values(b, a),
    bv = values(b, bT);
  if (!av || !bv) return null;
  const ra = a.shape.length,
    rb = bT.shape.length;
  const k = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  if (k !== (transB ? bT.shape[rb - 1] : bT.shape[rb - 2])) return null;
  const m = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const n = transB ? bT.shape[rb - 2] : bT.shape[rb - 1];
  const batchA = size(a.shape.slice(0, -2)),
    batchB = size(bT.shape.slice(0, -2));
  if (batchA === 0 || batchB === 0) return null;
  const shape = [...backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), bT.shape.slice(0, -2)), m, n];
  const out = buffer(b, Math.max(batchA, batchB) * m * n);
  addon.matMul(av, bv, out, batchA, batchB, m, n, k, transA, transB);
  return { shape, out };
}

function binary(addon: NativeAddon, b: MathBackendCPU, op: string, x: TensorInfo, y: TensorInfo): TensorInfo | null {
  const xv = values(b, x),
    yv = values(b, y);
  if (!xv || !yv) return null;
  const shape = backend_util.assertAndGetBroadcastShape(x.shape, y.shape);
  const out = buffer(b, size(shape));
  addon.binary(op, xv, x.shape, yv, y.shape, out, shape);
  return output(b, shape, out);
}

function unary(addon: NativeAddon, b: MathBackendCPU, op: string, x: TensorInfo, alpha = 0): TensorInfo | null {
  const xv = values(b, x);
  if (!xv) return null;
  const out = buffer(b, xv.length);
  addon.unary(op, xv, out, alpha);
  return output(b, x.shape, out);
}

/** The fused activations of _FusedMatMul, as unary kernels of the addon. */
const ACTIVATIONS: Record<string, string> = { relu: 'Relu', relu6: 'Relu6', elu: 'Elu', leakyrelu: 'LeakyRelu', sigmoid: 'Sigmoid' };

/** Reduction over `axes` when they are consecutive: x seen as [outer, r, inner]. */
function reduce(addon: NativeAddon, op: string, args: KernelArgs, axisAttr: string): TensorInfo | null {
  const x = input(args, 'x');
  const xv = values(args.backend, x);
  if (!xv) return null;
  const axes = util.parseAxisParam(args.attrs?.[axisAttr] as number | number[], x.shape).sort((p, q) => p - q);
  const first = axes[0] ?? x.shape.length,
    last = axes[axes.length - 1] ?? x.shape.length - 1;
  if (last - first + 1 !== axes.length) return null; // not consecutive: the cpu kernel transposes
  const outer = size(x.shape.slice(0, first)),
    r = size(x.shape.slice(first, last + 1)),
    inner = size(x.shape.slice(last + 1));
  const out = buffer(args.backend, outer * inner);
  addon.reduce(op, xv, out, outer, r, inner);
  const kept = x.shape.filter((_, d) => !axes.includes(d));
  return output(args.backend, args.attrs?.keepDims ? backend_util.expandShapeToKeepDim(kept, axes) : kept, out);
}

/** Kernel name -> native implementation. */
export function nativeKernels(addon: NativeAddon): Record<string, NativeKernel> {
  const kernels: Record<string, NativeKernel> = {};
  for (const op of addon.unaryOps) {
    kernels[op] = (args) => unary(addon, args.backend, op, input(args, 'x'), Number(args.attrs?.alpha ?? 0));
  }
  for (const op of addon.binaryOps) {
    kernels[op] =
      op === 'Prelu'
        ? (args) => binary(addon, args.backend, op, input(args, 'x'), input(args, 'alpha'))
        : (args) => binary(addon, args.backend, op, input(args, 'a'), input(args, 'b'));
  }
  for (const op of addon.reduceOps) kernels[op] = (args) => reduce(addon, op, args, op === 'Max' ? 'reductionIndices' : 'axis');

  kernels.BatchMatMul = (args) => {
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const r = matMul(addon, args.backend, input(args, 'a'), input(args, 'b'), transposeA, transposeB);
    return r && output(args.backend, r.shape, r.out);
  };

  kernels._FusedMatMul = (args) => {
    const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as {
      transposeA: boolean;
      transposeB: boolean;
      activation?: string;
      leakyreluAlpha?: number;
    };
    const bias = input(args, 'bias'),
      prelu = input(args, 'preluActivationWeights');
    if ((bias && !values(args.backend, bias)) || (activation === 'prelu' && !(prelu && values(args.backend, prelu)))) return null;
    if (activation && activation !== 'linear' && activation !== 'prelu' && !ACTIVATIONS[activation]) return null;
    const r = matMul(addon, args.backend, input(args, 'a'), input(args, 'b'), transposeA, transposeB);
    if (!r) return null;
    const steps: ((t: TensorInfo) => TensorInfo | null)[] = [];
    if (bias) steps.push((t) => binary(addon, args.backend, 'Add', t, bias));
    if (activation === 'prelu') steps.push((t) => binary(addon, args.backend, 'Prelu', t, prelu));
    else if (activation && ACTIVATIONS[activation])
      steps.push((t) => unary(addon, args.backend, ACTIVATIONS[activation], t, leakyreluAlpha ?? 0));
    let current = output(args.backend, r.shape, r.out);
    for (const step of steps) {
      const next = step(current) as TensorInfo; // inputs checked above
      args.backend.disposeIntermediateTensorInfo(current);
      current = next;
    }
    return current;
  };

  kernels.Softmax = (args) => {
    const x = input(args, 'logits');
    const xv = values(args.backend, x);
    const dim = Number(args.attrs?.dim);
    if (!xv || x.shape.length === 0 || (dim !== -1 && dim !== x.shape.length - 1)) return null;
    const cols = x.shape[x.shape.length - 1];
    const out = buffer(args.backend, xv.length);
    addon.softmax(xv, out, cols === 0 ? 0 : xv.length / cols, cols);
    return output(args.backend, x.shape, out);
  };

  kernels.Transpose = (args) => {
    const x = input(args, 'x');
    const xv = values(args.backend, x);
    if (!xv) return null;
    const perm = args.attrs?.perm as number[];
    const out = buffer(args.backend, xv.length);
    addon.transpose(xv, x.shape, perm, out);
    return output(
      args.backend,
      perm.map((p) => x.shape[p]),
      out,
    );
  };

  kernels.GatherV2 = (args) => {
    const x = input(args, 'x'),
      indices = input(args, 'indices');
    const xv = values(args.backend, x),
      iv = args.backend.data.get(indices.dataId).values;
    if (!xv || !(iv instanceof Int32Array) || Number(args.attrs?.batchDims ?? 0) !== 0) return null;
    const axis = util.parseAxisParam(args.attrs?.axis as number, x.shape)[0];
    const dim = x.shape[axis];
    if (iv.some((i) => i < 0 || i >= dim)) return null; // the cpu kernel throws its message
    const outer = size(x.shape.slice(0, axis)),
      slice = size(x.shape.slice(axis + 1));
    const out = buffer(args.backend, outer * iv.length * slice);
    addon.gather(xv, iv, out, outer, dim, slice);
    return output(args.backend, [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], out);
  };

  kernels.Concat = (args) => {
    const all = args.inputs as TensorInfo[];
    const vals = all.map((t) => values(args.backend, t));
    if (all.length === 0 || vals.some((v) => !v)) return null;
    const axis = util.parseAxisParam(args.attrs?.axis as number, all[0].shape)[0];
    backend_util.assertParamsConsistent(
      all.map((t) => t.shape),
      axis,
    );
    const shape = backend_util.computeOutShape(
      all.map((t) => t.shape),
      axis,
    );
    const parts = all.map((t, i) => ({ t, v: vals[i] as Float32Array })).filter((p) => p.v.length > 0);
    if (parts.length < 2) return null; // empty or a single part: the cpu kernel's identity
    const rows = size(shape.slice(0, axis));
    const out = buffer(args.backend, size(shape));
    addon.concat(
      parts.map((p) => p.v),
      parts.map((p) => size(p.t.shape.slice(axis))),
      out,
      rows,
    );
    return output(args.backend, shape, out);
  };

  kernels.Slice = (args) => {
    const x = input(args, 'x');
    const xv = values(args.backend, x);
    if (!xv) return null;
    const [begin, sz] = slice_util.parseSliceParams(x, args.attrs?.begin as number[], args.attrs?.size as number[]);
    slice_util.assertParamsValid(x, begin, sz);
    if (slice_util.isSliceContinous(x.shape, begin, sz)) return null; // the cpu kernel's zero-copy view
    const out = buffer(args.backend, size(sz));
    addon.slice(xv, x.shape, begin, sz, out);
    return output(args.backend, sz, out);
  };
  return kernels;
}

/**
 * The engine's fused operations (engine/model/fused.ts), which only the native backend implements:
 * the op checks dtypes and shapes before it calls them, so these always run (no cpu fallback exists).
 */
export function fusedKernels(addon: NativeAddon): Record<string, (args: KernelArgs) => TensorInfo | TensorInfo[]> {
  const f32 = (b: MathBackendCPU, t: TensorInfo, what: string): Float32Array => {
    const v = values(b, t);
    if (!v) throw new Error(`${what}: expected a float32 tensor`);
    return v;
  };
  const i32 = (b: MathBackendCPU, t: TensorInfo, what: string): Int32Array => {
    const v = b.data.get(t.dataId).values;
    if (!(v instanceof Int32Array)) throw new Error(`${what}: expected an int32 tensor`);
    return v;
  };
  /** A 4-D x [outer, t, inner, d] with tables [t, 1, d]: x cos + rotate_half(x) sin, or its transpose. */
  const rope = (args: KernelArgs, x: TensorInfo, transposed: boolean): TensorInfo => {
    const b = args.backend,
      cos = input(args, 'cos'),
      sin = input(args, 'sin');
    const [outer, t, inner, d] = x.shape;
    const out = buffer(b, size(x.shape));
    addon.rope(f32(b, x, 'x'), f32(b, cos, 'cos'), f32(b, sin, 'sin'), out, outer, t, inner, d, transposed);
    return output(b, x.shape, out);
  };
  return {
    [FUSED_KERNELS.attentionProbabilities]: (args) => {
      const b = args.backend,
        q = input(args, 'q'),
        kT = input(args, 'kT'),
        mask = input(args, 'mask');
      const r = q.shape.length;
      const m = q.shape[r - 2],
        k = q.shape[r - 1],
        n = kT.shape[r - 1];
      const batch = size(q.shape.slice(0, -2));
      const shape = [...q.shape.slice(0, -1), n];
      const out = buffer(b, batch * m * n);
      if (out.length === 0) return output(b, shape, out);
      addon.attentionProbabilities(
        f32(b, q, 'q'),
        f32(b, kT, 'kT'),
        f32(b, mask, 'mask'),
        out,
        batch,
        m,
        n,
        k,
        size(mask.shape) / n,
        Number(args.attrs?.scale),
      );
      return output(b, shape, out);
    },
    [FUSED_KERNELS.attentionProbabilitiesGrad]: (args) => {
      const b = args.backend,
        p = input(args, 'p'),
        dy = input(args, 'dy');
      const cols = p.shape[p.shape.length - 1] ?? 1;
      const out = buffer(b, size(p.shape));
      addon.attentionProbabilitiesGrad(
        f32(b, p, 'p'),
        f32(b, dy, 'dy'),
        out,
        cols === 0 ? 0 : out.length / cols,
        cols,
        Number(args.attrs?.scale),
      );
      return output(b, p.shape, out);
    },
    [FUSED_KERNELS.rmsNorm]: (args) => {
      const b = args.backend,
        x = input(args, 'x'),
        w = input(args, 'w');
      const cols = x.shape[x.shape.length - 1];
      const out = buffer(b, size(x.shape));
      addon.rmsNorm(f32(b, x, 'x'), f32(b, w, 'w'), out, cols === 0 ? 0 : out.length / cols, cols, Number(args.attrs?.eps));
      return output(b, x.shape, out);
    },
    [FUSED_KERNELS.rmsNormGradX]: (args) => {
      const b = args.backend,
        x = input(args, 'x'),
        w = input(args, 'w'),
        dy = input(args, 'dy');
      const cols = x.shape[x.shape.length - 1];
      const out = buffer(b, size(x.shape));
      addon.rmsNormGradX(
        f32(b, x, 'x'),
        f32(b, w, 'w'),
        f32(b, dy, 'dy'),
        out,
        cols === 0 ? 0 : out.length / cols,
        cols,
        Number(args.attrs?.eps),
      );
      return output(b, x.shape, out);
    },
    [FUSED_KERNELS.rmsNormGradW]: (args) => {
      const b = args.backend,
        x = input(args, 'x'),
        dy = input(args, 'dy');
      const cols = x.shape[x.shape.length - 1];
      const out = buffer(b, cols);
      addon.rmsNormGradW(f32(b, x, 'x'), f32(b, dy, 'dy'), out, cols === 0 ? 0 : size(x.shape) / cols, cols, Number(args.attrs?.eps));
      return output(b, [cols], out);
    },
    [FUSED_KERNELS.addLowRank]: (args) => {
      const b = args.backend,
        base = input(args, 'base'),
        xa = input(args, 'xa'),
        bT = input(args, 'bT');
      const [n, cols] = base.shape,
        r = xa.shape[1];
      const out = buffer(b, n * cols);
      addon.addLowRank(f32(b, base, 'base'), f32(b, xa, 'xa'), f32(b, bT, 'bT'), out, n, r, cols, Number(args.attrs?.scale));
      return output(b, base.shape, out);
    },
    [FUSED_KERNELS.differentialAttention]: (args) => {
      const b = args.backend,
        a1 = input(args, 'a1'),
        a2 = input(args, 'a2');
      const out = buffer(b, size(a1.shape));
      addon.differentialAttention(
        f32(b, a1, 'a1'),
        f32(b, a2, 'a2'),
        out,
        out.length,
        f32(b, input(args, 'lambda'), 'lambda')[0],
        Boolean(args.attrs?.relu),
      );
      return output(b, a1.shape, out);
    },
    [FUSED_KERNELS.differentialAttentionGrad]: (args) => {
      const b = args.backend,
        a2 = input(args, 'a2'),
        lambda = input(args, 'lambda');
      const da1 = buffer(b, size(a2.shape)),
        da2 = buffer(b, da1.length);
      const dLambda = addon.differentialAttentionGrad(
        f32(b, a2, 'a2'),
        f32(b, input(args, 'y'), 'y'),
        f32(b, input(args, 'dy'), 'dy'),
        da1,
        da2,
        da1.length,
        f32(b, lambda, 'lambda')[0],
        Boolean(args.attrs?.relu),
      );
      return [output(b, a2.shape, da1), output(b, a2.shape, da2), output(b, lambda.shape, Float32Array.of(dLambda))];
    },
    [FUSED_KERNELS.swiglu]: (args) => {
      const b = args.backend,
        gate = input(args, 'gate');
      const out = buffer(b, size(gate.shape));
      addon.swiglu(f32(b, gate, 'gate'), f32(b, input(args, 'up'), 'up'), out, out.length);
      return output(b, gate.shape, out);
    },
    [FUSED_KERNELS.dropout]: (args) => {
      const b = args.backend,
        x = input(args, 'x');
      const out = buffer(b, size(x.shape));
      addon.dropout(f32(b, x, 'x'), out, out.length, Number(args.attrs?.rate), Number(args.attrs?.seed));
      return output(b, x.shape, out);
    },
    [FUSED_KERNELS.swigluGrad]: (args) => {
      const b = args.backend,
        gate = input(args, 'gate');
      const dGate = buffer(b, size(gate.shape)),
        dUp = buffer(b, dGate.length);
      addon.swigluGrad(f32(b, gate, 'gate'), f32(b, input(args, 'up'), 'up'), f32(b, input(args, 'dy'), 'dy'), dGate, dUp, dGate.length);
      return [output(b, gate.shape, dGate), output(b, gate.shape, dUp)];
    },
    [FUSED_KERNELS.rope]: (args) => rope(args, input(args, 'x'), false),
    [FUSED_KERNELS.ropeGradX]: (args) => rope(args, input(args, 'dy'), true),
    [FUSED_KERNELS.crossEntropy]: (args) => {
      const b = args.backend,
        logits = input(args, 'logits'),
        labels = input(args, 'labels');
      const rows = size(labels.shape),
        cols = logits.shape[logits.shape.length - 1];
      const loss = addon.crossEntropy(
        f32(b, logits, 'logits'),
        i32(b, labels, 'labels'),
        f32(b, input(args, 'weights'), 'weights'),
        rows,
        cols,
      );
      return output(b, [], Float32Array.of(loss));
    },
    [FUSED_KERNELS.crossEntropyGrad]: (args) => {
      const b = args.backend,
        logits = input(args, 'logits'),
        labels = input(args, 'labels');
      const rows = size(labels.shape),
        cols = logits.shape[logits.shape.length - 1];
      const dx = buffer(b, size(logits.shape));
      addon.crossEntropyGrad(
        f32(b, logits, 'logits'),
        i32(b, labels, 'labels'),
        f32(b, input(args, 'weights'), 'weights'),
        f32(b, input(args, 'dy'), 'dy')[0],
        dx,
        rows,
        cols,
      );
      return output(b, logits.shape, dx);
    },
    [FUSED_KERNELS.adamw]: (args) => {
      const b = args.backend,
        w = input(args, 'w');
      const a = args.attrs as unknown as { beta1: number; beta2: number; eps: number; lr: number; bc1: number; bc2: number; decay: number };
      // float32 constants, as the composite's scalar tensors.
      const constants = Float32Array.of(a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.bc1, a.bc2, a.eps, a.lr, a.decay);
      const n = size(w.shape);
      const outs = [buffer(b, n), buffer(b, n), buffer(b, n)];
      addon.adamw(
        f32(b, w, 'w'),
        f32(b, input(args, 'g'), 'g'),
        f32(b, input(args, 'm'), 'm'),
        f32(b, input(args, 'v'), 'v'),
        outs[0],
        outs[1],
        outs[2],
        constants,
      );
      return outs.map((o) => output(b, w.shape, o));
    },
  };
}
