/**
 * A widget that reads the server again and again while it is on screen: `refresh()` at
 * once, then every `REFRESH_MS` for as long as `keepPolling()` says, and never after it is
 * detached or disposed. The sidebar and the job tab are such widgets.
 */
import { Widget } from '@lumino/widgets';

/** Milliseconds between refreshes. */
export const REFRESH_MS = 1000;

export abstract class PollingWidget extends Widget {
  /** Read the server and draw what it said. */
  abstract refresh(): Promise<void>;

  /** Whether to refresh again after a refresh (the widget is attached and not disposed). */
  protected abstract keepPolling(): boolean;

  protected onBeforeDetach(): void {
    this.unschedule();
  }

  dispose(): void {
    this.unschedule();
    super.dispose();
  }

  /** Refresh after `delay` milliseconds, then on and on while `keepPolling()`. */
  protected schedule(delay: number): void {
    this.unschedule();
    this.timer = window.setTimeout(async () => {
      this.timer = null;
      await this.refresh();
      if (this.isAttached && !this.isDisposed && this.timer === null && this.keepPolling()) {
        this.schedule(REFRESH_MS);
      }
    }, delay);
  }

  protected unschedule(): void {
    if (this.timer !== null) {
      window.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private timer: number | null = null;
}
