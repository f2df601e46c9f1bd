import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { PigeonError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { FakeSmsc } from '../../test/fakes/smsc-fake.ts';
import { providerError, sendRequest } from '../../test/support/provider-testing.ts';
import { sleep, waitFor } from '../../test/support/wait.ts';
import type { InboundSms, ParsedReceipt, SendRequest } from '../provider.ts';
import { SmppProvider } from './adapter.ts';
import { smppOptions } from './options.ts';

const CREDENTIALS = { systemId: 'pigeon', password: 's3cret-pw' };
const logger = createLogger({ level: 'silent' });

/** SMPP sends neither our message id nor the callback URL; the sender and text are what it sees. */
const request = (overrides: Partial<SendRequest> = {}): SendRequest =>
  sendRequest({ from: 'PIGEON', body: 'hello', ...overrides });

describe('SMPP adapter against a local SMSC', () => {
  let smsc: FakeSmsc;
  const adapters: SmppProvider[] = [];

  async function bound(options: Record<string, unknown> = {}): Promise<SmppProvider> {
    const adapter = new SmppProvider(
      'smsc',
      smppOptions('smsc', {
        host: '127.0.0.1',
        port: smsc.port,
        ...CREDENTIALS,
        systemType: 'OTP',
        reconnectMinMs: 20,
        reconnectMaxMs: 200,
        ...options,
      }),
      logger,
    );
    adapters.push(adapter);
    await adapter.start();
    return adapter;
  }

  before(async () => {
    smsc = await FakeSmsc.start(CREDENTIALS);
  });

  afterEach(async () => {
    smsc.setFault(undefined);
    await Promise.all(adapters.splice(0).map((a) => a.close()));
    smsc.submits.length = 0;
  });

  after(async () => {
    await smsc.close();
  });

  describe('bind', () => {
    test('binds as a transceiver with the configured system_id, password and system_type', async () => {
      const before = smsc.binds.length;
      const adapter = await bound();
      assert.equal(adapter.linkState, 'bound');
      assert.deepEqual(smsc.binds.slice(before), [{ systemId: 'pigeon', systemType: 'OTP', accepted: true }]);
    });

    test('a refused bind leaves the link unbound and sends fail fast as definite non-sends', async () => {
      const adapter = await bound({ password: 'wrong-pw', reconnectMaxMs: 60_000 });
      assert.notEqual(adapter.linkState, 'bound');
      assert.equal(adapter.lastError, '0x0D');
      assert.equal(smsc.binds.at(-1)?.accepted, false);
      const error = await providerError(adapter.send(request(), AbortSignal.timeout(1000)));
      assert.equal(error.errorClass, 'retryable');
      assert.equal(error.rawCode, 'NOT_BOUND');
      assert.equal(error.sent, 'no');
      assert.doesNotMatch(error.message, /wrong-pw/);
    });

    test('start() returns when the SMSC is unreachable, and the adapter is not bound', async () => {
      const adapter = await bound({ port: 1 });
      assert.notEqual(adapter.linkState, 'bound');
      assert.equal(adapter.lastError, 'ECONNREFUSED');
    });

    test('close() unbinds and does not reconnect', async () => {
      const adapter = await bound();
      const unbinds = smsc.unbinds;
      const binds = smsc.binds.length;
      await adapter.close();
      assert.equal(smsc.unbinds, unbinds + 1);
      assert.equal(adapter.linkState, 'closed');
      await sleep(100);
      assert.equal(smsc.binds.length, binds);
    });
  });

  describe('submit', () => {
    test('a short message is one submit_sm in GSM-7 with a receipt requested', async () => {
      const adapter = await bound();
      const result = await adapter.send(request({ body: 'Your code is 123456' }), AbortSignal.timeout(2000));
      assert.equal(smsc.submits.length, 1);
      const [submit] = smsc.submits;
      assert.ok(submit);
      assert.equal(submit.dataCoding, 0);
      assert.equal(submit.esmClass, 0);
      assert.equal(submit.registeredDelivery, 1);
      assert.equal(submit.concatenation, undefined);
      assert.equal(submit.text, 'Your code is 123456');
      assert.equal(submit.destinationAddr, '14155550123');
      assert.equal(submit.destTon, 1);
      assert.equal(submit.sourceAddr, 'PIGEON');
      assert.equal(submit.sourceTon, 5);
      assert.ok(submit.hasValidity);
      assert.equal(result.providerMessageId, submit.messageId?.toLowerCase());
      assert.deepEqual(result.partIds, [result.providerMessageId]);
    });

    test('a long GSM-7 message goes as concatenated parts and never splits an escape', async () => {
      const adapter = await bound();
      // 152 septets, then '€' (escape + e, two septets) that does not fit in the 153 of part one.
      const body = 'a'.repeat(152) + '€' + 'b'.repeat(200);
      const result = await adapter.send(request({ body, segments: 3 }), AbortSignal.timeout(2000));
      assert.equal(smsc.submits.length, 3);
      const reference = smsc.submits[0]?.concatenation?.[2];
      smsc.submits.forEach((submit, i) => {
        assert.equal(submit.dataCoding, 0);
        assert.equal(submit.esmClass & 0x40, 0x40, 'UDH indicator set');
        assert.deepEqual([...(submit.concatenation ?? [])], [0x00, 0x03, reference, 3, i + 1]);
      });
      assert.deepEqual(
        smsc.submits.map((s) => s.text),
        ['a'.repeat(152), '€' + 'b'.repeat(151), 'b'.repeat(49)],
      );
      assert.deepEqual(
        result.partIds,
        smsc.submits.map((s) => s.messageId?.toLowerCase()),
      );
      assert.equal(result.providerMessageId, result.partIds?.[0]);
      assert.equal(result.segments, 3);
    });

    test('a long UCS-2 message uses data_coding 8, 67 units per part, and keeps surrogate pairs whole', async () => {
      const adapter = await bound();
      const body = 'я'.repeat(66) + '😀' + 'я'.repeat(70);
      await adapter.send(request({ body, segments: 3 }), AbortSignal.timeout(2000));
      assert.equal(smsc.submits.length, 3);
      assert.ok(smsc.submits.every((s) => s.dataCoding === 8));
      assert.deepEqual(
        smsc.submits.map((s) => s.text),
        ['я'.repeat(66), '😀' + 'я'.repeat(65), 'я'.repeat(5)],
      );
      assert.ok(smsc.submits.every((s) => !s.text.includes('\uFFFD')));
    });

    test('consecutive long messages use different concatenation references', async () => {
      const adapter = await bound();
      await adapter.send(request({ body: 'x'.repeat(200) }), AbortSignal.timeout(2000));
      await adapter.send(request({ body: 'y'.repeat(200) }), AbortSignal.timeout(2000));
      assert.notEqual(smsc.submits[0]?.concatenation?.[2], smsc.submits[2]?.concatenation?.[2]);
    });
  });

  describe('error mapping', () => {
    const cases: Array<[number, string, string]> = [
      [0x58, 'throttled', 'ESME_RTHROTTLED'],
      [0x14, 'throttled', 'ESME_RMSGQFUL'],
      [0x0b, 'permanent', 'ESME_RINVDSTADR'],
      [0x0a, 'permanent', 'ESME_RINVSRCADR'],
      [0x62, 'permanent', 'ESME_RINVEXPIRY'],
      [0x08, 'retryable', 'ESME_RSYSERR'],
      [0x45, 'retryable', 'ESME_RSUBMITFAIL'],
      [0x400, 'retryable', 'an unknown code'],
    ];
    for (const [status, errorClass, name] of cases) {
      test(`${name} is ${errorClass}, a definite non-send, raw code kept`, async () => {
        const adapter = await bound();
        smsc.setFault({ kind: 'status', status });
        const error = await providerError(adapter.send(request(), AbortSignal.timeout(2000)));
        assert.equal(error.errorClass, errorClass);
        assert.equal(error.sent, 'no');
        assert.equal(error.rawCode, `0x${status.toString(16).toUpperCase().padStart(2, '0')}`);
      });
    }

    test('a submit_sm written but not answered before the timeout is ambiguous', async () => {
      const adapter = await bound();
      smsc.setFault({ kind: 'hang' });
      const error = await providerError(adapter.send(request(), AbortSignal.timeout(150)));
      assert.equal(error.rawCode, 'TIMEOUT');
      assert.equal(error.errorClass, 'retryable');
      assert.equal(error.sent, 'maybe');
      assert.equal(smsc.submits.length, 1);
    });

    test('a part refused after earlier parts were accepted is ambiguous', async () => {
      const adapter = await bound();
      smsc.setFault({ kind: 'status', status: 0x58, after: 1 });
      const error = await providerError(
        adapter.send(request({ body: 'z'.repeat(300) }), AbortSignal.timeout(2000)),
      );
      assert.equal(smsc.submits.length, 2);
      assert.equal(error.errorClass, 'throttled');
      assert.equal(error.sent, 'maybe');
    });

    test('the link dropping mid-request is ambiguous, and the adapter rebinds', async () => {
      const adapter = await bound();
      const binds = smsc.binds.length;
      smsc.setFault({ kind: 'dropLink' });
      const error = await providerError(adapter.send(request(), AbortSignal.timeout(2000)));
      assert.equal(error.rawCode, 'LINK_DOWN');
      assert.equal(error.sent, 'maybe');
      smsc.setFault(undefined);
      await waitFor(() => adapter.linkState === 'bound', 3000, 'rebound');
      assert.equal(smsc.binds.length, binds + 1);
    });
  });

  describe('link upkeep', () => {
    test('reconnects and rebinds after the SMSC drops every session, and sending resumes', async () => {
      const adapter = await bound({ reconnectMinMs: 300, reconnectMaxMs: 600 });
      const binds = smsc.binds.length;
      smsc.killSessions();
      await waitFor(() => adapter.linkState !== 'bound', 2000, 'link noticed down');
      const error = await providerError(adapter.send(request(), AbortSignal.timeout(2000)));
      assert.equal(error.rawCode, 'NOT_BOUND');
      assert.equal(error.sent, 'no');
      await waitFor(() => adapter.linkState === 'bound', 5000, 'rebound');
      assert.equal(smsc.binds.length, binds + 1);
      const result = await adapter.send(request(), AbortSignal.timeout(2000));
      assert.ok(result.providerMessageId);
    });

    test('sends enquire_link every period and answers the SMSC’s own', async () => {
      const adapter = await bound({ enquireLinkMs: 30 });
      const seen = smsc.enquireLinks;
      await waitFor(() => smsc.enquireLinks >= seen + 3, 2000, 'three enquire_links');
      assert.equal(adapter.linkState, 'bound');
      const response = await smsc.enquireLink();
      assert.equal(response.command, 'enquire_link_resp');
      assert.equal(response.command_status, 0);
    });
  });

  describe('receipts', () => {
    async function sendAndListen() {
      const adapter = await bound();
      const receipts: ParsedReceipt[] = [];
      adapter.onReceipt((r) => {
        receipts.push(r);
      });
      const result = await adapter.send(request(), AbortSignal.timeout(2000));
      const smscId = smsc.submits.at(-1)?.messageId ?? '';
      return { adapter, receipts, result, smscId };
    }

    test('a DELIVRD deliver_sm is acknowledged and emitted as delivered for the submitted id', async () => {
      const { receipts, result, smscId } = await sendAndListen();
      const ack = await smsc.sendReceipt(smscId, 'DELIVRD');
      assert.equal(ack.command, 'deliver_sm_resp');
      assert.equal(ack.command_status, 0);
      await waitFor(() => receipts.length === 1, 1000, 'receipt emitted');
      assert.deepEqual(receipts[0], {
        providerMessageId: result.providerMessageId,
        status: 'delivered',
        providerStatus: 'DELIVRD',
        doneAt: '2024-01-01T12:00:05.000Z',
      });
    });

    test('a receipt is acknowledged only once the listener has it; a failed hand-over asks the SMSC to retry', async () => {
      const adapter = await bound();
      let failNext = true;
      let handedOver = 0;
      adapter.onReceipt(async () => {
        await sleep(50);
        if (failNext) {
          failNext = false;
          throw new Error('kafka is away');
        }
        handedOver++;
      });
      await adapter.send(request(), AbortSignal.timeout(2000));
      const smscId = smsc.submits.at(-1)?.messageId ?? '';

      const refused = await smsc.sendReceipt(smscId, 'DELIVRD');
      assert.equal(refused.command_status, 0x64, 'ESME_RX_T_APPN: temporary, the SMSC keeps it');
      assert.equal(handedOver, 0);

      const accepted = await smsc.sendReceipt(smscId, 'DELIVRD');
      assert.equal(accepted.command_status, 0);
      assert.equal(handedOver, 1, 'acknowledged after the listener finished');
    });

    const finals: Array<[string, string]> = [
      ['UNDELIV', 'undelivered'],
      ['EXPIRED', 'expired'],
      ['REJECTD', 'rejected'],
      ['DELETED', 'unknown'],
      ['UNKNOWN', 'unknown'],
    ];
    test('each final stat maps to its status, the raw word and error kept', async () => {
      const { receipts, smscId } = await sendAndListen();
      for (const [stat] of finals) await smsc.sendReceipt(smscId, stat, { err: '034' });
      await waitFor(() => receipts.length === finals.length, 1000, 'receipts emitted');
      assert.deepEqual(
        receipts.map((r) => [r.providerStatus, r.status]),
        finals.map(([stat, status]) => [`${stat} err:034`, status]),
      );
    });

    test('intermediate states and non-receipt deliver_sm are acknowledged but not emitted', async () => {
      const { receipts, smscId } = await sendAndListen();
      for (const stat of ['ACCEPTD', 'ENROUTE']) {
        assert.equal((await smsc.sendReceipt(smscId, stat)).command_status, 0);
      }
      assert.equal((await smsc.sendReceipt(smscId, 'DELIVRD', { esmClass: 0 })).command_status, 0);
      await sleep(50);
      assert.equal(receipts.length, 0);
    });

    test('the receipted_message_id and message_state TLVs win over the text', async () => {
      const { receipts, result, smscId } = await sendAndListen();
      await smsc.sendReceipt(smscId, 'UNDELIV', { tlvs: true, textId: '123456789' });
      await waitFor(() => receipts.length === 1, 1000, 'receipt emitted');
      assert.equal(receipts[0]?.providerMessageId, result.providerMessageId);
      assert.equal(receipts[0]?.status, 'undelivered');
    });

    test('the HTTP receipt webhook is refused: SMPP receipts arrive over the link', async () => {
      const adapter = await bound();
      await assert.rejects(
        adapter.parseReceipt({ method: 'POST', url: '/', fullUrl: 'http://x/', headers: {}, rawBody: '' }),
        (err: unknown) => err instanceof PigeonError && err.code === 'PIGEON_ERR_NOT_FOUND',
      );
    });
  });

  describe('mobile-originated SMS', () => {
    async function listening() {
      const adapter = await bound();
      const inbound: InboundSms[] = [];
      const receipts: ParsedReceipt[] = [];
      adapter.onInbound((sms) => {
        inbound.push(sms);
      });
      adapter.onReceipt((r) => {
        receipts.push(r);
      });
      return { adapter, inbound, receipts };
    }

    test('an MO deliver_sm is acknowledged and emitted as an inbound SMS, not as a receipt', async () => {
      const { inbound, receipts } = await listening();
      const ack = await smsc.sendMobileOriginated({ short_message: 'STOP' });
      assert.equal(ack.command, 'deliver_sm_resp');
      assert.equal(ack.command_status, 0);
      assert.equal(inbound.length, 1, 'emitted before the acknowledgement');
      const [sms] = inbound;
      assert.equal(sms?.from, '+447700900123');
      assert.equal(sms?.to, '+447700900999');
      assert.equal(sms?.body, 'STOP');
      assert.match(sms?.providerMessageId ?? '', /^smpp-[0-9A-Z]{26}$/);
      assert.equal(receipts.length, 0);
    });

    test('each MO gets an id of its own, so two identical replies are two messages', async () => {
      const { inbound } = await listening();
      await smsc.sendMobileOriginated({ short_message: 'YES' });
      await smsc.sendMobileOriginated({ short_message: 'YES' });
      assert.equal(new Set(inbound.map((s) => s.providerMessageId)).size, 2);
    });

    test('UCS-2 parts with a UDH come out as parts of one message, header stripped', async () => {
      const { inbound } = await listening();
      const ucs2 = (text: string) => Buffer.from(text, 'utf16le').swap16();
      for (const [seq, text] of [
        [1, '退'],
        [2, '订'],
      ] as const) {
        await smsc.sendMobileOriginated({
          esm_class: 0x40,
          data_coding: 8,
          short_message: Buffer.concat([Buffer.from([5, 0x00, 3, 0x2a, 2, seq]), ucs2(text)]),
        });
      }
      assert.deepEqual(
        inbound.map((s) => [s.body, s.part]),
        [
          ['退', { reference: '42', index: 1, total: 2 }],
          ['订', { reference: '42', index: 2, total: 2 }],
        ],
      );
    });

    test('an MO the listener could not take is refused for redelivery (ESME_RX_T_APPN)', async () => {
      const adapter = await bound();
      adapter.onInbound(() => {
        throw new Error('kafka is away');
      });
      const refused = await smsc.sendMobileOriginated({ short_message: 'STOP' });
      assert.equal(refused.command_status, 0x64);
    });
  });
});
