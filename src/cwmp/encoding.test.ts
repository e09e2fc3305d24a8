import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, deflateSync, gzipSync, brotliCompressSync } from 'node:zlib';
import { CodecError, charsetFromContentType, decodeHttpBody, type CodecErrorCode } from './index.ts';

const XML = '<?xml version="1.0"?><a>Grüße 中文 😀</a>';

function code(fn: () => unknown): CodecErrorCode | 'none' {
  try {
    fn();
    return 'none';
  } catch (e) {
    assert.ok(e instanceof CodecError, String(e));
    return e.code;
  }
}

describe('decodeHttpBody', () => {
  it('content codings: gzip, x-gzip, deflate (zlib and raw), br, identity, stacked', () => {
    const b = Buffer.from(XML);
    assert.equal(decodeHttpBody(gzipSync(b), { contentEncoding: 'gzip' }), XML);
    assert.equal(decodeHttpBody(gzipSync(b), { contentEncoding: 'X-GZIP' }), XML);
    assert.equal(decodeHttpBody(deflateSync(b), { contentEncoding: 'deflate' }), XML);
    assert.equal(decodeHttpBody(deflateRawSync(b), { contentEncoding: 'deflate' }), XML);
    assert.equal(decodeHttpBody(brotliCompressSync(b), { contentEncoding: 'br' }), XML);
    assert.equal(decodeHttpBody(b, { contentEncoding: 'identity' }), XML);
    assert.equal(decodeHttpBody(gzipSync(deflateSync(b)), { contentEncoding: 'deflate, gzip' }), XML);
    assert.equal(code(() => decodeHttpBody(b, { contentEncoding: 'compress' })), 'BAD_ENCODING');
    assert.equal(code(() => decodeHttpBody(b, { contentEncoding: 'gzip' })), 'BAD_ENCODING');
  });

  it('bounds the decompressed size', () => {
    const zeros = gzipSync(new Uint8Array(1024 * 1024));
    assert.equal(code(() => decodeHttpBody(zeros, { contentEncoding: 'gzip' }, { maxBytes: 1000 })), 'TOO_LARGE');
    assert.equal(decodeHttpBody(zeros, { contentEncoding: 'gzip' }).length, 1024 * 1024);
    assert.equal(code(() => decodeHttpBody(new Uint8Array(2000), {}, { maxBytes: 1000 })), 'TOO_LARGE');
  });

  it('charset: BOM > header > XML declaration > UTF-8 > windows-1252 fallback', () => {
    const latin1 = Buffer.from('<a>é</a>', 'latin1');
    assert.equal(decodeHttpBody(latin1, { contentType: 'text/xml; charset=ISO-8859-1' }), '<a>é</a>');
    assert.equal(decodeHttpBody(Buffer.from('<?xml version="1.0" encoding="iso-8859-1"?><a>é</a>', 'latin1'), {}), '<?xml version="1.0" encoding="iso-8859-1"?><a>é</a>');
    assert.equal(decodeHttpBody(latin1, {}), '<a>é</a>'); // unlabelled, invalid UTF-8 -> windows-1252
    assert.equal(code(() => decodeHttpBody(latin1, { contentType: 'text/xml; charset=utf-8' })), 'BAD_ENCODING');
    assert.equal(code(() => decodeHttpBody(latin1, { contentType: 'text/xml; charset=klingon' })), 'BAD_ENCODING');
    assert.equal(decodeHttpBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(XML)]), { contentType: 'text/xml; charset=iso-8859-1' }), XML);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(XML, 'utf16le')]);
    assert.equal(decodeHttpBody(utf16, {}), XML);
    assert.equal(decodeHttpBody(Buffer.from(XML, 'utf16le'), {}), XML);
  });

  it('charsetFromContentType', () => {
    assert.equal(charsetFromContentType('text/xml; charset="utf-8"'), 'utf-8');
    assert.equal(charsetFromContentType('text/xml;charset=ISO-8859-1;foo=bar'), 'iso-8859-1');
    assert.equal(charsetFromContentType('text/xml'), undefined);
    assert.equal(charsetFromContentType(undefined), undefined);
  });

  it('charsetFromContentType: the same header again (remembered), then others', () => {
    const seq: [string, string | undefined][] = [
      ['text/xml; charset=UTF-8', 'utf-8'],
      ['text/xml; charset=UTF-8', 'utf-8'],
      ['text/xml', undefined],
      ['text/xml', undefined],
      ['text/xml; charset=windows-1252', 'windows-1252'],
      ['text/xml; charset=UTF-8', 'utf-8'],
    ];
    for (const [header, want] of seq) assert.equal(charsetFromContentType(header), want, header);
    const latin1 = Buffer.from('<a>é</a>', 'latin1');
    assert.equal(decodeHttpBody(latin1, { contentType: 'text/xml; charset=iso-8859-1' }), '<a>é</a>');
    assert.equal(code(() => decodeHttpBody(latin1, { contentType: 'text/xml; charset=utf-8' })), 'BAD_ENCODING');
    assert.equal(decodeHttpBody(latin1, { contentType: 'text/xml; charset=iso-8859-1' }), '<a>é</a>');
  });

  it('XML declaration: the usual UTF-8 one, others, and a usual prefix with more after it', () => {
    const body = '<a>Grüße é</a>';
    const usual = '<?xml version="1.0" encoding="UTF-8"?>';
    assert.equal(decodeHttpBody(Buffer.from(usual + body, 'utf8'), {}), usual + body);
    // Looks usual, is not valid UTF-8: refused like any declared charset mismatch.
    assert.equal(code(() => decodeHttpBody(Buffer.from(usual + body, 'latin1'), {})), 'BAD_ENCODING');
    const latin = '<?xml version="1.0" encoding="ISO-8859-1"?>';
    assert.equal(decodeHttpBody(Buffer.from(latin + body, 'latin1'), {}), latin + body);
    const single = "<?xml version='1.0' encoding='utf-8'?>";
    assert.equal(decodeHttpBody(Buffer.from(single + body, 'utf8'), {}), single + body);
    // A header charset still wins over the declaration.
    assert.equal(decodeHttpBody(Buffer.from(usual + body, 'latin1'), { contentType: 'text/xml; charset=iso-8859-1' }), usual + body);
  });

  it('no or empty Content-Encoding: the body as it is, or gzip recognised by its magic bytes', () => {
    const b = Buffer.from(XML);
    for (const contentEncoding of [undefined, '', 'identity', ' , identity']) {
      assert.equal(decodeHttpBody(b, { contentEncoding }), XML, String(contentEncoding));
      assert.equal(decodeHttpBody(gzipSync(b), { contentEncoding }), XML, String(contentEncoding));
    }
  });
});
