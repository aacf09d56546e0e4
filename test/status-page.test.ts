import { expect, test } from 'vitest';
import { statusPage } from '../worker/pages/status-page.ts';

test('the admin base is embedded as data that cannot close the script element', () => {
  const html = statusPage({ adminBase: '/_edge</script><script>alert(1)//' });
  expect(html).not.toContain('</script><script>alert(1)');
  expect(html).toContain('"adminBase":"/_edge\\u003c/script>\\u003cscript>alert(1)//"');
});

test('a self-contained page: no external script, style or font', () => {
  const html = statusPage({ adminBase: '/_edge' });
  expect(html).toMatch(/^<!doctype html>/);
  expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
});
