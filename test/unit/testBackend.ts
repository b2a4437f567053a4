// The CPU backend the float-comparing tests run on: wasm in `npm run test:unit`, and the native backend
// when `npm run test:numeric` runs them again (FINETUNE_TEST_BACKEND=native, under a second OpenBLAS
// kernel set), so every reference parity and gradient check holds on both paths.
export const TEST_BACKEND = process.env.FINETUNE_TEST_BACKEND === 'native' ? 'native' : 'wasm';
