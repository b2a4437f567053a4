// The native addon is optional and built by `npm run build:native`; the tests that compare its kernels
// build it when it is missing, so that they run wherever a compiler and BLAS exist (the build script
// itself never fails).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nativeAddonCandidates } from '../../trainer/native/blas';

const NATIVE_DIR = path.join(__dirname, '..', '..', 'trainer', 'native');

export function buildNativeAddonIfMissing(): void {
  if (!nativeAddonCandidates(NATIVE_DIR).some((f) => fs.existsSync(f))) {
    spawnSync(process.execPath, [path.join(NATIVE_DIR, 'build.mjs')], { stdio: 'ignore' });
  }
}
