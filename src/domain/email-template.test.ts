import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, placeholders, renderTemplate } from './email-template.js';

describe('email templates', () => {
  it('fills placeholders, escaping HTML, reaching into objects, and names the missing ones', () => {
    const body = '<p>Hi {{ user }}, alert {{alert.id}} from {{alert.source}}: {{note}} {{user}}</p>';
    assert.deepEqual(placeholders(body), ['user', 'alert.id', 'alert.source', 'note']);
    const r = renderTemplate(body, { user: '<b>Eve</b> & "co"', alert: { id: 42 } });
    assert.equal(
      r.text,
      '<p>Hi &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;co&quot;, alert 42 from :  &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;co&quot;</p>',
    );
    assert.deepEqual(r.missing, ['alert.source', 'note']);
    assert.equal(renderTemplate('Case {{id}} <x>', { id: 'a<b' }, false).text, 'Case a<b <x>');
    assert.equal(escapeHtml(`'`), '&#39;');
    assert.equal(
      renderTemplate('{{ not a placeholder }} {{x}}', { x: [1, 2] }).text,
      '{{ not a placeholder }} [1,2]',
    );
  });
});
