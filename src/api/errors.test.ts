import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { API_ERRORS, API_ERROR_CODES, ApiError, formatErrorMessage } from './errors.ts';

describe('the API error registry', () => {
  it('has UPPER_SNAKE codes, 4xx/5xx statuses and sentence messages', () => {
    for (const code of API_ERROR_CODES) {
      const def = API_ERRORS[code];
      assert.match(code, /^[A-Z][A-Z_]*[A-Z]$/);
      assert.ok(def.status >= 400 && def.status <= 599, code);
      assert.match(def.message, /^[A-Z].*\.$/, `${code} message is a sentence`);
      assert.ok(def.description.length > 10, code);
    }
  });

  it('formatErrorMessage() fills placeholders and keeps missing ones visible', () => {
    assert.equal(formatErrorMessage('DEVICE_NOT_FOUND', { id: 'a-b-c' }), 'No device has the id "a-b-c".');
    assert.equal(formatErrorMessage('DEVICE_NOT_FOUND'), 'No device has the id "{id}".');
  });

  it('ApiError carries the status of its code and a JSON body', () => {
    const err = new ApiError('TASK_ALREADY_FINISHED', { id: '7', status: 'done' });
    assert.equal(err.statusCode, 409);
    assert.deepEqual(err.toBody(), { code: 'TASK_ALREADY_FINISHED', message: 'The task "7" has already finished with status "done" and cannot be cancelled.' });
    assert.deepEqual(new ApiError('INVALID_TASK', { issues: 'x' }, [1]).toBody().details, [1]);
  });
});
