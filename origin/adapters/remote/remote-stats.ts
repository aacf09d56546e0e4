/**
 * Live figures of one remote adapter (a proxy of adapters.xml), read by the Prometheus exporter with
 * the adapter's label: the hot paths bump plain numbers.
 */
export class RemoteStats {
  connected = false;
  /** Remote adapters that completed the initialisation, since start. */
  connections = 0;
  /** Connections refused: bad credentials, a second remote, an address not allowed, a failed init. */
  refusedConnections = 0;
  requests = 0;
  /** Requests the remote answered with an exception. */
  requestFailures = 0;
  /** Requests the remote did not answer within `timeout`. */
  requestTimeouts = 0;
  pendingRequests = 0;
  /** UD3 updates received (data adapters). */
  updates = 0;
  /** Lines that were no valid packet, replies to no request, lines over the length bound. */
  protocolErrors = 0;
  /** FAL notifications: the remote reported a failure of its own. */
  remoteFailures = 0;

  constructor(
    /** `<set>` for a metadata adapter, `<set>/<data provider>` for a data adapter. */
    readonly adapter: string,
    readonly kind: 'metadata' | 'data',
  ) {}
}
