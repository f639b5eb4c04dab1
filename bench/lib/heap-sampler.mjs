// Preloaded into a server by bench/probe-promoted.ts (`node --import`): V8's sampling heap profiler,
// keeping only what outlived a young-generation collection (promoted, or still live), which is what
// lengthens scavenges and fills the old generation. Writes its profile to FORGE_HEAP_SAMPLES on
// SIGUSR2; the probe reads it before and after a window and compares.
import inspector from 'node:inspector';
import { writeFileSync } from 'node:fs';

const out = process.env.FORGE_HEAP_SAMPLES;
const session = new inspector.Session();
session.connect();
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
process.on('SIGUSR2', () => {
  session.post('HeapProfiler.getSamplingProfile', (err, res) => {
    writeFileSync(out, err ? JSON.stringify({ error: err.message }) : JSON.stringify(res.profile));
    writeFileSync(`${out}.done`, '');
  });
});
