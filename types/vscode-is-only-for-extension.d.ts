// Deliberately not a module: tsconfig.base.json maps `vscode` here for every part except extension/
// and test/, so `import * as vscode from 'vscode'` in language/, trainer/, protocol/, cli/ or webview/
// fails with "File '…/vscode-is-only-for-extension.d.ts' is not a module" (TS2306). Those parts run
// in the trainer process, the CLI or a webview, where there is no VS Code API.
