import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../io/safetensors.ts';
import { tinyBaseFiles } from '../model/testing-base.ts';
import { BaseFileError, loadBaseFiles, type BaseFileBytes } from './load.ts';

const good = tinyBaseFiles({ seed: 1 });
const json = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));

function failure(files: BaseFileBytes): BaseFileError {
  try {
    loadBaseFiles(files, 3);
  } catch (e) {
    expect(e).toBeInstanceOf(BaseFileError);
    return e as BaseFileError;
  }
  throw new Error('expected loadBaseFiles to fail');
}

describe('loadBaseFiles', () => {
  it('loads a good base: model config, weights and tokenizer', () => {
    const { model, base, tokenizer } = loadBaseFiles(good.files, 3);
    expect(model).toEqual(good.model);
    expect(base.get('blocks.0.q.w')!.shape).toEqual([16, 16]);
    expect(tokenizer.vocabSize).toBe(300);
    expect(tokenizer.encode('profits rose', 8)[0]).not.toBe(0);
  });

  it('names the missing file', () => {
    const { 'model.safetensors': _, ...rest } = good.files;
    expect(failure(rest)).toMatchObject({ file: 'model.safetensors', message: 'model.safetensors is missing' });
    const { 'tokenizer_config.json': __, ...noTokConfig } = good.files;
    expect(loadBaseFiles(noTokConfig, 3).tokenizer.vocabSize).toBe(300); // optional
  });

  it('names config.json when it is not JSON or not a GPT-2 config', () => {
    expect(failure({ ...good.files, 'config.json': new TextEncoder().encode('{oops') })).toMatchObject({ file: 'config.json', message: expect.stringMatching(/^config\.json is not valid JSON/) });
    expect(failure({ ...good.files, 'config.json': new Uint8Array([0xff, 0xfe]) })).toMatchObject({ file: 'config.json', message: 'config.json is not UTF-8 text' });
    const relu = { ...JSON.parse(new TextDecoder().decode(good.files['config.json'])), activation_function: 'relu' };
    expect(failure({ ...good.files, 'config.json': json(relu) })).toMatchObject({ file: 'config.json', message: expect.stringMatching(/^config\.json: activation_function "relu" is not supported/) });
  });

  it('names model.safetensors when it is corrupt or does not fit config.json', () => {
    const truncated = good.files['model.safetensors'].slice(0, 1000);
    expect(failure({ ...good.files, 'model.safetensors': truncated })).toMatchObject({
      file: 'model.safetensors',
      message: expect.stringMatching(/^model\.safetensors is not a valid safetensors file: /),
    });
    const other = tinyBaseFiles({ dModel: 8 });
    expect(failure({ ...good.files, 'model.safetensors': other.files['model.safetensors'] })).toMatchObject({
      file: 'model.safetensors',
      message: expect.stringMatching(/^model\.safetensors does not match config\.json: tensor "wte\.weight" has shape \[300,8\], expected \[300,16\]/),
    });
  });

  it('names model.safetensors when a weight is not finite', () => {
    const file = readSafetensors(good.files['model.safetensors']);
    const tensors = [...file.tensors].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: new Float32Array(t.data as Float32Array) }));
    tensors.find((t) => t.name === 'h.0.mlp.c_fc.weight')!.data[5] = NaN;
    expect(failure({ ...good.files, 'model.safetensors': writeSafetensors(tensors) })).toMatchObject({
      file: 'model.safetensors',
      message: 'model.safetensors holds a non-finite value (NaN) in tensor "blocks.0.fc_in.w"',
    });
  });

  it('names tokenizer.json when it does not belong to the model', () => {
    const wrongVocab = tinyBaseFiles({ tokenizerVocab: 320 });
    expect(failure({ ...good.files, 'tokenizer.json': wrongVocab.files['tokenizer.json'] })).toMatchObject({
      file: 'tokenizer.json',
      message: "tokenizer.json has 320 ids but the model's embedding has only 300 rows: they do not belong together",
    });
    expect(failure({ ...good.files, 'tokenizer.json': json({ model: {} }) })).toMatchObject({ file: 'tokenizer.json', message: expect.stringMatching(/^tokenizer\.json: /) });
  });
});
