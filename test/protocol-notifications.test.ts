import { describe, expect, it } from 'vitest';
import * as n from '../protocol/notifications.ts';
import { isRequestId } from '../protocol/request.ts';

describe('values a client chose, echoed in answers', () => {
  it('cannot add a field or a line to REQOK, REQERR, MSGDONE or MSGFAIL, whoever forgot to validate them', () => {
    const hostile = '7\r\nEND,48,injected';
    expect(n.reqok(hostile)).toBe('REQOK,7%0D%0AEND%2C48%2Cinjected\r\n');
    expect(n.reqerr(hostile, 20, 'gone')).toBe('REQERR,7%0D%0AEND%2C48%2Cinjected,20,gone\r\n');
    expect(n.msgdone('S,1\r\nU', 3, 'ok')).toBe('MSGDONE,S%2C1%0D%0AU,3,ok\r\n');
    expect(n.msgfail('S,1', 3, 38, 'skipped')).toBe('MSGFAIL,S%2C1,3,38,skipped\r\n');
  });

  it('leaves well-formed ones as they are', () => {
    expect(n.reqok('12')).toBe('REQOK,12\r\n');
    expect(n.reqok()).toBe('REQOK\r\n');
    expect(n.reqerr(12, 19, 'no such subscription')).toBe('REQERR,12,19,no such subscription\r\n');
    expect(n.msgdone(null, 1, '')).toBe('MSGDONE,*,1,\r\n');
    expect(n.msgdone('Chat_1', 2, '')).toBe('MSGDONE,Chat_1,2,\r\n');
  });

  it('a request id is a counter of at most 15 digits', () => {
    expect(['1', '123456789012345'].map(isRequestId)).toEqual([true, true]);
    expect(['', '1234567890123456', '1a', '-1', '1\r\n', null, undefined].map(isRequestId)).toEqual(Array(7).fill(false));
  });
});
