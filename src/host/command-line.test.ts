import { describe, expect, it } from 'vitest';
import { lockUpdateCommand, shellArg, storeFlag } from './command-line.js';

describe('commands printed for copying', () => {
  it('quote an argument only when a shell would split or expand it', () => {
    expect(shellArg('/srv/runs/.mvm')).toBe('/srv/runs/.mvm');
    expect(shellArg('/my runs/$x')).toBe("'/my runs/$x'");
    expect(shellArg("it's")).toBe("'it'\\''s'");
  });

  it('name the store unless it is .mvm in the current folder', () => {
    expect(storeFlag('/home/ann/project/.mvm', '/home/ann/project')).toBe('');
    expect(storeFlag('/home/ann/project/agent/.mvm', '/home/ann/project')).toBe(
      ' --store /home/ann/project/agent/.mvm',
    );
  });

  it('name the configuration to lock unless it is mvm.yaml in the current folder', () => {
    expect(lockUpdateCommand('/home/ann/project/mvm.yaml', '/home/ann/project')).toBe(
      'mvm lock --update',
    );
    expect(lockUpdateCommand('/home/ann/project/a/host.yaml', '/home/ann/project')).toBe(
      'mvm lock /home/ann/project/a/host.yaml --update',
    );
  });
});
