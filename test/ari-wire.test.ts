/**
 * The origin's ARI codec against the official Node adapter SDK's own encoders and readers: what the
 * SDK writes, the origin reads back exactly, and the reverse.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as sdkProtocol from 'lightstreamer-adapter/lib/protocol.js';
import { DataReader as sdkDataReader, data as sdkData } from 'lightstreamer-adapter/lib/dataprotocol.js';
import { metadata as sdkMetadata } from 'lightstreamer-adapter/lib/metadataprotocol.js';
import {
  ArgReader,
  AriSyntaxError,
  decodeModes,
  decodeString,
  encodeModes,
  encodeString,
  packetLine,
  parsePacket,
  readReply,
} from '../origin/adapters/remote/ari-wire.ts';

const SAMPLES: Array<string | null> = [null, '', '#', '$', ' ', '+', '%', '|', 'a b', 'a+b c', '50%|x\r\ny', '#x', '$$', 'é€😀', 'x=1&y=2', "!'()*~", '%zz'];

/** The line of an SDK-written packet, without its line break. */
const line = (written: string) => written.replace(/\r?\n$/, '');

describe('ARI strings', () => {
  it('decodes what the SDK encodes: null, empty, reserved characters, spaces as +, UTF-8', () => {
    for (const s of SAMPLES) expect(decodeString(sdkProtocol.encodeString(s)), JSON.stringify(s)).toBe(s);
  });

  it('encodes what the SDK decodes', () => {
    for (const s of SAMPLES) expect(sdkProtocol.decodeString(encodeString(s)), JSON.stringify(s)).toBe(s);
  });

  it('round-trips any string both ways (property)', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ unit: 'grapheme' }), { nil: null }), (s) => {
        expect(decodeString(sdkProtocol.encodeString(s))).toBe(s);
        expect(sdkProtocol.decodeString(encodeString(s))).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads the 1.9 SDKs\' encoding, where only | CR LF % + and a lone # or $ are quoted', () => {
    // As the Java SDK 1.7 writes "a b+c|d\n#", "#" and "$".
    expect(decodeString('a b%2Bc%7Cd%0A#')).toBe('a b+c|d\n#');
    expect(decodeString('%23')).toBe('#');
    expect(decodeString('%24')).toBe('$');
    expect(decodeString('caffè ☕')).toBe('caffè ☕');
  });

  it('never writes a separator, a line break or a raw + into a token', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(encodeString(s)).not.toMatch(/[|\r\n+]/);
      }),
    );
  });

  it('refuses a malformed percent-encoding with a syntax error, not a crash', () => {
    expect(() => decodeString('%E0%A4%A')).toThrow(AriSyntaxError);
    expect(() => decodeString('%')).toThrow(AriSyntaxError);
  });

  it('turns lone surrogates into U+FFFD instead of throwing', () => {
    expect(sdkProtocol.decodeString(encodeString('a\uD800b'))).toBe('a\uFFFDb');
  });
});

describe('ARI modes and numbers', () => {
  it('reads and writes mode sets as the SDK does', () => {
    const all = { raw: true, merge: true, distinct: true, command: true };
    expect(decodeModes(sdkProtocol.encodePubModes(all))).toEqual(['RAW', 'MERGE', 'DISTINCT', 'COMMAND']);
    expect(decodeModes(sdkProtocol.encodePubModes({ merge: true, command: true }))).toEqual(['MERGE', 'COMMAND']);
    expect(sdkProtocol.decodePubModes(encodeModes(['DISTINCT', 'RAW']))).toEqual({ raw: true, merge: false, distinct: true, command: false });
    expect(decodeModes('#')).toBeNull();
    expect(decodeModes('$')).toEqual([]);
    expect(() => decodeModes('MX')).toThrow(AriSyntaxError);
  });

  it('reads the SDK\'s doubles and integers, nulls included', () => {
    const reply = parsePacket(line(sdkMetadata.writeGetUserItemData('7', [
      { allowedBufferSize: 5, allowedMaxItemFreq: 2.5, allowedModes: { merge: true } },
      { allowedBufferSize: null, allowedMaxItemFreq: null, allowedModes: { raw: true, distinct: true } },
    ])));
    expect(reply).toMatchObject({ id: '7', method: 'GUI' });
    const r = new ArgReader(reply);
    expect([r.int(), r.double(), r.modes()]).toEqual([5, 2.5, ['MERGE']]);
    expect([r.int(), r.double(), r.modes()]).toEqual([null, null, ['RAW', 'DISTINCT']]);
    expect(r.done).toBe(true);
  });
});

describe('ARI packets', () => {
  it('reads an SDK update (UD3) with its snapshot flag, nulls and empty values', () => {
    const packet = parsePacket(line(sdkData.writeUpdate('42', 'my item|1', true, { 'last price': '1+1', empty: '', none: null, 'é': 'x%y' })));
    expect(packet.method).toBe('UD3');
    const r = new ArgReader(packet);
    expect(r.string()).toBe('my item|1');
    expect(r.string()).toBe('42');
    expect(r.boolean()).toBe(true);
    expect(Object.fromEntries(r.pairs())).toEqual({ 'last price': '1+1', empty: '', none: null, 'é': 'x%y' });
  });

  it('reads end of snapshot, clear snapshot and failure notifications', () => {
    for (const [written, method] of [
      [sdkData.writeEndOfSnapshot('9', 'i 1'), 'EOS'],
      [sdkData.writeClearSnapshot('9', 'i 1'), 'CLS'],
    ] as const) {
      const r = new ArgReader(parsePacket(line(written)));
      expect(parsePacket(line(written)).method).toBe(method);
      expect([r.string(), r.string()]).toEqual(['i 1', '9']);
    }
    const failure = parsePacket(line(sdkData.writeFailure('feed | down')));
    expect(failure.method).toBe('FAL');
    expect(readReply(failure)).toMatchObject({ ok: false, kind: '', message: 'feed | down' });
  });

  it('reads the SDK\'s exceptions: access, credits with the client\'s code, subscription', () => {
    expect(readReply(parsePacket(line(sdkMetadata.writeNotifyUserException('3', 'who are you?', 'access'))))).toEqual({
      ok: false,
      kind: 'A',
      message: 'who are you?',
      clientCode: null,
      clientMessage: null,
    });
    expect(
      readReply(parsePacket(line(sdkMetadata.writeNotifyUserMessageException('4', 'over quota', 'credits', { clientCode: -7, clientMessage: 'no more, sorry' })))),
    ).toEqual({ ok: false, kind: 'C', message: 'over quota', clientCode: -7, clientMessage: 'no more, sorry' });
    expect(readReply(parsePacket(line(sdkData.writeSubscribeException('5', 'no such item', 'subscription'))))).toMatchObject({ ok: false, kind: 'U', message: 'no such item' });
  });

  it('reads list replies (GIS, GSC) and the init reply with its protocol version', () => {
    const items = new ArgReader(parsePacket(line(sdkMetadata.writeGetItems('1', ['a b', '', 'c|d']))));
    expect([items.string(), items.string(), items.string(), items.done]).toEqual(['a b', '', 'c|d', true]);
    const init = parsePacket(line(sdkData.writeInit('10', { 'ARI.version': '1.8.3' })));
    expect(Object.fromEntries(new ArgReader(init).pairs())).toEqual({ 'ARI.version': '1.8.3' });
    expect(readReply(parsePacket(line(sdkData.writeInit('10', null))))).toMatchObject({ ok: true });
  });

  it('writes packets the SDK\'s readers accept', () => {
    const reader = sdkDataReader();
    reader.parse(packetLine('11', 'DPI', ['S', encodeString('ARI.version'), 'S', encodeString('1.9.1')]), true, true);
    reader.parse(packetLine('12', 'SUB', ['S', encodeString('item a|b')]), false, true);
    expect(reader.pop()).toMatchObject({ id: '11', verb: 'init', initResponseParams: { 'ARI.version': '1.8.3' } });
    expect(reader.pop()).toMatchObject({ id: '12', verb: 'subscribe', itemName: 'item a|b' });
  });

  it('refuses lines that are not packets, and short or mistyped values', () => {
    expect(() => parsePacket('garbage')).toThrow(AriSyntaxError);
    expect(() => parsePacket('|UD3')).toThrow(AriSyntaxError);
    expect(parsePacket('KEEPALIVE')).toEqual({ id: '', method: 'KEEPALIVE', args: [] });
    const r = new ArgReader(parsePacket('1|UD3|S|x|I|nope'));
    r.string();
    expect(() => r.string()).toThrow(/expected type S/);
    expect(() => new ArgReader(parsePacket('1|UD3|S')).string()).toThrow(/missing S value/);
    expect(() => new ArgReader(parsePacket('1|GUI|I|1e99')).int()).toThrow(/bad integer/);
  });
});
