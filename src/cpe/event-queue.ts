/**
 * The CPE's pending Inform events and their retention rules (TR-069 §3.7.1.5, CWMP-CHECKLIST §6).
 *
 * An event stays pending until the response that completes it arrives: most complete with the
 * InformResponse, `7 TRANSFER COMPLETE` and `M Download`/`M Upload`/`M ScheduleDownload` with the
 * TransferCompleteResponse for their CommandKey, `9 REQUEST DOWNLOAD` with the
 * RequestDownloadResponse. Until then every retried Inform carries them again, except
 * `6 CONNECTION REQUEST`, which is never retried after a failed session. A reboot drops the events
 * that describe the running instance (periodic, value change, connection request...), a new
 * BOOTSTRAP drops everything that belonged to the old ACS.
 */
import type { EventStruct } from '../cwmp/types.ts';
import { EventCode as CwmpEventCode, eventCodeInfo } from '../cwmp/events.ts';

/** Event codes the agent raises (names of the shared table in src/cwmp/events.ts). */
export const EventCode = {
  Bootstrap: CwmpEventCode.BOOTSTRAP,
  Boot: CwmpEventCode.BOOT,
  Periodic: CwmpEventCode.PERIODIC,
  Scheduled: CwmpEventCode.SCHEDULED,
  ValueChange: CwmpEventCode.VALUE_CHANGE,
  ConnectionRequest: CwmpEventCode.CONNECTION_REQUEST,
  TransferComplete: CwmpEventCode.TRANSFER_COMPLETE,
  RequestDownload: CwmpEventCode.REQUEST_DOWNLOAD,
  MReboot: CwmpEventCode.M_REBOOT,
  MScheduleInform: CwmpEventCode.M_SCHEDULE_INFORM,
  MDownload: CwmpEventCode.M_DOWNLOAD,
  MUpload: CwmpEventCode.M_UPLOAD,
  MScheduleDownload: CwmpEventCode.M_SCHEDULE_DOWNLOAD,
} as const;

/** The schema allows at most 64 EventStructs in one Inform. */
export const MAX_EVENTS_PER_INFORM = 64;

/** Returns true for "M ..." (multiple) event codes, which appear once per CommandKey. */
export function isMultipleEvent(code: string): boolean {
  return (eventCodeInfo(code)?.cardinality ?? (code.startsWith('M ') ? 'multiple' : 'single')) === 'multiple';
}

/** Returns true when the event is completed by the InformResponse (most events; vendor codes too). */
export function completesWithInformResponse(code: string): boolean {
  return (eventCodeInfo(code)?.completedBy ?? 'InformResponse') === 'InformResponse';
}

function completedBy(code: string): string {
  return eventCodeInfo(code)?.completedBy ?? 'InformResponse';
}

export class EventQueue {
  private events: EventStruct[];

  constructor(initial: readonly EventStruct[] = []) {
    this.events = initial.map((e) => ({ eventCode: e.eventCode, commandKey: e.commandKey }));
  }

  /**
   * Adds an event. A single event code is kept once (its CommandKey is empty); a multiple ("M ...")
   * code is kept once per CommandKey. Returns true if the queue changed.
   */
  add(code: string, commandKey = ''): boolean {
    const key = isMultipleEvent(code) ? commandKey : '';
    if (this.events.some((e) => e.eventCode === code && e.commandKey === key)) return false;
    this.events.push({ eventCode: code, commandKey: key });
    return true;
  }

  has(code: string, commandKey?: string): boolean {
    return this.events.some((e) => e.eventCode === code && (commandKey === undefined || e.commandKey === commandKey));
  }

  isEmpty(): boolean {
    return this.events.length === 0;
  }

  /** A copy of all pending events, oldest first. */
  list(): EventStruct[] {
    return this.events.map((e) => ({ ...e }));
  }

  /**
   * The events to put in the next Inform (at most 64; BOOTSTRAP and BOOT first, as some ACSs
   * look only at the first event).
   */
  forInform(): EventStruct[] {
    const rank = (c: string): number => (c === EventCode.Bootstrap ? 0 : c === EventCode.Boot ? 1 : 2);
    return this.list()
      .sort((a, b) => rank(a.eventCode) - rank(b.eventCode))
      .slice(0, MAX_EVENTS_PER_INFORM);
  }

  /** The InformResponse arrived: every event it completes and that was sent is delivered. */
  informDelivered(sent: readonly EventStruct[]): void {
    const sentKeys = new Set(sent.map((e) => `${e.eventCode}\u0000${e.commandKey}`));
    this.events = this.events.filter(
      (e) => !(completesWithInformResponse(e.eventCode) && sentKeys.has(`${e.eventCode}\u0000${e.commandKey}`)),
    );
  }

  /**
   * A TransferCompleteResponse for `commandKey` arrived: its "M Download"/"M Upload"/
   * "M ScheduleDownload" is delivered; `7 TRANSFER COMPLETE` goes once `remainingTransfers` is 0.
   */
  transferCompleteDelivered(commandKey: string, remainingTransfers: number): void {
    let removedOne = false;
    this.events = this.events.filter((e) => {
      if (
        !removedOne &&
        isMultipleEvent(e.eventCode) &&
        completedBy(e.eventCode) === 'TransferCompleteResponse' &&
        e.commandKey === commandKey
      ) {
        removedOne = true;
        return false;
      }
      return true;
    });
    if (remainingTransfers === 0) this.remove(EventCode.TransferComplete);
  }

  /** The RequestDownloadResponse arrived. */
  requestDownloadDelivered(): void {
    this.remove(EventCode.RequestDownload);
  }

  /** A session failed: everything is kept for the retry except `6 CONNECTION REQUEST`. */
  sessionFailed(): void {
    this.events = this.events.filter((e) => !eventCodeInfo(e.eventCode)?.neverRetried);
  }

  /** The device reboots: drop the per-instance events, then add `1 BOOT`. */
  reboot(): void {
    this.events = this.events.filter((e) => eventCodeInfo(e.eventCode)?.acrossReboot !== 'discard');
    this.add(EventCode.Boot);
  }

  /**
   * A new BOOTSTRAP (first contact with a new ACS URL, factory reset): everything pending for the
   * old ACS is discarded except `1 BOOT`, and `0 BOOTSTRAP` is added.
   */
  bootstrap(): void {
    this.events = this.events.filter((e) => eventCodeInfo(e.eventCode)?.onBootstrap === 'retain');
    this.events.unshift({ eventCode: EventCode.Bootstrap, commandKey: '' });
  }

  remove(code: string, commandKey?: string): void {
    this.events = this.events.filter((e) => !(e.eventCode === code && (commandKey === undefined || e.commandKey === commandKey)));
  }
}
