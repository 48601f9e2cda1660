// The round loop without sockets: a fake transport records what goes out and a
// fake clock fires deadlines when the test says so.
import { describe, expect, it } from 'vitest';
import { encodeWeights } from '../../web/src/federation/weights.ts';
import { presetConfig } from '../../web/src/model/config.ts';
import type { FederationConfig } from '../../web/src/protocol/config.ts';
import { PROTOCOL_VERSION, decodeWeights, type EvaluateMsg, type FederationMsg, type FitMsg, type Status } from '../../web/src/protocol/messages.ts';
import { METRICS, TINY, TINY_SPEC, shifted } from '../testing/tab.ts';
import { Coordinator, assignShard, type Clock, type Transport } from './coordinator.ts';

class FakeClock implements Clock {
  private t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private ids = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.ids;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (id: unknown) => {
    this.timers = this.timers.filter((t) => t.id !== id);
  };
  /** Moves time forward, firing due timers in order. */
  tick(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.clearTimeout(due.id);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}

type Sent = { to: string; event: 'fit'; msg: FitMsg } | { to: string; event: 'evaluate'; msg: EvaluateMsg } | { to: string; event: 'federation'; msg: FederationMsg } | { to: string; event: 'error'; msg: unknown };

function setup(config: Partial<FederationConfig> = {}) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const statuses: Status[] = [];
  const transport: Transport = {
    send: (to, event, msg) => sent.push({ to, event, msg } as Sent),
    broadcastStatus: (s) => statuses.push(s),
  };
  let n = 0;
  const coord = new Coordinator({ transport, clock, config: { ...TINY, ...config }, newId: () => `fed-${++n}` });
  const fits = (to: string) => sent.filter((s): s is Extract<Sent, { event: 'fit' }> => s.to === to && s.event === 'fit').map((s) => s.msg);
  const evals = (to: string) => sent.filter((s): s is Extract<Sent, { event: 'evaluate' }> => s.to === to && s.event === 'evaluate').map((s) => s.msg);
  const join = (numTrain = 10, shard?: number) => {
    const ack = coord.join({ protocol: PROTOCOL_VERSION, shard });
    if (!ack.ok) throw new Error(ack.error);
    expect(coord.ready(ack.clientId, { federation: ack.federation, round: 0, backend: 'cpu', adapterInfo: '', numTrain, numTest: 5, labelCounts: [1, 2, 3] })).toEqual({ ok: true });
    return ack.clientId;
  };
  const update = (id: string, msg: FitMsg, k = 1, numExamples = 10) =>
    coord.update(id, { federation: msg.federation, round: msg.round, attempt: msg.attempt, numExamples, trainLoss: 0.3, steps: 1, ms: 1, weights: encodeWeights(shifted(decodeWeights(msg.global, TINY_SPEC), k)) });
  const evaluate = (id: string, round: number) => coord.eval(id, { federation: coord.status().federation, round, local: METRICS, global: METRICS });
  const lastFit = (id: string) => fits(id).at(-1)!;
  return { coord, clock, sent, statuses, fits, evals, join, update, evaluate, lastFit };
}

describe('the round loop', () => {
  it('evaluates round 0, trains rounds 1..R, then is done', () => {
    const h = setup({ rounds: 2 });
    const [a, b] = [h.join(10), h.join(30)];
    expect(h.coord.status()).toMatchObject({ round: 0, phase: 'evaluating' });
    h.evaluate(a, 0);
    h.evaluate(b, 0);
    for (const round of [1, 2]) {
      expect(h.coord.status()).toMatchObject({ round, phase: 'training' });
      expect(h.update(a, h.lastFit(a), 1, 10)).toEqual({ ok: true });
      expect(h.update(b, h.lastFit(b), 2, 30)).toEqual({ ok: true });
      expect(h.coord.status()).toMatchObject({ round, phase: 'evaluating' });
      h.evaluate(a, round);
      h.evaluate(b, round);
    }
    const s = h.coord.status();
    expect(s.phase).toBe('done');
    expect(s.history.map((r) => [r.round, r.participants, r.attempts])).toEqual([[0, [], 1], [1, [a, b], 1], [2, [a, b], 1]]);
    expect(s.history[1].trainLoss).toBeCloseTo(0.3, 6);
    expect(s.history[0].bytesDown).toBe(2 * s.adapterBytes);
    expect(s.history[1].bytesDown).toBe(4 * s.adapterBytes);
    expect(h.fits(a).map((f) => [f.round, f.attempt])).toEqual([[1, 1], [2, 1]]);
  });

  it('waits for minClients before starting, and does not start without autoStart', () => {
    const h = setup({ minClients: 3, autoStart: false });
    h.join();
    h.join();
    h.join();
    expect(h.coord.status()).toMatchObject({ phase: 'idle', running: false });
    h.coord.control({ action: 'start' });
    expect(h.coord.status()).toMatchObject({ phase: 'evaluating', running: true });
  });

  it('tries a round again when too few updates came back by the deadline', () => {
    const h = setup({ roundTimeoutMs: 1000 });
    const [a, b] = [h.join(), h.join()];
    h.evaluate(a, 0);
    h.evaluate(b, 0);
    const first = h.lastFit(a);
    h.update(a, first);

    h.clock.tick(1000);

    expect(h.coord.status()).toMatchObject({ round: 1, phase: 'training' });
    expect(h.lastFit(a)).toMatchObject({ round: 1, attempt: 2 });
    expect(h.update(b, h.fits(b)[0])).toMatchObject({ ok: false, code: 'stale-round' });
    expect(h.update(a, h.lastFit(a))).toEqual({ ok: true });
    expect(h.update(b, h.lastFit(b))).toEqual({ ok: true });
    h.evaluate(a, 1);
    h.evaluate(b, 1);
    expect(h.coord.status().history[1]).toMatchObject({ attempts: 2, participants: [a, b] });
  });

  it('waits instead of retrying when too few tabs are left', () => {
    const h = setup({ roundTimeoutMs: 1000 });
    const [a, b] = [h.join(), h.join()];
    h.evaluate(a, 0);
    h.evaluate(b, 0);
    h.update(a, h.lastFit(a));
    h.coord.disconnect(b);
    expect(h.coord.status()).toMatchObject({ round: 1, phase: 'waiting' });
    const c = h.join();
    expect(h.lastFit(c)).toMatchObject({ round: 1, attempt: 2 });
  });

  it('never aggregates the update of a tab that left', () => {
    const h = setup({ minClients: 2 });
    const [a, b, c] = [h.join(), h.join(), h.join()];
    for (const id of [a, b, c]) h.evaluate(id, 0);
    const before = h.coord.globalWeights();
    h.update(c, h.lastFit(c), 9);
    h.coord.disconnect(c);
    h.update(a, h.lastFit(a), 1);
    h.update(b, h.lastFit(b), 1);
    // a and b sent the same weights, so the average is theirs exactly; c's would have moved it.
    const expected = shifted(before, 1);
    const got = h.coord.globalWeights();
    expect(got.every((t, i) => t.data.every((v, j) => Math.abs(v - expected[i].data[j]) < 1e-6))).toBe(true);
    expect(h.fits(c)).toHaveLength(1);
  });

  it('refuses updates that are not selected, duplicated, or from another federation', () => {
    const h = setup({ minClients: 2, fractionFit: 0.5 });
    const ids = [h.join(), h.join(), h.join(), h.join()];
    for (const id of ids) h.evaluate(id, 0);
    const chosen = ids.filter((id) => h.fits(id).length > 0);
    const other = ids.find((id) => !chosen.includes(id))!;
    expect(chosen).toHaveLength(2);
    const fit = h.lastFit(chosen[0]);

    expect(h.update(other, fit)).toMatchObject({ ok: false, code: 'not-selected' });
    expect(h.update(chosen[0], fit)).toEqual({ ok: true });
    expect(h.update(chosen[0], fit)).toMatchObject({ ok: false, code: 'duplicate' });
    expect(h.update(chosen[1], { ...fit, federation: 'old' })).toMatchObject({ ok: false, code: 'wrong-federation' });
    expect(h.update('c99', fit)).toMatchObject({ ok: false, code: 'not-joined' });
    expect(h.coord.status().phase).toBe('training');
  });

  it('evaluates again when no evaluation came back', () => {
    const h = setup({ evalTimeoutMs: 1000 });
    const [a, b] = [h.join(), h.join()];
    h.clock.tick(1000);
    expect(h.evals(a).map((e) => e.round)).toEqual([0, 0]);
    h.evaluate(a, 0);
    h.clock.tick(1000);
    expect(h.coord.status().history[0]).toMatchObject({ round: 0, attempts: 2, perClient: [{ id: a }] });
    expect(h.fits(b)).toHaveLength(1);
  });

  it('closes an evaluation when the only missing tab leaves', () => {
    const h = setup();
    const [a, b] = [h.join(), h.join()];
    h.evaluate(a, 0);
    h.coord.disconnect(b);
    expect(h.coord.status().history).toHaveLength(1);
    expect(h.coord.status().phase).toBe('waiting');
  });
});

describe('the operator', () => {
  it('pause abandons the round in flight; late updates are stale; start tries it again', () => {
    const h = setup();
    const [a, b] = [h.join(), h.join()];
    h.evaluate(a, 0);
    h.evaluate(b, 0);
    const fit = h.lastFit(a);

    h.coord.control({ action: 'pause' });

    expect(h.coord.status()).toMatchObject({ phase: 'idle', running: false });
    expect(h.update(a, fit)).toMatchObject({ ok: false, code: 'stale-round' });
    h.coord.control({ action: 'start' });
    expect(h.lastFit(a)).toMatchObject({ round: 1, attempt: 2 });
    expect(h.update(b, fit)).toMatchObject({ ok: false, code: 'stale-round' });
    expect(h.update(a, h.lastFit(a))).toEqual({ ok: true });
  });

  it('reset starts a new federation and tells each tab its shard', () => {
    const h = setup({ rounds: 3 });
    const [a, b] = [h.join(), h.join()];
    h.evaluate(a, 0);
    h.evaluate(b, 0);
    const old = h.coord.status();

    expect(h.coord.control({ action: 'reset' })).toEqual({ ok: true });

    const s = h.coord.status();
    expect(s).toMatchObject({ federation: 'fed-2', round: 0, phase: 'waiting', history: [] });
    expect(s.clients.map((c) => c.ready)).toEqual([false, false]);
    const told = h.sent.filter((m) => m.event === 'federation');
    expect(told.map((m) => [m.to, (m.msg as FederationMsg).federation, (m.msg as FederationMsg).shard])).toEqual([[a, 'fed-2', 0], [b, 'fed-2', 1]]);
    expect(h.update(a, h.lastFit(a))).toMatchObject({ ok: false, code: 'wrong-federation' });
    expect(h.coord.ready(a, { federation: old.federation, round: 0, backend: 'cpu', adapterInfo: '', numTrain: 1, numTest: 0, labelCounts: [] })).toMatchObject({ code: 'wrong-federation' });
  });

  it('configure refuses a bad config and changes nothing', () => {
    const h = setup();
    h.join();
    const before = h.coord.status();
    const repeated = { rank: 2, alpha: 4, dropout: 0, targets: ['q', 'q'] };
    for (const config of [{ rounds: 0 }, { unknown: 1 }, { lora: repeated }, { seqLen: presetConfig('tiny').contextLength + 1 }, 'nope']) {
      const ack = h.coord.control({ action: 'configure', config });
      expect(ack).toMatchObject({ ok: false, code: 'bad-config', error: expect.stringMatching(/invalid config/) });
    }
    expect(h.coord.status()).toEqual(before);
  });

  it('configure keeps the federation unless the adapter or the data change', () => {
    const h = setup();
    const a = h.join();
    h.coord.control({ action: 'configure', config: { rounds: 4, learningRate: 0.01 } });
    expect(h.coord.status()).toMatchObject({ federation: 'fed-1', config: { rounds: 4, learningRate: 0.01 } });
    for (const [i, config] of [{ dataSeed: 3 }, { seqLen: 16 }, { numShards: 2 }, { preset: 'small' }].entries()) {
      h.coord.control({ action: 'configure', config });
      expect(h.coord.status().federation).toBe(`fed-${i + 2}`);
    }
    expect(h.coord.globalWeights()[0].shape).toEqual([presetConfig('small').dModel, 2]);
    expect(h.coord.status().clients).toMatchObject([{ id: a, ready: false }]);
  });

  it('moves tabs whose shard no longer exists', () => {
    const h = setup({ numShards: 4 });
    const ids = [h.join(1, 3), h.join(1, 2), h.join(1, 0)];
    h.coord.control({ action: 'configure', config: { numShards: 2 } });
    expect(h.coord.status().clients.map((c) => [c.id, c.shard])).toEqual([[ids[0], 1], [ids[1], 0], [ids[2], 0]]);
  });
});

describe('tabs', () => {
  it('get the requested shard, else the least-held one', () => {
    expect(assignShard(2, [0, 1], 4)).toBe(2);
    expect(assignShard(undefined, [0, 2], 4)).toBe(1);
    expect(assignShard(7, [0, 1], 4)).toBe(2);
    expect(assignShard(undefined, [0, 1, 2, 3, 0, 2], 4)).toBe(1);
  });

  it('report progress and are seen on every message', () => {
    const h = setup({ localSteps: 40 });
    const [a, b] = [h.join(), h.join()];
    h.evaluate(a, 0);
    h.evaluate(b, 0);
    expect(h.coord.status().clients[0].activity).toBe('training 0/40');
    h.clock.tick(500);
    h.coord.progress(a, { federation: 'fed-1', round: 1, step: 12, steps: 40, loss: 1 });
    h.coord.progress(b, { federation: 'fed-1', round: 0, step: 5, steps: 40, loss: 1 });
    const [ca, cb] = h.coord.status().clients;
    expect([ca.activity, ca.lastSeen]).toEqual(['training 12/40', 500]);
    expect([cb.activity, cb.lastSeen]).toEqual(['training 0/40', 500]);
  });

  it('push status to watchers at most five times a second', () => {
    const h = setup({ minClients: 5 });
    for (let i = 0; i < 20; i++) h.join();
    h.clock.tick(0);
    expect(h.statuses).toHaveLength(1);
    h.join();
    h.clock.tick(199);
    expect(h.statuses).toHaveLength(1);
    h.clock.tick(1);
    expect(h.statuses).toHaveLength(2);
    expect(h.statuses[1].clients).toHaveLength(21);
  });
});
