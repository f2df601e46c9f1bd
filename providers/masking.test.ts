import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPigeonError } from '../core/errors.ts';
import { MASK, maskOptions, maskUrl, unmaskOptions } from './masking.ts';

const M = MASK;

describe('provider option masking', () => {
  test('a URL keeps scheme, host, port and path; userinfo, query values and fragment are masked', () => {
    assert.equal(
      maskUrl('https://acme:hunter2@sms.example.com:8443/v2/send?api_user=acme&api_pwd=s3cret#frag'),
      `https://${M}:${M}@sms.example.com:8443/v2/send?api_user=${M}&api_pwd=${M}#${M}`,
    );
    assert.equal(maskUrl('https://api.example.com/send'), 'https://api.example.com/send');
    assert.equal(maskUrl('https://token@api.example.com/'), `https://${M}@api.example.com/`);
  });

  test('a bare query parameter is masked whole; a lone placeholder is kept; a non-URL is masked whole', () => {
    assert.equal(maskUrl('https://h.example/s?3f9a0b&to={{to}}&x='), `https://h.example/s?${M}&to={{to}}&x=`);
    assert.equal(maskUrl('{{callbackUrl}}'), M);
    assert.equal(maskUrl('sms.example.com/send?key=1'), M);
  });

  test('every header value and the body template are masked, whatever their names', () => {
    const masked = maskOptions('http', {
      url: 'https://h.example/send',
      method: 'POST',
      headers: { 'X-Api-Credential': 'cred', Cookie: 'session=abc', 'Content-Type': 'application/json' },
      body: '{"pwd":"p","to":"{{to}}"}',
      bodyEncoding: 'json',
      receipt: {
        signatureHeader: 'X-Sig',
        signatureSecret: 'rs',
        idPath: 'id',
        statusPath: 's',
        statusMap: {},
      },
      inbound: { fromPath: 'from', toPath: 'to', textPath: 'text', idPath: 'id', note: 'k=1' },
    });
    assert.deepEqual(masked, {
      url: 'https://h.example/send',
      method: 'POST',
      headers: { 'X-Api-Credential': M, Cookie: M, 'Content-Type': M },
      body: M,
      bodyEncoding: 'json',
      receipt: { signatureHeader: 'X-Sig', signatureSecret: M, idPath: 'id', statusPath: 's', statusMap: {} },
      inbound: { fromPath: 'from', toPath: 'to', textPath: 'text', idPath: 'id', note: M },
    });
  });

  test('options off the allowlist are masked whole, even when their names look harmless or nested', () => {
    assert.deepEqual(
      maskOptions('twilio', {
        accountSid: 'AC1',
        authToken: 't',
        from: '+14155550100',
        note: 'pw=1',
        extra: { region: 'eu', depth: { x: 1 } },
        empty: '',
      }),
      { accountSid: M, authToken: M, from: '+14155550100', note: M, extra: M, empty: '' },
    );
    assert.deepEqual(maskOptions('carrier-pigeon', { host: 'h', port: 1 }), { host: M, port: M });
    assert.deepEqual(maskOptions('smpp', { host: 'smsc', port: 2775, systemId: 'u', password: 'p' }), {
      host: 'smsc',
      port: 2775,
      systemId: M,
      password: M,
    });
  });

  test('a masked definition sent back restores every stored value, position by position', () => {
    const stored = {
      url: 'https://acme:hunter2@sms.example.com/send?api_user=acme&api_pwd=s3cret&to={{to}}',
      headers: { 'X-Api-Credential': 'cred', Cookie: 'session=abc' },
      body: 'user=acme&pwd=p&text={{body}}',
      receipt: { signatureSecret: 'rs', idPath: 'id' },
    };
    const masked = maskOptions('http', stored);
    assert.deepEqual(unmaskOptions('http', masked, stored), stored);

    const changed = {
      ...masked,
      url: (masked.url as string).replace('sms.example.com', 'sms2.example.com'),
      headers: { ...(masked.headers as object), Cookie: 'session=new' },
    };
    assert.deepEqual(unmaskOptions('http', changed, stored), {
      ...stored,
      url: 'https://acme:hunter2@sms2.example.com/send?api_user=acme&api_pwd=s3cret&to={{to}}',
      headers: { 'X-Api-Credential': 'cred', Cookie: 'session=new' },
    });
  });

  test('MASK where nothing is stored at that position is refused naming the field', () => {
    const stored = { url: 'https://h.example/send?api_user=acme&api_pwd=s3cret' };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ url: `https://h.example/send?api_pwd=${M}&api_user=${M}` }, '/options/url'],
      [{ url: `https://${M}@h.example/send` }, '/options/url'],
      [{ headers: { Cookie: M } }, '/options/headers/Cookie'],
    ];
    for (const [incoming, field] of cases) {
      assert.throws(
        () => unmaskOptions('http', incoming, stored),
        (err) =>
          isPigeonError(err) && err.code === 'PIGEON_ERR_VALIDATION' && err.errors?.[0]?.field === field,
        JSON.stringify(incoming),
      );
    }
  });
});
