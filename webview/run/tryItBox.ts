// The panel's "Try It" box, shown once a run has finished with an output: a prompt, the number of new
// tokens, the temperature and the top-k / top-p cuts go to the host (`tryIt`), which formats the prompt
// with the run's template and generates in a child process; its answer (`tryItResult` / `tryItError`,
// with the generator's speed line) is shown with textContent.
import type { RunPanelHostMessage, RunPanelWebviewMessage } from '../../protocol/panel';
import { TRY_IT_LIMITS } from '../../protocol/panel';
import { el, section } from '../common/dom';

export const TRY_IT_CSS = `
  #try-it textarea { width: 100%; box-sizing: border-box; min-height: 5em; resize: vertical; font-family: var(--vscode-editor-font-family, monospace);
    font-size: var(--vscode-editor-font-size, 12px); color: var(--vscode-input-foreground); background: var(--vscode-input-background);
    border: 1px solid var(--vscode-input-border, var(--ft-border)); border-radius: 2px; padding: 4px 6px; }
  #try-it textarea:focus, #try-it input:focus { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
  #try-it input[type=number] { width: 6em; color: var(--vscode-input-foreground); background: var(--vscode-input-background);
    border: 1px solid var(--vscode-input-border, var(--ft-border)); border-radius: 2px; padding: 2px 4px; }
  #try-it .try-row { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin: 8px 0; }
  #try-it .try-row label { display: inline-flex; gap: 6px; align-items: center; }
  #try-it pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0 8px; padding: 6px 8px; border-radius: 2px;
    background: var(--vscode-textCodeBlock-background, rgba(128,128,128,0.1)); max-height: 24em; overflow: auto; }
  #try-it .try-error { color: var(--vscode-errorForeground, var(--vscode-foreground)); white-space: pre-wrap; overflow-wrap: anywhere; }
  #try-it [hidden] { display: none; }
`;

/** Placeholder per dataset format: what the box's text stands for in the run's template. */
const PLACEHOLDERS: Record<string, string> = {
  alpaca: 'An instruction, e.g. "Give three tips for staying healthy." (or a JSON record with instruction and input)',
  chat: 'A user message (or a JSON record with messages)',
  completion: 'A prompt to complete',
  text: 'The start of a text to continue',
  classification: 'A text to label',
};

type Button = HTMLElement & { disabled: boolean };

export interface TryItBox {
  root: HTMLElement;
  /** Shows the box (with the run's format) or hides it. */
  update(show: boolean, format: string | undefined): void;
  /** Handles the host's answers; true when the message was Try It's. */
  onHostMessage(message: RunPanelHostMessage): boolean;
}

export function tryItBox(post: (m: RunPanelWebviewMessage) => void): TryItBox {
  const card = section('Try It');
  card.root.id = 'try-it';
  card.root.hidden = true;
  const intro = el('p', 'muted', "Generate with this run's output; the text is put into the run's prompt template first.");
  const prompt = el('textarea');
  prompt.id = 'try-prompt';
  prompt.maxLength = TRY_IT_LIMITS.maxPromptChars;
  prompt.setAttribute('aria-label', 'Prompt');

  const row = el('div', 'try-row');
  const number = (id: string, label: string, value: string, min: string, max: string, step: string) => {
    const wrap = el('label', undefined, label);
    const input = el('input');
    input.type = 'number';
    input.id = id;
    input.value = value;
    input.min = min;
    input.max = max;
    input.step = step;
    wrap.append(input);
    row.append(wrap);
    return input;
  };
  const maxTokens = number('try-max-tokens', 'Max new tokens', '64', '1', String(TRY_IT_LIMITS.maxNewTokens), '1');
  const temperature = number('try-temperature', 'Temperature (0 = greedy)', '0.7', '0', String(TRY_IT_LIMITS.maxTemperature), '0.1');
  const topK = number('try-top-k', 'Top-k (0 = all)', '0', '0', '', '1');
  const topP = number('try-top-p', 'Top-p (1 = all)', '1', '0', '1', '0.05');
  const generate = document.createElement('vscode-button') as Button;
  generate.id = 'try-generate';
  generate.textContent = 'Generate';
  row.append(generate);

  const error = el('div', 'try-error');
  error.id = 'try-error';
  error.setAttribute('role', 'alert');
  error.hidden = true;
  const promptLabel = el('div', 'muted', 'Prompt as the model sees it');
  const promptShown = el('pre', 'mono');
  promptShown.id = 'try-formatted';
  const outputLabel = el('div', 'muted', 'Generated');
  const output = el('pre', 'mono');
  output.id = 'try-output';
  const speed = el('div', 'muted');
  speed.id = 'try-speed';
  const result = el('div');
  result.id = 'try-result';
  result.hidden = true;
  result.append(promptLabel, promptShown, outputLabel, output, speed);
  card.body.append(intro, prompt, row, error, result);

  let pending = false;
  const setPending = (p: boolean) => {
    pending = p;
    generate.disabled = p;
    generate.textContent = p ? 'Generating…' : 'Generate';
  };
  const showError = (message: string) => {
    error.textContent = message;
    error.hidden = false;
  };

  const submit = () => {
    if (pending) return;
    const n = Number(maxTokens.value);
    const t = Number(temperature.value);
    if (!Number.isInteger(n) || n < 1 || n > TRY_IT_LIMITS.maxNewTokens)
      return showError(`Max new tokens must be a whole number from 1 to ${TRY_IT_LIMITS.maxNewTokens}.`);
    if (!Number.isFinite(t) || t < 0 || t > TRY_IT_LIMITS.maxTemperature || temperature.value.trim() === '')
      return showError(`Temperature must be a number from 0 to ${TRY_IT_LIMITS.maxTemperature}.`);
    const k = topK.value.trim() === '' ? 0 : Number(topK.value);
    const p = topP.value.trim() === '' ? 1 : Number(topP.value);
    if (!Number.isSafeInteger(k) || k < 0) return showError('Top-k must be a whole number, 0 or more (0 = all tokens).');
    if (!(p >= 0 && p <= 1)) return showError('Top-p must be a number from 0 to 1 (1 = all tokens).');
    error.hidden = true;
    setPending(true);
    // The cuts travel only when they cut, so a request without them is what it always was.
    post({ type: 'tryIt', prompt: prompt.value, maxNewTokens: n, temperature: t, ...(k > 0 ? { topK: k } : {}), ...(p < 1 ? { topP: p } : {}) });
  };
  generate.addEventListener('click', () => {
    if (!generate.disabled) submit();
  });
  // Ctrl/Cmd+Enter in the prompt generates, as in chat boxes.
  prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submit();
    }
  });

  return {
    root: card.root,
    update(show, format) {
      card.root.hidden = !show;
      prompt.placeholder = PLACEHOLDERS[format ?? ''] ?? PLACEHOLDERS.text;
      if (!show && pending) setPending(false);
    },
    onHostMessage(message) {
      if (message.type === 'tryItResult') {
        setPending(false);
        error.hidden = true;
        promptShown.textContent = typeof message.prompt === 'string' ? message.prompt : '';
        output.textContent = typeof message.text === 'string' ? message.text : '';
        speed.textContent = typeof message.speed === 'string' ? message.speed : '';
        speed.hidden = !speed.textContent;
        result.hidden = false;
        return true;
      }
      if (message.type === 'tryItError') {
        setPending(false);
        showError(typeof message.message === 'string' ? message.message : 'Generation failed.');
        return true;
      }
      return false;
    },
  };
}
