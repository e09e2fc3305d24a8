import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_CODES, EventCode, eventCodeInfo, isKnownEventCode, isVendorEventCode } from './index.ts';
import { eventCodeCheck } from './messages.ts';

describe('event codes', () => {
  it('knows 0..14 and the M codes, with their completing responses', () => {
    for (let i = 0; i <= 14; i++) assert.ok([...EVENT_CODES.keys()].some((c) => c.startsWith(`${i} `)), `missing ${i}`);
    assert.equal(eventCodeInfo(EventCode.TRANSFER_COMPLETE)?.completedBy, 'TransferCompleteResponse');
    assert.equal(eventCodeInfo(EventCode.M_DOWNLOAD)?.completedBy, 'TransferCompleteResponse');
    assert.equal(eventCodeInfo(EventCode.M_CHANGE_DU_STATE)?.completedBy, 'DUStateChangeCompleteResponse');
    assert.equal(eventCodeInfo(EventCode.REQUEST_DOWNLOAD)?.completedBy, 'RequestDownloadResponse');
    assert.equal(eventCodeInfo(EventCode.BOOT)?.completedBy, 'InformResponse');
    assert.equal(eventCodeInfo(EventCode.M_REBOOT)?.cardinality, 'multiple');
    assert.equal(eventCodeInfo(EventCode.PERIODIC)?.cardinality, 'single');
    assert.equal(eventCodeInfo(EventCode.CONNECTION_REQUEST)?.neverRetried, true);
    assert.equal(eventCodeInfo(EventCode.BOOTSTRAP)?.acrossReboot, 'retain');
    assert.equal(eventCodeInfo(EventCode.VALUE_CHANGE)?.onBootstrap, 'discard');
  });

  it('isKnownEventCode / isVendorEventCode', () => {
    assert.ok(isKnownEventCode('1 BOOT'));
    assert.ok(!isKnownEventCode('1 BOOTING'));
    assert.ok(isVendorEventCode('M X_GRANDSTREAM_Provision'));
    assert.ok(isVendorEventCode('X 000B82 Something'));
    assert.ok(!isVendorEventCode('4 VALUE CHANGE'));
  });

  it('every known code is schema-valid in the CWMP version it appeared in (and later)', () => {
    const gens = { '1.0': 0, '1.1': 1, '1.2': 2, '1.4': 2 } as const;
    for (const info of EVENT_CODES.values()) {
      for (let g = gens[info.since]; g <= 2; g++) assert.equal(eventCodeCheck(info.code, g as 0 | 1 | 2), null, `${info.code} in gen ${g}`);
    }
    assert.notEqual(eventCodeCheck('13 WAKEUP', 0), null);
  });
});
