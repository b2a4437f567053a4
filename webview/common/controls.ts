// The chart controls both views share: x axis (step / epoch / tokens), smoothing slider, log scale.
import { el } from './dom';
import { X_AXES, clampSmoothing, type XAxis } from './runModel';

export interface AxisControlState {
  xAxis: XAxis;
  smoothing: number;
  log: boolean;
}

/** The controls' choices as `getState` returned them, checked, with the defaults for what is missing. */
export function restoreAxisControlState(saved: Partial<AxisControlState> | undefined): AxisControlState {
  return {
    xAxis: saved?.xAxis !== undefined && X_AXES.includes(saved.xAxis) ? saved.xAxis : 'step',
    smoothing: clampSmoothing(saved?.smoothing ?? 0.6),
    log: saved?.log === true,
  };
}

export interface AxisControlHandlers {
  onAxis(axis: XAxis): void;
  onSmoothing(value: number): void;
  onLog(log: boolean): void;
}

const AXIS_LABELS: Record<XAxis, string> = { step: 'Step', epoch: 'Epoch', tokens: 'Tokens' };

export function axisControls(state: AxisControlState, on: AxisControlHandlers): HTMLElement {
  const row = el('div', 'controls');

  const axisLabel = el('label', undefined, 'X axis');
  const select = document.createElement('vscode-single-select') as HTMLElement & { value: string };
  select.id = 'x-axis';
  select.setAttribute('aria-label', 'X axis');
  for (const axis of X_AXES) {
    const option = document.createElement('vscode-option') as HTMLElement & { value: string; selected: boolean };
    option.value = axis;
    option.textContent = AXIS_LABELS[axis];
    if (axis === state.xAxis) option.selected = true;
    select.append(option);
  }
  select.addEventListener('change', () => {
    const v = select.value as XAxis;
    if (X_AXES.includes(v) && v !== state.xAxis) on.onAxis(v);
  });
  axisLabel.append(select);

  const smoothLabel = el('label', undefined, 'Smoothing');
  const slider = el('input');
  slider.type = 'range';
  slider.id = 'smoothing';
  slider.min = '0';
  slider.max = '0.99';
  slider.step = '0.01';
  slider.value = String(state.smoothing);
  const smoothValue = el('span', 'mono', state.smoothing.toFixed(2));
  slider.addEventListener('input', () => {
    const v = clampSmoothing(Number(slider.value));
    smoothValue.textContent = v.toFixed(2);
    on.onSmoothing(v);
  });
  smoothLabel.append(slider, smoothValue);

  const log = document.createElement('vscode-checkbox') as HTMLElement & { checked: boolean; label: string };
  log.id = 'log-scale';
  log.textContent = 'Log scale';
  log.checked = state.log;
  log.addEventListener('change', () => on.onLog(log.checked));

  row.append(axisLabel, smoothLabel, log);
  return row;
}
