/**
 * The analysis panel's messages: the paper's per-layer x head analyses, one run each.
 * Shared by the engine, the extension and the webview: no imports but protocol types, no Node, no DOM.
 * Typed arrays travel as binary (postMessage's structured clone), never as JSON number arrays.
 */
import type { MapKind, ModelKind } from './attention';

/** One value per layer x head of one model (index layer * numHeads + head); NaN = not measured. */
export interface LayerHeadValues {
  label: string;
  kind: ModelKind;
  numLayers: number;
  numHeads: number;
  values: Float32Array;
  /** Which map was measured (DiffLoRA: 'differential' A = A1 - lambda A2, which can be negative). */
  map?: MapKind;
}

/** Attention mass on the first (BOS) token: per head, the mean over query positions of A[q, 0]. */
export interface BosAnalysis {
  /** The text the models read. */
  text: string;
  /** Its length in tokens. */
  numTokens: number;
  /** Which query positions were averaged, e.g. "queries 1..T-1". */
  note?: string;
  /** The first token is the model's BOS token (otherwise it is just the text's first token). */
  firstTokenIsBos?: boolean;
  models: LayerHeadValues[];
}

/**
 * "Magic number" needle probe: a number hidden in long filler text and asked for at the end. Per head,
 * the attention mass from the final query position onto the needle's tokens.
 */
export interface NeedleAnalysis {
  /** The whole prompt (filler with the needle sentence inside, then the question). */
  text: string;
  /** The needle's span in `text` as character offsets [start, end). */
  needleStart: number;
  needleEnd: number;
  /** The number to find, as text. */
  needle: string;
  numTokens: number;
  /** Where the needle sits, 0 = start of the filler, 1 = end. */
  depth?: number;
  models: (LayerHeadValues & {
    /** The model's answer (generated text; shown as text). */
    answer: string;
    /** Whether the answer contains the needle (the host decides). */
    correct?: boolean;
  })[];
}

export type AnalysisName = 'bos' | 'needle';

/** What a needle run asks for (all optional: the host has defaults). */
export interface NeedleOptions {
  /** Approximate prompt length in tokens. */
  length?: number;
  /** Where the needle goes, 0..1. */
  depth?: number;
}

/** Messages from the extension host to the analysis webview. */
export type AnalysisHostMessage =
  /** The models an analysis will run on (labels for the panel before results arrive). */
  | { type: 'analysis.models'; models: { label: string; kind: ModelKind }[] }
  | { type: 'analysis.bos'; result: BosAnalysis }
  | { type: 'analysis.needle'; result: NeedleAnalysis }
  /** A run is under way: a line of progress text, and the fraction done when known. */
  | { type: 'analysis.progress'; analysis: AnalysisName; text: string; fraction?: number }
  | { type: 'analysis.error'; analysis: AnalysisName; error: string };

/** Messages from the analysis webview to the extension host. */
export type AnalysisViewMessage =
  | { type: 'analysis.ready' }
  /** A Run button: run the analysis on the panel's models. */
  | { type: 'analysis.run'; analysis: 'bos' }
  | { type: 'analysis.run'; analysis: 'needle'; options: NeedleOptions }
  /** A click on a heatmap cell: the host may open the attention panel at that model, layer and head. */
  | { type: 'analysis.select'; analysis: AnalysisName; model: number; layer: number; head: number };
