/** The SDK→pino logger adapter: argument order, rolloutId, errors and redaction. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createRootLogger, PinoSdkLogger } from '../../worker/logger';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createRootLogger('trace', stream) };
}

describe('PinoSdkLogger', () => {
  it('swaps (message, meta) into pino (object, message) and adds rolloutId from workflowId', () => {
    const { lines, logger } = capture();
    const sdk = new PinoSdkLogger(logger);
    sdk.info('Workflow started', { workflowId: 'rollout-checkout', sdkComponent: 'workflow', runId: 'r1' });
    sdk.log('WARN', 'core says', { sdkComponent: 'core' });
    sdk.trace('t');
    assert.equal(lines.length, 3);
    assert.deepEqual(
      { msg: lines[0]?.msg, level: lines[0]?.level, rolloutId: lines[0]?.rolloutId, runId: lines[0]?.runId },
      { msg: 'Workflow started', level: 30, rolloutId: 'rollout-checkout', runId: 'r1' },
    );
    assert.equal(lines[1]?.level, 40);
    assert.equal(lines[1]?.rolloutId, undefined);
    assert.equal(lines[2]?.level, 10);
  });

  it('puts errors under err (with stack) and redacts secrets', () => {
    const { lines, logger } = capture();
    new PinoSdkLogger(logger).error('Activity failed', { workflowId: 'w', error: new Error('boom') });
    logger.info({ secret: 'hunter2', headers: { 'x-phoenix-signature': 'sha256=abc' } }, 'delivery');
    const err = lines[0]?.err as { message: string; stack: string };
    assert.equal(err.message, 'boom');
    assert.match(err.stack, /Error: boom/);
    assert.equal(lines[1]?.secret, '[redacted]');
    assert.deepEqual(lines[1]?.headers, { 'x-phoenix-signature': '[redacted]' });
  });
});
