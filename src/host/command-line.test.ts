import { describe, expect, it } from 'vitest';
import { lockUpdateCommand, shellArg, storeFlag } from './command-line.js';

describe('commands printed for copying', () => {
  it('quote an argument only when a shell would split or expand it', () => {
    expect(shellArg('/srv/runs/.mvm')).toBe('/srv/runs/.mvm');
    expect(shellArg('/my runs/$x')).toBe("'/my runs/$x'");
    expect(shellArg("it's")).toBe("'it'\\''s'");
  });

  it('name the store unless it is .mvm in the current folder', () => {
    expect(storeFlag('/work/.mvm', '/work')).toBe('');
    expect(storeFlag('/work/agent/.mvm', '/work')).toBe(' --store /work/agent/.mvm');
  });

  it('name the configuration to lock unless it is mvm.yaml in the current folder', () => {
    expect(lockUpdateCommand('/work/mvm.yaml', '/work')).toBe('mvm lock --update');
    expect(lockUpdateCommand('/work/a/host.yaml', '/work')).toBe(
      'mvm lock /work/a/host.yaml --update',
    );
  });
});
