// Coalesces redraw requests: however many arrive, `draw` runs at most once per `intervalMs`, on an
// animation frame (so a hidden panel does no work until it is shown again).
export class RedrawThrottle {
  private pending = false;
  private last = -Infinity;

  constructor(
    private readonly draw: () => void,
    private readonly intervalMs: number,
    private readonly frame: (cb: (now: number) => void) => unknown = (cb) => requestAnimationFrame(cb),
    private readonly now: () => number = () => performance.now(),
  ) {}

  request(): void {
    if (this.pending) return;
    this.pending = true;
    this.frame(this.tick);
  }

  private tick = (): void => {
    const now = this.now();
    if (now - this.last < this.intervalMs) {
      this.frame(this.tick);
      return;
    }
    this.pending = false;
    this.last = now;
    this.draw();
  };
}
