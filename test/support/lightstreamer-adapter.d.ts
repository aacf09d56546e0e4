/**
 * The parts of the official Node adapter SDK (`lightstreamer-adapter`, untyped CommonJS) the tests
 * use: its providers, and its own wire encoders, so the origin's ARI codec is checked against them.
 */
declare module 'lightstreamer-adapter' {
  import type { EventEmitter } from 'node:events';
  import type { Duplex } from 'node:stream';

  export interface DataResponse {
    success(): void;
    error(message: string, type?: string): void;
  }
  export interface MetadataResponse {
    success(...args: unknown[]): void;
    error(message: string, type?: string, data?: unknown): void;
  }
  export interface DataProvider extends EventEmitter {
    update(item: string, isSnapshot: boolean, fields: Record<string, string | null>): DataProvider;
    endOfSnapshot(item: string): DataProvider;
    clearSnapshot(item: string): DataProvider;
    failure(message: string): DataProvider;
  }
  export interface MetadataProvider extends EventEmitter {}
  const sdk: {
    DataProvider: new (
      reqResp: Duplex,
      notify: Duplex,
      isSnapshotAvailable?: (item: string) => boolean,
      credentials?: { user?: string; password?: string },
      keepaliveMillis?: number,
    ) => DataProvider;
    MetadataProvider: new (
      stream: Duplex,
      params?: Record<string, unknown>,
      credentials?: { user?: string; password?: string },
      keepaliveMillis?: number,
    ) => MetadataProvider;
  };
  export default sdk;
}

declare module 'lightstreamer-adapter/lib/protocol.js' {
  export function encodeString(value: unknown): string;
  export function decodeString(token: string): string | null;
  export function encodeDouble(value: number | null): string;
  export function encodePubModes(modes: { raw?: boolean; merge?: boolean; distinct?: boolean; command?: boolean }): string;
  export function decodePubModes(token: string): { raw: boolean; merge: boolean; distinct: boolean; command: boolean };
}

declare module 'lightstreamer-adapter/lib/dataprotocol.js' {
  export const data: {
    writeUpdate(requestId: string, item: string, isSnapshot: boolean, fields: Record<string, string | null>): string;
    writeEndOfSnapshot(requestId: string, item: string): string;
    writeClearSnapshot(requestId: string, item: string): string;
    writeFailure(message: string): string;
    writeSubscribeException(requestId: string, message: string, type?: string): string;
    writeInit(requestId: string, params: Record<string, string> | null): string;
  };
  export function DataReader(): { parse(data: string, initPending: boolean, closePossible: boolean): void; pop(): Record<string, unknown>; isEmpty(): boolean };
}

declare module 'lightstreamer-adapter/lib/metadataprotocol.js' {
  export const metadata: {
    writeGetItems(requestId: string, items: string[]): string;
    writeGetSchema(requestId: string, fields: string[]): string;
    writeNotifyUserException(requestId: string, message: string, type?: string, data?: unknown): string;
    writeNotifyUserMessageException(requestId: string, message: string, type?: string, data?: unknown): string;
    writeGetUserItemData(requestId: string, data: unknown[]): string;
    writeGetItemData(requestId: string, data: unknown[]): string;
    writeNotifyUser(requestId: string, maxBandwidth: number, notifyTables: boolean): string;
  };
  export function MetadataReader(): { parse(data: string, initPending: boolean, closePossible: boolean): void; pop(): Record<string, unknown>; isEmpty(): boolean };
}
