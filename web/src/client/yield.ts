// Yielding to the event loop without timers: background tabs throttle
// setTimeout (to 1 s, or 1 min after a while), but not MessageChannel tasks.
// Between two steps this lets socket events, React's scheduler and input run.

const channel = typeof MessageChannel === 'undefined' ? null : new MessageChannel();
const waiting: (() => void)[] = [];
if (channel) channel.port1.onmessage = () => waiting.shift()?.();

export function yieldToEventLoop(): Promise<void> {
  if (!channel) return Promise.resolve();
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(null);
  });
}

/**
 * Gives the page a chance to paint (before a long synchronous job such as
 * building the model), without stalling a hidden tab where frames never come.
 */
export function yieldToPaint(maxWaitMs = 100): Promise<void> {
  if (typeof document === 'undefined' || document.visibilityState !== 'visible' || typeof requestAnimationFrame !== 'function') {
    return yieldToEventLoop();
  }
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolve();
      }
    };
    // Resolve after the frame is painted: rAF runs before paint, the next task after it.
    requestAnimationFrame(() => void yieldToEventLoop().then(finish));
    setTimeout(finish, maxWaitMs);
  });
}
