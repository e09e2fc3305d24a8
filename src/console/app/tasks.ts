/** Queuing device tasks through the REST API and describing their outcome in a sentence. */
import { call, seg, describeError } from './api.ts';
import type { Outcome } from './ui.ts';
import type { TaskAnswer } from './types.ts';

/** Connection request outcomes after which the device should come soon. */
const CR_OK = new Set(['ok', 'busy']);

const TASK_NAMES: Record<string, string> = {
  setParameterValues: 'Setting the value',
  getParameterValues: 'Reading the values',
  refresh: 'Refreshing the parameters',
  reboot: 'The reboot',
  factoryReset: 'The factory reset',
  download: 'The download',
  getParameterNames: 'Discovering the parameters',
};

/** A readable name of a task type. */
export function taskName(type: string): string {
  return TASK_NAMES[type] ?? `The ${type} task`;
}

/** Describes a task answer (200 finished / 202 queued) as an outcome. */
export function describeTaskAnswer(answer: TaskAnswer, doneText?: string): Outcome {
  const { task, connectionRequest } = answer;
  const name = taskName(task.type);
  if (task.status === 'done') return { kind: 'success', text: doneText ?? `${name} is done.` };
  if (task.status === 'failed') {
    const fault = task.faultCode !== null ? `fault ${task.faultCode}: ` : '';
    return { kind: 'error', text: `${name} failed (${fault}${task.faultString ?? 'no reason given'}).` };
  }
  if (task.status === 'cancelled') return { kind: 'info', text: `${name} was cancelled.` };
  if (connectionRequest && !CR_OK.has(connectionRequest.status)) {
    return {
      kind: 'info',
      text: `${name} is queued, but the device could not be reached now (${connectionRequest.status}: ${connectionRequest.detail}); it runs at the device's next inform.`,
    };
  }
  return { kind: 'info', text: `${name} is queued (${task.status}); it runs in the device's next session.` };
}

/**
 * Queues a task on one device, asks the device to connect, and waits up to `waitMs` for the result.
 * @returns the API's answer.
 * @throws ApiFailure with the API's sentence (validation, role, unknown device...).
 */
export async function queueTask(deviceId: string, payload: Record<string, unknown>, waitMs = 0): Promise<TaskAnswer> {
  return call<TaskAnswer>('POST', `/api/devices/${seg(deviceId)}/tasks`, { body: payload, query: { connectionRequest: true, wait: waitMs || undefined } });
}

export interface BulkResult {
  ok: string[];
  failed: { id: string; message: string }[];
}

/** Runs `work` for every id with at most `concurrency` at a time; collects failures as sentences. */
export async function forEachDevice(ids: string[], work: (id: string) => Promise<unknown>, concurrency = 8): Promise<BulkResult> {
  const result: BulkResult = { ok: [], failed: [] };
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++];
      try {
        await work(id);
        result.ok.push(id);
      } catch (err) {
        result.failed.push({ id, message: describeError(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  return result;
}

/** Summarises a bulk result: "Reboot queued on 3 of 4 devices. 000B82-...: <reason>". */
export function describeBulk(verb: string, result: BulkResult): Outcome {
  const total = result.ok.length + result.failed.length;
  const head = `${verb} on ${result.ok.length} of ${total} ${total === 1 ? 'device' : 'devices'}.`;
  if (result.failed.length === 0) return { kind: 'success', text: head };
  // Identical reasons (e.g. the role refusal) are said once.
  const reasons = [...new Set(result.failed.map((f) => f.message))];
  const detail = reasons.length === 1 ? ` ${result.failed.length} failed: ${reasons[0]}` : ' ' + result.failed.slice(0, 3).map((f) => `${f.id}: ${f.message}`).join(' ');
  return { kind: 'error', text: head + detail };
}
