// The CLI from source, for tests that start it as its own process.
import { main } from '../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
