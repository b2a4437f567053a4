// "Install TensorFlow Native Backend…": npm-installs tfjs-node (or tfjs-node-gpu) into the extension's
// global storage, where the trainer finds it (FINETUNE_TFJS_NODE_PATH). The install only spawns npm;
// TensorFlow itself is never loaded in the extension host.
import * as vscode from 'vscode';
import { installNativeBackend, nativeTfjsPackageName } from '../../trainer/nativeBackends';

export async function installNativeBackendCommand(context: vscode.ExtensionContext, output: vscode.OutputChannel): Promise<void> {
  const choice = await vscode.window.showQuickPick(
    [
      { label: 'CPU', description: `${nativeTfjsPackageName(false)}: the TensorFlow C library on the CPU`, gpu: false },
      { label: 'GPU (CUDA)', description: `${nativeTfjsPackageName(true)}: needs an NVIDIA driver, CUDA 11.2 and cuDNN 8.1`, gpu: true },
    ],
    { title: 'Install TensorFlow Native Backend', placeHolder: 'Which backend? It is downloaded with npm (about 100–400 MB).', ignoreFocusOut: true },
  );
  if (!choice) return;
  const targetDir = context.globalStorageUri.fsPath;
  output.show(true);
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Installing the ${choice.label} TensorFlow backend`, cancellable: true },
      async (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        await installNativeBackend({
          gpu: choice.gpu,
          targetDir,
          signal: controller.signal,
          onLog: (line) => {
            output.appendLine(line);
            progress.report({ message: line.length > 80 ? line.slice(0, 77) + '…' : line });
          },
        });
      },
    );
  } catch (err) {
    const message = (err as Error).message;
    output.appendLine(message);
    void vscode.window.showErrorMessage(`Installing the TensorFlow backend failed: ${message}`, 'Show Output').then((p) => {
      if (p === 'Show Output') output.show();
    });
    return;
  }
  void vscode.window.showInformationMessage(
    `The ${choice.label} TensorFlow backend is installed in ${targetDir}; new runs use it (backend "auto" or "tensorflow").`,
  );
}
