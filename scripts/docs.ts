import { writeFileSync } from 'node:fs';
import { specMarkdown } from '../src/spec/docs.js';

writeFileSync(new URL('../docs/spec.md', import.meta.url), specMarkdown());
