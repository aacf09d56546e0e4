'use strict';
/* global LightstreamerClient, Subscription */
(() => {
  const STOCKS = Array.from({ length: 30 }, (_, i) => `item${i + 1}`);
  const QUOTE_FIELDS = ['stock_name', 'last_price', 'time', 'pct_change', 'bid_quantity', 'bid', 'ask', 'ask_quantity', 'min', 'max', 'open_price'];
  const PORTFOLIO = 'portfolio1';
  const MAX_CHAT = 100;
  const MAX_EVENTS = 50;

  const $ = (sel) => document.querySelector(sel);
  const params = new URLSearchParams(location.search);
  const clock = (t = Date.now()) => new Date(t).toLocaleTimeString('en-GB', { hour12: false });
  const money = new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  // The page talks to whoever served it: an origin directly, or the edge, which balances the session
  // and then follows the control link the origin announces. Relative to the page, so that a path
  // prefix in front of it (a per-shard route of the edge) is kept.
  const client = new LightstreamerClient(location.origin + location.pathname.replace(/[^/]*$/, ''), 'DEMO');
  const forced = params.get('transport');
  if (forced) client.connectionOptions.setForcedTransport(forced);

  // ---- connection ------------------------------------------------------------------------------
  const events = $('#events');
  function logEvent(text, cls) {
    const li = document.createElement('li');
    if (cls) li.className = cls;
    const time = document.createElement('time');
    time.textContent = clock();
    li.append(time, text);
    events.prepend(li);
    while (events.children.length > MAX_EVENTS) events.lastChild.remove();
  }

  let sessions = 0;
  let servedBy = null;
  function showSession() {
    const details = client.connectionDetails;
    const name = details.getServerSocketName();
    $('#server-name').textContent = name || '–';
    // Without a control link the session stays on the address the client was given.
    $('#server-address').textContent = details.getServerInstanceAddress() || details.getServerAddress() || '–';
    $('#session-id').textContent = details.getSessionId() || '–';
    $('#session-count').textContent = sessions ? `session #${sessions}` : '';
  }

  client.addListener({
    onStatusChange(status) {
      $('#connection').dataset.status = status;
      $('#status').textContent = status.toLowerCase().replace(':', ' · ');
      const transport = status.startsWith('CONNECTED:') ? status.slice('CONNECTED:'.length) : null;
      $('#transport').textContent = transport === 'STREAM-SENSING' ? 'detecting…' : transport || '–';
      logEvent(status);
    },
    onPropertyChange(property) {
      if (property === 'sessionId' && client.connectionDetails.getSessionId()) sessions++;
      if (property === 'serverSocketName') {
        const name = client.connectionDetails.getServerSocketName();
        if (name && servedBy && name !== servedBy) logEvent(`moved from ${servedBy} to ${name}`, 'move');
        else if (name && !servedBy) logEvent(`served by ${name}`);
        if (name) servedBy = name;
      }
      if (['sessionId', 'serverSocketName', 'serverInstanceAddress'].includes(property)) showSession();
    },
    onServerError(code, message) {
      logEvent(`server error ${code}: ${message}`, 'move');
    },
  });

  // ---- quotes ----------------------------------------------------------------------------------
  const quotes = new Map(); // item → { name, last, cells }
  const orderItem = $('#order-item');
  const tbody = $('#quotes tbody');
  for (const item of STOCKS) {
    const tr = document.createElement('tr');
    tr.dataset.item = item;
    const cells = {};
    for (const field of QUOTE_FIELDS) {
      const td = document.createElement('td');
      td.dataset.field = field;
      if (field !== 'stock_name') td.className = 'num';
      td.textContent = field === 'stock_name' ? item : '';
      cells[field] = td;
      tr.append(td);
    }
    tr.addEventListener('click', () => { orderItem.value = item; });
    tbody.append(tr);
    quotes.set(item, { name: item, last: NaN, cells });
    orderItem.append(new Option(item, item));
  }

  const quoteSub = new Subscription('MERGE', STOCKS, QUOTE_FIELDS);
  quoteSub.setDataAdapter('QUOTE_ADAPTER');
  quoteSub.setRequestedSnapshot('yes');
  quoteSub.addListener({
    onItemUpdate(update) {
      const item = update.getItemName();
      const q = quotes.get(item);
      if (!q) return;
      update.forEachChangedField((field, _pos, value) => {
        const td = q.cells[field];
        if (!td) return;
        td.textContent = value ?? '';
        if (field === 'last_price') {
          const price = Number(value);
          if (!update.isSnapshot() && Number.isFinite(q.last) && price !== q.last) {
            td.classList.remove('flash-up', 'flash-down');
            void td.offsetWidth; // restart the animation on consecutive ticks
            td.classList.add(price > q.last ? 'flash-up' : 'flash-down');
          }
          q.last = price;
          if (positions.has(item)) schedulePortfolio();
        } else if (field === 'pct_change') {
          const pct = Number(value);
          td.classList.toggle('up', pct > 0);
          td.classList.toggle('down', pct < 0);
        } else if (field === 'stock_name' && value) {
          q.name = value;
          const option = [...orderItem.options].find((o) => o.value === item);
          if (option) option.text = value;
          schedulePortfolio();
        }
      });
    },
  });
  client.subscribe(quoteSub);

  // ---- portfolio -------------------------------------------------------------------------------
  const positions = new Map(); // item → qty
  let portfolioPending = false;
  function schedulePortfolio() {
    if (portfolioPending) return;
    portfolioPending = true;
    requestAnimationFrame(renderPortfolio);
  }
  function renderPortfolio() {
    portfolioPending = false;
    const body = $('#portfolio tbody');
    body.replaceChildren();
    let total = 0;
    for (const [item, qty] of positions) {
      const q = quotes.get(item);
      const price = q ? q.last : NaN;
      const value = qty * price;
      if (Number.isFinite(value)) total += value;
      const tr = document.createElement('tr');
      tr.dataset.item = item;
      for (const [text, cls] of [
        [q ? q.name : item, ''],
        [String(qty), 'num qty'],
        [Number.isFinite(price) ? money.format(price) : '–', 'num'],
        [Number.isFinite(value) ? money.format(value) : '–', 'num'],
      ]) {
        const td = document.createElement('td');
        td.className = cls;
        td.textContent = text;
        tr.append(td);
      }
      body.append(tr);
    }
    if (!positions.size) {
      body.innerHTML = '<tr class="empty"><td colspan="4">No positions yet: buy something.</td></tr>';
    }
    $('#portfolio-total').textContent = positions.size ? money.format(total) : '–';
  }

  const portfolioSub = new Subscription('COMMAND', [PORTFOLIO], ['key', 'command', 'qty']);
  portfolioSub.setDataAdapter('PORTFOLIO_ADAPTER');
  portfolioSub.setRequestedSnapshot('yes');
  portfolioSub.addListener({
    // A new session (after a failover, say) delivers the whole row set again as its snapshot.
    onSubscription() { positions.clear(); schedulePortfolio(); },
    onClearSnapshot() { positions.clear(); schedulePortfolio(); },
    onItemUpdate(update) {
      const key = update.getValue('key');
      if (update.getValue('command') === 'DELETE') positions.delete(key);
      else positions.set(key, Number(update.getValue('qty')));
      schedulePortfolio();
    },
  });
  client.subscribe(portfolioSub);

  const orderResult = $('#order-result');
  $('#order').addEventListener('submit', (e) => {
    e.preventDefault();
    const side = e.submitter && e.submitter.dataset.side;
    const qty = Number($('#order-qty').value);
    if (!side || !Number.isInteger(qty) || qty <= 0) {
      orderResult.className = 'muted order-result error';
      orderResult.textContent = 'Quantity must be a positive whole number.';
      return;
    }
    const item = orderItem.value;
    const label = `${side === 'BUY' ? 'Buy' : 'Sell'} ${qty} ${quotes.get(item).name}`;
    orderResult.className = 'muted order-result';
    orderResult.textContent = `${label}: sending…`;
    const outcome = (text, error) => {
      orderResult.className = `muted order-result${error ? ' error' : ''}`;
      orderResult.textContent = `${label}: ${text}`;
    };
    client.sendMessage(`${side}|${PORTFOLIO}|${item}|${qty}`, null, null, {
      onProcessed: () => outcome('done'),
      onDeny: (code, message) => outcome(`refused (${code}) ${message}`, true),
      onError: () => outcome('failed on the server', true),
      onDiscarded: () => outcome('timed out', true),
      onAbort: () => outcome('not sent: connection lost', true),
    }, true);
  });

  // ---- chat ------------------------------------------------------------------------------------
  const chat = $('#chat');
  const chatSub = new Subscription('DISTINCT', ['chat_room'], ['message', 'raw_timestamp', 'IP']);
  chatSub.setDataAdapter('CHAT_ROOM');
  chatSub.setRequestedSnapshot('yes');
  chatSub.addListener({
    onSubscription() { chat.replaceChildren(); },
    onItemUpdate(update) {
      const stamp = Number(update.getValue('raw_timestamp'));
      const li = document.createElement('li');
      const meta = document.createElement('div');
      meta.className = 'meta';
      meta.textContent = `${Number.isFinite(stamp) ? clock(stamp) : ''} · ${update.getValue('IP') || 'unknown'}`;
      const text = document.createElement('div');
      text.className = 'text';
      text.textContent = update.getValue('message') || '';
      li.append(meta, text);
      const atBottom = chat.scrollTop + chat.clientHeight >= chat.scrollHeight - 4;
      chat.append(li);
      while (chat.children.length > MAX_CHAT) chat.firstChild.remove();
      if (atBottom) chat.scrollTop = chat.scrollHeight;
    },
  });
  client.subscribe(chatSub);

  $('#chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('#chat-text');
    const text = input.value.trim();
    if (!text) return;
    client.sendMessage(`CHAT|${text}`, null, null, null, true);
    input.value = '';
  });

  client.connect();
})();
