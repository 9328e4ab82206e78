/** What `difflora info` shows. */
import { TensorStore } from '../formats/tensor-store';
import { readAdapterConfig } from '../model/adapter-weights';
import { readModelConfig } from '../model/load';

function countParams(store: TensorStore): number {
  return store.names().reduce((n, name) => n + (store.shape(name) ?? []).reduce((a, b) => a * b, 1), 0);
}

/** A model's architecture and parameter count, and an adapter's kind, options and parameters: from the files, nothing loaded. */
export function modelInfo(o: { model: string; adapter?: string }): Record<string, unknown> {
  const c = readModelConfig(o.model);
  const out: Record<string, unknown> = {
    model: o.model,
    architecture: {
      layers: c.numLayers,
      hidden: c.hiddenSize,
      intermediate: c.intermediateSize,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
      vocab: c.vocabSize,
      ropeTheta: c.ropeTheta,
      ropeScaling: c.ropeScaling ?? null,
      tiedEmbeddings: c.tieWordEmbeddings,
      rmsNormEps: c.rmsNormEps,
    },
    parameters: countParams(TensorStore.openFolder(o.model, 'model.safetensors')),
  };
  if (o.adapter) {
    const a = readAdapterConfig(o.adapter);
    const store = TensorStore.openFolder(o.adapter, a.kind === 'lora' ? 'adapter_model.safetensors' : 'model.safetensors');
    const { kind, ...options } = a;
    out.adapter = { dir: o.adapter, kind, parameters: countParams(store), options };
  }
  return out;
}
