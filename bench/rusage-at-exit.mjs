// Preloaded (node --import) into a command the bench measures as a whole process: at exit, writes the
// process's own CPU time and peak RSS (getrusage) as JSON to the file named by QEXPORT_BENCH_RUSAGE.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  const u = process.resourceUsage();
  writeFileSync(
    process.env.QEXPORT_BENCH_RUSAGE,
    JSON.stringify({ cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000, maxRssKb: u.maxRSS }),
  );
});
