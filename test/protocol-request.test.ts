import { describe, expect, it } from 'vitest';
import { ParamReader, TlcpSyntaxError, parseParams, parseWsFrame, scanParam, sessionIdOf, splitBody } from '../protocol/request.ts';
import * as n from '../protocol/notifications.ts';

describe('request lines', () => {
  it('decodes UTF-8 percent-encoding and + as space, keeping the first of repeated names', () => {
    const p = parseParams('LS_message=caf%C3%A9%20%2B+1&LS_reqId=3&LS_reqId=4&LS_unknown=');
    expect(p.get('LS_message')).toBe('café + 1');
    expect(p.get('LS_reqId')).toBe('3');
    expect(p.get('LS_unknown')).toBe('');
  });

  it('rejects bad percent-encoding and parameters without a value', () => {
    expect(() => parseParams('LS_message=%E0%A4%A')).toThrow(TlcpSyntaxError);
    expect(() => parseParams('LS_message=%ZZ')).toThrow(/percent-encoding/);
    expect(() => parseParams('LS_op&LS_reqId=1')).toThrow(/without value/);
  });

  it('tolerates empty segments', () => {
    expect([...parseParams('&a=1&&b=2&')]).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
  });

  it('reads typed values with clear errors', () => {
    const r = new ParamReader(parseParams('a=12&b=x&c=true&d=1.5'));
    expect(r.int('a')).toBe(12);
    expect(() => r.int('b')).toThrow(/b must be/);
    expect(r.bool('c', false)).toBe(true);
    expect(r.number('d')).toBe(1.5);
    expect(() => r.required('zz')).toThrow(/missing zz/);
  });

  it('splits bodies and WebSocket frames on CRLF', () => {
    expect(splitBody('a=1\r\nb=2\r\n\r\n')).toEqual(['a=1', 'b=2']);
    expect(splitBody('\r\n')).toEqual([]);
    expect(parseWsFrame('control\r\nLS_reqId=1\r\nLS_reqId=2')).toEqual({ name: 'control', lines: ['LS_reqId=1', 'LS_reqId=2'] });
    expect(parseWsFrame('wsok')).toEqual({ name: 'wsok', lines: [] });
    expect(parseWsFrame('heartbeat\r\n\r\n')).toEqual({ name: 'heartbeat', lines: [] });
  });

  it('finds LS_session in the query string first, then in the first line', () => {
    expect(sessionIdOf('LS_protocol=TLCP-2.5.0&LS_session=s1.abc', 'LS_session=other')).toBe('s1.abc');
    expect(sessionIdOf('?LS_protocol=TLCP-2.5.0', 'LS_cid=x&LS_session=s2.def')).toBe('s2.def');
    expect(sessionIdOf(null, 'LS_session=%ZZ')).toBeNull();
    expect(scanParam('XLS_session=a&LS_session=b', 'LS_session')).toBe('b');
  });
});

describe('notifications', () => {
  it('encodes free text so the client splits lines correctly', () => {
    expect(n.reqerr(3, 21, 'bad, very bad 100%')).toBe('REQERR,3,21,bad%2C very bad 100%25\r\n');
    expect(n.msgdone(null, 2, 'a,b')).toBe('MSGDONE,*,2,a%2Cb\r\n');
    expect(n.msgfail('seq', 5, 39, '3')).toBe('MSGFAIL,seq,5,39,3\r\n');
  });

  it('formats session lines', () => {
    expect(n.conok('s1.x', 50000, 5000, null)).toBe('CONOK,s1.x,50000,5000,*\r\n');
    expect(n.conok('s1.x', 50000, 5000, 'h:8080/p')).toBe('CONOK,s1.x,50000,5000,h:8080/p\r\n');
    expect(n.end(48, 'max duration')).toBe('END,48,max duration\r\n');
    expect(n.reqok()).toBe('REQOK\r\n');
    expect(n.subcmd(1, 2, 3, 1, 2)).toBe('SUBCMD,1,2,3,1,2\r\n');
    expect(n.conf(1, 'unlimited', false)).toBe('CONF,1,unlimited,unfiltered\r\n');
  });
});
