/**
 * The Node/V8 options Switchboard runs with: `npm start` (package.json) and the `switchboard` command
 * (the shebang of bin/switchboard.mjs: the ACS, the CPE agent and the fleet) pass them to node, and
 * the benchmarks start their ACS and load children with them (bench/lib/harness.ts). A test
 * (node-options.test.ts) keeps them in step.
 *
 * `--max-semi-space-size=64` (MiB; V8's default is 16 on 64-bit): the young generation of a busy
 * ACS (or fleet) fills with each session's short-lived objects (parsed XML, parameter lists, plans); with four
 * times the room, a scavenge runs a quarter as often and finds more of those objects already dead,
 * so it copies less (storm --cpu-prof, "garbage collector" line: see the README's Performance
 * section). The cost is memory: the young generation may grow to 2 x 64 MiB instead of 2 x 16 MiB
 * (it grows only while many objects survive, as under load).
 * It cannot be set from inside a running process (v8.setFlagsFromString after start leaves the
 * young generation's size as it was), hence the command line.
 */
export const SWITCHBOARD_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=64'];
