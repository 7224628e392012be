// Copies the notebook widgets' drawing code (sabot_lab/notebook/static: ESM and CSS) into
// lib/widgets/, where the snapshot renderer (src/snapshot.ts) imports it from: one drawing
// for the live widgets and the snapshots.
import { cpSync, mkdirSync, readdirSync } from 'node:fs';

const source = new URL('../sabot_lab/notebook/static/', import.meta.url);
const target = new URL('./lib/widgets/', import.meta.url);
mkdirSync(target, { recursive: true });
for (const name of readdirSync(source)) {
  if (name.endsWith('.js') || name.endsWith('.css')) {
    cpSync(new URL(name, source), new URL(name, target));
  }
}
