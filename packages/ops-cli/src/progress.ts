import type { OutStream } from './output.js';

/**
 * A progress bar on stderr: redrawn in place on a terminal, a plain line
 * every 10% otherwise (logs and CI stay readable).
 */
export class ProgressBar {
  private done = 0;
  private lastDecile = -1;
  private readonly started = Date.now();

  constructor(
    private readonly stream: OutStream,
    private readonly total: number,
    private readonly label: string,
  ) {}

  tick(detail = ''): void {
    this.done += 1;
    const pct = this.total === 0 ? 1 : this.done / this.total;
    if (this.stream.isTTY) {
      const width = 30;
      const fill = Math.round(pct * width);
      const bar = `${'#'.repeat(fill)}${'.'.repeat(width - fill)}`;
      this.stream.write(`\r\x1b[2K${this.label} [${bar}] ${this.done}/${this.total} ${detail}`);
      if (this.done === this.total) this.stream.write('\n');
      return;
    }
    const decile = Math.floor(pct * 10);
    if (decile !== this.lastDecile || this.done === this.total) {
      this.lastDecile = decile;
      const secs = ((Date.now() - this.started) / 1000).toFixed(1);
      this.stream.write(`${this.label}: ${this.done}/${this.total} (${Math.round(pct * 100)}%, ${secs} s) ${detail}\n`);
    }
  }
}
