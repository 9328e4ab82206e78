/** AdamW with decoupled weight decay (Loshchilov & Hutter), PyTorch's update order, state saveable. */
import * as tf from '@tensorflow/tfjs-core';
import { adamwUpdate } from '../model/fused';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface Param {
  name: string;
  variable: tf.Variable;
  /** No weight decay (norm weights, lambda vectors, biases). */
  noDecay?: boolean;
}

export class AdamW {
  step = 0;
  readonly m: tf.Variable[];
  readonly v: tf.Variable[];

  constructor(
    readonly params: Param[],
    readonly opts: AdamWOptions,
  ) {
    const zeros = (p: Param) => tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false));
    this.m = params.map(zeros);
    this.v = params.map(zeros);
  }

  /** One update with gradients in `params` order. */
  apply(grads: tf.Tensor[], lr: number): void {
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.opts;
    const bc1 = 1 - Math.pow(beta1, this.step),
      bc2 = 1 - Math.pow(beta2, this.step);
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const decay = p.noDecay || weightDecay === 0 ? undefined : 1 - lr * weightDecay;
        const next = adamwUpdate(p.variable, grads[i], this.m[i], this.v[i], { beta1, beta2, eps, lr, bc1, bc2, decay });
        this.m[i].assign(next.m);
        this.v[i].assign(next.v);
        p.variable.assign(next.w);
      });
    });
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}
