// Every message that crosses a process or webview boundary is typed in this folder, one module per
// boundary: `trainer.ts` (trainer child process <-> extension/CLI), `preview.ts` (dataset preview
// webview <-> extension), `panel.ts` (training panel webview <-> extension). Nobody builds these ad hoc.
export {};
