import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseMac, parseTemplate, renderTemplate, templateReferences, TemplateSyntaxError, type TemplateContext } from './template.ts';
import { formatCsv, parseCsv, CsvError } from './csv.ts';

const ctx: TemplateContext = {
  variables: { sip_user: '1001', sip_domain: 'sip.example.net', empty: '' },
  device: { serialNumber: '000B82AABBCC', productClass: 'GXP2140', mac: '000B82AABBCC', softwareVersion: null },
};

describe('templates', () => {
  it('renders variables and device fields', () => {
    assert.deepEqual(renderTemplate('{{ sip_user }}@{{var.sip_domain}}', ctx), { ok: true, value: '1001@sip.example.net' });
    assert.deepEqual(renderTemplate('{{ device.serialNumber | lower }}-{{ device.productClass }}', ctx), { ok: true, value: '000b82aabbcc-GXP2140' });
    assert.deepEqual(renderTemplate('plain value', ctx), { ok: true, value: 'plain value' });
  });

  it('reports every missing reference instead of rendering a partial value', () => {
    assert.deepEqual(renderTemplate('{{ sip_user }}:{{ nope }}:{{ device.softwareVersion }}', ctx), { ok: false, missing: ['var.nope', 'device.softwareVersion'] });
  });

  it('applies default() to missing and empty values, and filters in order', () => {
    assert.deepEqual(renderTemplate('{{ nope | default("x, y") }}', ctx), { ok: true, value: 'x, y' });
    assert.deepEqual(renderTemplate("{{ empty | default('d') | upper }}", ctx), { ok: true, value: 'D' });
    assert.deepEqual(renderTemplate('{{ sip_domain | upper | trim }}', ctx), { ok: true, value: 'SIP.EXAMPLE.NET' });
    assert.deepEqual(renderTemplate('{{ nope | default("a\\"b") }}', ctx), { ok: true, value: 'a"b' });
  });

  it('keeps escaped braces literal', () => {
    assert.deepEqual(renderTemplate('\\{{ sip_user }}', ctx), { ok: true, value: '{{ sip_user }}' });
  });

  it('refuses malformed templates with a clear message', () => {
    for (const [text, re] of [
      ['{{ sip_user', /without a closing/],
      ['{{ }}', /empty/],
      ['{{ a | shout }}', /unknown filter "shout"/],
      ['{{ device.password }}', /not a device field/],
      ['{{ other.x }}', /must start with "var." or "device."/],
      ['{{ 1abc }}', /not a valid name/],
      ['{{ a | default("x) }}', /unterminated/],
    ] as const) {
      assert.throws(() => parseTemplate(text), (e: unknown) => e instanceof TemplateSyntaxError && re.test(e.message), text);
    }
  });

  it('lists references', () => {
    assert.deepEqual(templateReferences('{{a}}{{ device.mac }}'), ['var.a', 'device.mac']);
  });

  it('normalises MACs in any notation', () => {
    assert.equal(normaliseMac('00:0b:82:aa:bb:cc'), '000B82AABBCC');
    assert.equal(normaliseMac('00-0B-82-AA-BB-CC'), '000B82AABBCC');
    assert.equal(normaliseMac('000b.82aa.bbcc'), '000B82AABBCC');
    assert.equal(normaliseMac('SN12345'), null);
    // already 12 hex digits (a Grandstream serial number): the quick path, same answer
    assert.equal(normaliseMac('000b82aabbcc'), '000B82AABBCC');
    assert.equal(normaliseMac('000B82AABBCC'), '000B82AABBCC');
    assert.equal(normaliseMac('000B82AABBCG'), null);
    assert.equal(normaliseMac('000B82AABBC '), null);
  });
});

describe('CSV', () => {
  it('reads quoted cells, CRLF, BOM, blank lines and semicolons', () => {
    const t = parseCsv('\ufeffmac;name;note\r\n00:0b:82:00:00:01;"Doe; John";"say ""hi""\nthere"\r\n\r\n000B82000002;x;\n');
    assert.deepEqual(t.header, ['mac', 'name', 'note']);
    assert.equal(t.rows.length, 2);
    assert.equal(t.rows[0].cells.name, 'Doe; John');
    assert.equal(t.rows[0].cells.note, 'say "hi"\nthere');
    assert.equal(t.rows[1].cells.note, '');
    assert.equal(t.rows[1].line, 5);
  });

  it('refuses malformed CSV naming the line', () => {
    for (const [text, re] of [
      ['', /empty/],
      ['a,b\n1,2,3\n', /line 2: 3 cells/],
      ['a,a\n', /appears twice/],
      ['a,\n', /no name/],
      ['a,b\n"x"y,1\n', /line 2: text after a closing quote/],
      ['a,b\n"x,1\n', /not closed/],
      ['a,b\nx"y",1\n', /quote inside an unquoted cell/],
    ] as const) {
      assert.throws(() => parseCsv(text), (e: unknown) => e instanceof CsvError && re.test(e.message), JSON.stringify(text));
    }
  });

  it('round-trips through formatCsv', () => {
    const rows = [{ k: 'a,b', v: 'he said "x"' }, { k: ' lead', v: 'multi\nline' }];
    const back = parseCsv(formatCsv(['k', 'v'], rows));
    // cells are trimmed on read (quoted ones too), so a leading space does not survive
    assert.deepEqual(back.rows.map((r) => r.cells), [{ k: 'a,b', v: 'he said "x"' }, { k: 'lead', v: 'multi\nline' }]);
  });
});
