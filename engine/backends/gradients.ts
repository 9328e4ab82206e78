/**
 * Gradients. tfjs-core's CommonJS build (dist/tf-core.node.js) contains no gradient at all, and
 * dist/register_all_gradients.js is ESM with extension-less relative imports ('./gradients/Abs_grad'),
 * which Node's ESM loader refuses: a plain require()/import() of it crashes. In a webpack bundle the
 * static require below is resolved by webpack. From tsc output we import it through Node's ESM loader
 * with a resolve hook (module.register, Node >= 20.6) that adds '.js' / '/index.js' for relative
 * specifiers inside tfjs-core/dist only. That loads tfjs-core's ESM files as a second copy of the ops,
 * which is fine: the engine and the kernel/gradient registries are process-wide globals in tfjs.
 */
import { pathToFileURL } from 'url';
import * as tf from '@tensorflow/tfjs-core';
import { dynamicImport } from './common';
import { inWebpackBundle, nodeRequire } from './runtime';

let gradientsLoading: Promise<void> | null = null;

function haveGradients(): boolean {
  return tf.getGradient('BatchMatMul') != null && tf.getGradient('Softmax') != null;
}

export function ensureGradients(): Promise<void> {
  if (haveGradients()) return Promise.resolve();
  if (!gradientsLoading) {
    gradientsLoading = (async () => {
      if (inWebpackBundle) {
        // Static string: webpack bundles the ESM gradient files (tfjs-core lists this file in sideEffects).
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when gradients are first needed
        require('@tensorflow/tfjs-core/dist/register_all_gradients');
      } else {
        const req = nodeRequire();
        const mod = req('module') as { register?: (specifier: string, parentURL?: string) => void };
        if (typeof mod.register !== 'function') {
          throw new Error(`Node ${process.version} has no module.register (need >= 20.6) to load tfjs gradients`);
        }
        const hooks = [
          'export async function resolve(specifier, context, next) {',
          "  const p = context.parentURL || '';",
          '  if (/[\\\\/]@tensorflow[\\\\/]tfjs-core[\\\\/]dist[\\\\/]/.test(p) && /^\\.\\.?\\//.test(specifier) && !/\\.m?js$/.test(specifier)) {',
          "    try { return await next(specifier + '.js', context); } catch { return next(specifier + '/index.js', context); }",
          '  }',
          '  return next(specifier, context);',
          '}',
        ].join('\n');
        mod.register('data:text/javascript,' + encodeURIComponent(hooks));
        const file = req.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
        await dynamicImport(pathToFileURL(file).href);
      }
      if (!haveGradients()) throw new Error('register_all_gradients loaded but no gradient is registered');
    })();
    gradientsLoading.catch(() => {
      gradientsLoading = null;
    });
  }
  return gradientsLoading;
}
