// Every message that crosses a process or webview boundary is typed in this folder, one module per
// boundary: `trainer.ts` (trainer child process <-> extension/CLI), `generate.ts` (`finetune generate
// --json` <-> Try It), `preview.ts` (dataset preview webview <-> extension), `panel.ts` (training panel
// webview <-> extension); `params.ts` types the parameter breakdown they carry, and `options.ts` declares
// every run setting (run.json, the flags). Nobody builds these ad hoc. No module here imports Node, so
// the webviews and the extension host can load any of them.
export {};
