// CPU accounting, to tell when something else on the machine competed with the benchmark.
import fs from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** Busy CPU time of the whole machine, in ms (all cores summed). */
export function machineBusyMs() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f; // idle and iowait are not busy time
    return (user + nice + system + irq + softirq + (steal || 0)) * TICK_MS;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) used so far by a process, in ms; NaN if it is gone. */
export function processCpuMs(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return NaN;
  }
}

/** Average number of cores busy over `ms` milliseconds. */
export async function machineLoad(ms = 500) {
  const a = machineBusyMs();
  await new Promise((r) => setTimeout(r, ms));
  return (machineBusyMs() - a) / ms;
}
