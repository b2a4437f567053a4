// The dataset language library (ajv, the tokenizer and its vocabulary) is loaded on first use, not when
// the extension activates: esbuild keeps a `require`d module's initialisation lazy inside the bundle.
import type * as Language from '../language';

export type LanguageModule = typeof Language;

let loaded: LanguageModule | undefined;
let loadMs: number | undefined;

export function language(): LanguageModule {
  if (!loaded) {
    const t0 = performance.now();
    loaded = require('../language') as LanguageModule;
    loadMs = performance.now() - t0;
  }
  return loaded;
}

/** How long the first `language()` call took, once it has happened. */
export function languageLoadMs(): number | undefined {
  return loadMs;
}
