import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BaseFileError } from '../../web/src/basemodel/load.ts';
import { baseParameterCount } from '../../web/src/model/config.ts';
import { tinyBaseFiles, writeBaseDir } from '../../web/src/model/testing-base.ts';
import { BASE_FILE_NAMES } from '../../web/src/protocol/base.ts';
import { ModelRegistry, slug } from './registry.ts';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tabfed-models-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const good = tinyBaseFiles({ seed: 3 });

describe('the model registry', () => {
  it('lists each good folder with the size and sha256 of every file, and reports the bad ones', () => {
    const dir = temp();
    writeBaseDir(join(dir, 'good'), good.files);
    writeFileSync(join(dir, 'good', 'training.json'), JSON.stringify({ corpus: { name: 'Brown corpus' }, training: { steps: 10 }, validation: { perplexity: 99.5 } }));
    writeBaseDir(join(dir, 'partial'), { 'config.json': good.files['config.json'] });
    writeBaseDir(join(dir, 'corrupt'), { ...good.files, 'model.safetensors': good.files['model.safetensors'].slice(0, 500) });
    writeBaseDir(join(dir, 'Bad Name'), good.files);
    writeBaseDir(join(dir, 'random'), good.files);
    writeFileSync(join(dir, 'README.md'), 'not a folder');

    const r = ModelRegistry.open({ dir, cacheDir: null });

    expect(r.list().map((b) => b.id)).toEqual(['good']);
    const d = r.get('good')!;
    expect(d).toMatchObject({
      label: 'good',
      description: 'pretrained on the Brown corpus, 10 steps, validation perplexity 99.5 (npm run pretrain)',
      pretrained: true,
      source: 'shipped',
      params: baseParameterCount(good.model),
      model: { vocabSize: 300, contextLength: 64, dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 4 },
    });
    expect(d.files).toEqual(BASE_FILE_NAMES.map((name) => ({ name, url: `/models/good/${name}`, bytes: good.files[name].length, sha256: sha(good.files[name]) })));
    const problems = r.problems.join('\n');
    expect(r.problems).toHaveLength(4);
    expect(problems).toMatch(/partial: no tokenizer\.json, model\.safetensors \(a base needs config\.json, tokenizer\.json, model\.safetensors\); skipped/);
    expect(problems).toMatch(/corrupt: model\.safetensors is not a valid safetensors file: .*; skipped/);
    expect(problems).toMatch(/Bad Name: "Bad Name" cannot name a base/);
    expect(problems).toMatch(/random: "random" cannot name a base/);
    expect(r.file('good', 'config.json')).toEqual({ path: join(dir, 'good', 'config.json'), changed: false });
    expect(r.file('good', 'training.json')).toBeNull();
    expect(r.file('nope', 'config.json')).toBeNull();
  });

  it("skips a shipped base whose weights are not the ones its training.json records", () => {
    const dir = temp();
    writeBaseDir(join(dir, 'recorded'), good.files);
    const w = good.files['model.safetensors'];
    writeFileSync(join(dir, 'recorded', 'training.json'), JSON.stringify({ files: { 'model.safetensors': { bytes: w.length, sha256: sha(w) } } }));
    writeBaseDir(join(dir, 'swapped'), { ...good.files, 'model.safetensors': tinyBaseFiles({ seed: 9 }).files['model.safetensors'] });
    writeFileSync(join(dir, 'swapped', 'training.json'), JSON.stringify({ files: { 'model.safetensors': { bytes: w.length, sha256: sha(w) } } }));
    const r = ModelRegistry.open({ dir, cacheDir: null });
    expect(r.list().map((b) => b.id)).toEqual(['recorded']);
    expect(r.problems).toEqual([expect.stringMatching(/swapped: model\.safetensors is not the file training\.json records \(\d+ bytes, sha256 [0-9a-f]{12}…\); it may be damaged or from another run; skipped/)]);
  });

  it('notices a served file that changed on disk after it was hashed', () => {
    const dir = temp();
    writeBaseDir(join(dir, 'good'), good.files);
    const r = ModelRegistry.open({ dir, cacheDir: null });
    writeFileSync(join(dir, 'good', 'model.safetensors'), good.files['model.safetensors'].slice(0, 100)); // another size: mtime may be coarse
    expect(r.file('good', 'model.safetensors')).toMatchObject({ changed: true });
  });

  it('an empty or missing folder gives an empty registry', () => {
    expect(ModelRegistry.open({ dir: join(temp(), 'nothing-here'), cacheDir: null }).list()).toEqual([]);
  });

  it('adds a checked base to the cache dir, finds it again after a restart, and adds the same files only once', () => {
    const [dir, cacheDir] = [temp(), temp()];
    const r = ModelRegistry.open({ dir, cacheDir });
    const first = r.add(good.files, { source: 'url', label: 'My GPT-2!', origin: 'http://example.test/gpt2' });
    expect(first.added).toBe(true);
    expect(first.base).toMatchObject({ id: `my-gpt-2-${sha(good.files['model.safetensors']).slice(0, 8)}`, label: 'My GPT-2!', source: 'url', description: 'downloaded from http://example.test/gpt2' });
    expect(r.add(good.files, { source: 'url', label: 'My GPT-2!', origin: 'http://example.test/gpt2' })).toEqual({ base: first.base, added: false });

    const again = ModelRegistry.open({ dir, cacheDir });
    expect(again.list()).toEqual([first.base]);
    expect(again.problems).toEqual([]);
  });

  it('registers nothing when the files do not load', () => {
    const [dir, cacheDir] = [temp(), temp()];
    const r = ModelRegistry.open({ dir, cacheDir });
    const wrongVocab = { ...good.files, 'tokenizer.json': tinyBaseFiles({ tokenizerVocab: 320 }).files['tokenizer.json'] };
    expect(() => r.add(wrongVocab, { source: 'upload', label: 'x', origin: 'picked files' })).toThrow(BaseFileError);
    expect(r.list()).toEqual([]);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('keeps added bases in memory without a cache dir', () => {
    const r = ModelRegistry.open({ dir: temp(), cacheDir: null });
    const { base } = r.add(good.files, { source: 'upload', label: 'mem', origin: 'picked files' });
    expect(r.file(base.id, 'model.safetensors')).toEqual({ bytes: good.files['model.safetensors'] });
  });

  it('makes ids from labels', () => {
    expect(slug('GPT-2 (small), from HF!')).toBe('gpt-2-small-from-hf');
    expect(slug('***')).toBe('base');
    expect(slug('a'.repeat(50))).toHaveLength(40);
  });
});
