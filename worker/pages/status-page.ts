/**
 * The edge status page: one self-contained HTML document (no assets, no CDN) that an operator opens
 * at the edge and unlocks with the admin secret. Everything it shows comes from the admin API, polled
 * with the secret as a Bearer token; the page itself carries no data and needs no authentication, so
 * the Worker can serve it as a constant string.
 *
 * The secret lives in sessionStorage: it survives reloads of the tab and dies with it, and is never
 * put in a URL where proxies and history would keep it.
 */
export interface StatusPageOptions {
  /**
   * Where the edge mounts its operator routes (`/_edge`): the page reads `<adminBase>/api/status`,
   * sends actions to `<adminBase>/api/shards/<id>/…` and links each shard's dashboard at
   * `<adminBase>/shards/<id>/dashboard`.
   */
  readonly adminBase: string;
}

export function statusPage({ adminBase }: StatusPageOptions): string {
  // JSON inside a <script>: `<` is escaped so no value can close the element.
  const config = JSON.stringify({ adminBase }).replace(/</g, '\\u003c');
  return PAGE.replace('__CONFIG__', config);
}

const PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='7' fill='%234f8cff'/%3E%3Cpath d='M18 4 8 18h7l-2 10 11-15h-7z' fill='white'/%3E%3C/svg%3E">
<meta name="robots" content="noindex">
<title>edgepush · edge status</title>
<style>
  :root {
    --bg: #0b1020; --panel: #121a2e; --panel-2: #17213a; --line: #24304d; --text: #e6ebf5;
    --muted: #8a97b3; --accent: #4f8cff; --ok: #22c55e; --warn: #f59e0b; --bad: #ef4444;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--text); font-size: 14px; }
  header { display: flex; align-items: center; gap: 16px; flex-wrap: wrap; padding: 14px 24px; background: var(--panel); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
  .brand { font-weight: 700; font-size: 17px; }
  .brand span { color: var(--accent); }
  .sub, .muted { color: var(--muted); }
  .spacer { flex: 1; }
  .pill { display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; background: var(--panel-2); border: 1px solid var(--line); white-space: nowrap; }
  .pill::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--muted); }
  .pill.ok::before { background: var(--ok); box-shadow: 0 0 6px var(--ok); }
  .pill.warn::before { background: var(--warn); }
  .pill.bad::before { background: var(--bad); }
  main { padding: 20px 24px 40px; max-width: 1600px; margin: 0 auto; }
  .kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 12px; margin-bottom: 20px; }
  .kpi { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
  .kpi .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .6px; }
  .kpi .value { font-size: 26px; font-weight: 650; margin-top: 4px; font-variant-numeric: tabular-nums; }
  .kpi .hint { color: var(--muted); font-size: 12px; margin-top: 2px; }
  .kpi.alert .value { color: var(--warn); }
  .card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; margin-bottom: 16px; }
  .card h2 { font-size: 15px; margin: 0 0 10px; display: flex; justify-content: space-between; align-items: baseline; }
  .card h2 small { color: var(--muted); font-weight: 500; font-size: 12px; }
  .row { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; }
  @media (max-width: 1100px) { .row { grid-template-columns: 1fr; } }
  .table-wrap { overflow-x: auto; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 7px 6px; border-bottom: 1px solid var(--line); vertical-align: middle; }
  th { color: var(--muted); font-weight: 500; font-size: 12px; white-space: nowrap; }
  .num { text-align: right; }
  .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
  .chip { display: inline-block; padding: 1px 8px; margin: 1px 3px 1px 0; border-radius: 6px; background: var(--panel-2); border: 1px solid var(--line); font-size: 12px; }
  .bar { height: 6px; border-radius: 3px; background: var(--panel-2); overflow: hidden; margin-top: 4px; min-width: 80px; }
  .bar > i { display: block; height: 100%; background: var(--accent); }
  .error { color: var(--bad); font-size: 12px; }
  tr.stale .sessions, tr.stale .updates { opacity: .45; }
  a.dash { color: var(--accent); font-family: system-ui, sans-serif; font-size: 12px; text-decoration: none; margin-left: 6px; }
  a.dash:hover { text-decoration: underline; }
  button, input { font: inherit; border-radius: 7px; border: 1px solid var(--line); background: var(--panel-2); color: var(--text); padding: 5px 10px; }
  button { cursor: pointer; font-weight: 600; }
  button:hover { border-color: var(--accent); }
  button.danger:hover { border-color: var(--bad); }
  button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
  button:disabled { opacity: .5; cursor: default; }
  .actions { display: flex; gap: 6px; flex-wrap: wrap; align-items: center; }
  .actions input { width: 64px; padding: 4px 6px; }
  .decisions .line { display: grid; grid-template-columns: 150px 1fr 80px; gap: 10px; align-items: center; padding: 5px 0; }
  .decisions .line .bar { height: 10px; margin: 0; }
  .decisions .line .bar i.S { background: var(--ok); }
  .login { max-width: 420px; margin: 12vh auto; background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: 24px; }
  .login h1 { font-size: 18px; margin: 0 0 6px; }
  .login form { display: flex; gap: 8px; margin-top: 16px; }
  .login input { flex: 1; }
  #toast { position: fixed; bottom: 18px; right: 18px; background: var(--panel-2); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; display: none; max-width: 420px; }
  #toast.bad { border-color: var(--bad); }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <div class="brand">edge<span>push</span></div>
  <div class="sub">Edge status</div>
  <div class="spacer"></div>
  <span class="pill" id="link">locked</span>
  <span class="sub" id="updated"></span>
  <button id="logout" hidden>Lock</button>
</header>

<section class="login" id="login">
  <h1>Operator access</h1>
  <div class="muted">Enter the edge's admin secret. It is kept for this tab only and sent as a Bearer token to the admin API.</div>
  <form id="login-form" autocomplete="off">
    <input id="secret" type="password" placeholder="Admin secret" aria-label="Admin secret" required>
    <button class="primary" type="submit">Unlock</button>
  </form>
  <div class="error" id="login-error"></div>
</section>

<main id="main" hidden>
  <section class="kpis">
    <div class="kpi" data-kpi="shards"><div class="label">Healthy shards</div><div class="value">–</div><div class="hint"></div></div>
    <div class="kpi" data-kpi="sessions"><div class="label">Sessions</div><div class="value">–</div><div class="hint"></div></div>
    <div class="kpi" data-kpi="updates"><div class="label">Updates / s</div><div class="value">–</div><div class="hint"></div></div>
    <div class="kpi" data-kpi="decisions"><div class="label">Routing decisions</div><div class="value">–</div><div class="hint"></div></div>
    <div class="kpi" data-kpi="violations"><div class="label">Stickiness violations</div><div class="value">–</div><div class="hint"></div></div>
    <div class="kpi" data-kpi="failovers"><div class="label">Failovers</div><div class="value">–</div><div class="hint"></div></div>
    <div class="kpi" data-kpi="moved"><div class="label">Sessions moved</div><div class="value">–</div><div class="hint"></div></div>
    <div class="kpi" data-kpi="kept"><div class="label">Sessions kept</div><div class="value">–</div><div class="hint"></div></div>
    <div class="kpi" data-kpi="reconciled"><div class="label">Items reconciled</div><div class="value">–</div><div class="hint"></div></div>
  </section>

  <section class="card">
    <h2>Shards <small id="probe"></small></h2>
    <div class="table-wrap">
      <table id="shards">
        <thead><tr>
          <th>Shard</th><th>Health</th><th>State</th><th class="num">Sessions</th><th class="num">Updates/s</th>
          <th class="num">Weight</th><th class="num">Moved</th><th>Last probe</th><th>Actions</th>
        </tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>

  <div class="row">
    <section class="card">
      <h2>Domains <small>stickiness modes and expiry</small></h2>
      <div class="table-wrap">
        <table id="domains">
          <thead><tr><th>Host</th><th>Modes</th><th>Expiry</th><th>Max session</th><th>Shards</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
    </section>
    <section class="card decisions">
      <h2>Routing decisions by mode <small id="decisions-total"></small></h2>
      <div class="muted" style="margin:-4px 0 8px">S: where new sessions were placed · CR: what kept a session's requests on its shard</div>
      <div id="decisions"></div>
    </section>
  </div>

  <section class="card">
    <h2>All counters <small>since the registry started</small></h2>
    <div class="table-wrap"><table id="counters"><tbody></tbody></table></div>
  </section>
</main>
<div id="toast" role="status"></div>

<script>
'use strict';
(() => {
  const { adminBase } = __CONFIG__;
  const KEY = 'edgepush.adminSecret';
  const POLL_MS = 2000;
  const $ = (sel, root = document) => root.querySelector(sel);
  const fmt = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
  const ago = (t) => {
    if (t == null) return 'never';
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    return s < 60 ? s + ' s ago' : Math.round(s / 60) + ' min ago';
  };
  const seconds = (s) => (s % 3600 === 0 ? s / 3600 + ' h' : s % 60 === 0 ? s / 60 + ' min' : s + ' s');

  let secret = sessionStorage.getItem(KEY);
  let timer = null;

  class Unauthorized extends Error {}

  async function api(path, init = {}) {
    const res = await fetch(adminBase + path, {
      ...init,
      cache: 'no-store',
      // Without credentials a 401 carrying a Basic challenge never opens the browser's login dialog:
      // the secret typed into this page is the only credential it uses.
      credentials: 'omit',
      headers: { authorization: 'Bearer ' + secret, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      signal: AbortSignal.timeout(5000),
    });
    if (res.status === 401 || res.status === 403) throw new Unauthorized('the admin secret was refused');
    const text = await res.text();
    if (!res.ok) throw new Error('HTTP ' + res.status + (text ? ': ' + text.slice(0, 200) : ''));
    return text ? JSON.parse(text) : null;
  }

  function setPill(cls, text) {
    const el = $('#link');
    el.className = 'pill ' + cls;
    el.textContent = text;
  }

  function lock(message) {
    secret = null;
    sessionStorage.removeItem(KEY);
    clearTimeout(timer);
    $('#main').hidden = true;
    $('#logout').hidden = true;
    $('#login').hidden = false;
    $('#login-error').textContent = message || '';
    setPill('', 'locked');
    $('#secret').focus();
  }

  function toast(text, bad) {
    const el = $('#toast');
    el.textContent = text;
    el.className = bad ? 'bad' : '';
    el.style.display = 'block';
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (el.style.display = 'none'), 4000);
  }

  function kpi(key, value, hint, alert) {
    const el = $('.kpi[data-kpi="' + key + '"]');
    $('.value', el).textContent = value;
    $('.hint', el).textContent = hint || '';
    el.classList.toggle('alert', Boolean(alert));
  }

  function render(d) {
    const shards = d.shards || [];
    const counters = d.counters || {};
    const healthy = shards.filter((s) => s.healthy).length;
    // A shard that is down keeps the figures of its last good probe: they are history, not load.
    const live = shards.filter((s) => s.healthy);
    const sessions = live.reduce((a, s) => a + (s.sessions || 0), 0);
    const updates = live.reduce((a, s) => a + ((s.origin && s.origin.updatesPerSecond) || 0), 0);
    // The edge counts placements of new sessions as s.<via> and homing of a session's control and
    // rebind requests as cr.<via>, where <via> is the mode (or balance) that decided.
    const decisions = Object.entries(counters)
      .map(([k, n]) => [/^(s|cr)\\.(.+)$/.exec(k), n])
      .filter(([m]) => m)
      .map(([m, n]) => ({ kind: m[1] === 's' ? 'S' : 'CR', mode: m[2], n }))
      .sort((a, b) => a.kind.localeCompare(b.kind) || b.n - a.n);
    const decisionsTotal = decisions.reduce((a, x) => a + x.n, 0);
    const violations = counters.stickinessViolations || 0;
    const failovers = counters.failovers || 0;

    kpi('shards', healthy + ' / ' + shards.length, shards.filter((s) => s.draining).length + ' draining', healthy < shards.length);
    kpi('sessions', fmt.format(sessions), 'on healthy shards, at their last probe');
    kpi('updates', fmt.format(updates), 'delivered by healthy shards');
    const modes = new Set(decisions.map((x) => x.mode)).size;
    kpi('decisions', fmt.format(decisionsTotal), modes + (modes === 1 ? ' mode' : ' modes') + ' in use');
    kpi('violations', fmt.format(violations), 'sticky sources that disagreed', violations > 0);
    kpi('failovers', fmt.format(failovers), 'requests of sessions whose shard is gone', failovers > 0);
    kpi('moved', fmt.format(counters.moved || 0), 'by drain and shed (END 48)');
    // The session layer (mode session) moves a session's upstream instead: its client keeps its session.
    kpi('kept', fmt.format(counters.upstreamMoves || 0), fmt.format(counters.sessionLayerSessions || 0) + ' session-layer sessions on ' + fmt.format(counters.sessionHostStarts || 0) + ' host starts, ' + fmt.format(counters.sessionLayerRestores || 0) + ' restored after a restart');
    kpi('reconciled', fmt.format(counters.itemsReconciled || 0), fmt.format(counters.reconciliationUpdates || 0) + ' updates sent to bring them up to date, ' + fmt.format(counters.distinctEventsLost || 0) + ' DISTINCT events lost', (counters.distinctEventsLost || 0) > 0);
    $('#probe').textContent = 'probed every ' + (d.probeIntervalMs / 1000) + ' s · moving up to ' + d.moveRate + ' sessions per shard per probe';

    const maxSessions = Math.max(1, ...shards.map((s) => s.sessions || 0));
    const body = $('#shards tbody');
    // Rebuilding the rows would wipe what an operator is typing into the inputs.
    if (body.dataset.ids !== shards.map((s) => s.id).join(',')) {
      body.innerHTML = shards.map((s) => '<tr data-shard="' + esc(s.id) + '">' +
        '<td><div class="mono"><b>' + esc(s.id) + '</b> <a class="dash" target="_blank" rel="noopener" href="' + esc(adminBase + '/shards/' + encodeURIComponent(s.id) + '/dashboard') + '">dashboard ↗</a></div><div class="muted mono url"></div></td>' +
        '<td class="health"></td><td class="state"></td>' +
        '<td class="num sessions"></td><td class="num updates"></td><td class="num weight"></td><td class="num moved"></td>' +
        '<td class="probe"></td>' +
        '<td><div class="actions">' +
          '<button data-action="drain" class="danger">Drain</button>' +
          '<input data-input="shed" type="number" min="1" value="10" aria-label="Sessions to shed"><button data-action="shed">Shed</button>' +
          '<input data-input="weight" type="number" min="0" step="0.1" aria-label="Weight"><button data-action="weight">Set weight</button>' +
        '</div></td></tr>').join('');
      body.dataset.ids = shards.map((s) => s.id).join(',');
    }
    for (const s of shards) {
      const tr = body.querySelector('tr[data-shard="' + CSS.escape(s.id) + '"]');
      $('.url', tr).textContent = s.url || '';
      const server = s.origin && s.origin.serverName ? '<div class="muted">' + esc(s.origin.serverName) + '</div>' : '';
      $('.health', tr).innerHTML = (!s.healthy ? '<span class="pill bad">down</span>' : s.ejected ? '<span class="pill warn">ejected</span>' : '<span class="pill ok">healthy</span>') +
        (s.lastError ? '<div class="error">' + esc(s.lastError) + '</div>' : server);
      $('.state', tr).innerHTML = s.drained ? '<span class="pill warn">drained</span>'
        : s.draining ? '<span class="pill warn">draining</span>'
        : '<span class="pill ok">serving</span>' + (s.shedPending ? '<div class="muted">shedding ' + s.shedPending + '</div>' : '');
      $('.sessions', tr).innerHTML = fmt.format(s.sessions || 0) + '<div class="bar"><i style="width:' + ((100 * (s.sessions || 0)) / maxSessions).toFixed(1) + '%"></i></div>';
      $('.updates', tr).textContent = s.healthy && s.origin && typeof s.origin.updatesPerSecond === 'number' ? fmt.format(s.origin.updatesPerSecond) : '–';
      tr.classList.toggle('stale', !s.healthy);
      $('.weight', tr).innerHTML = fmt.format(s.weight) + (s.weightOverride != null ? '<div class="muted">configured ' + fmt.format(s.configuredWeight) + '</div>' : '');
      $('.moved', tr).textContent = fmt.format(s.moved || 0);
      $('.probe', tr).textContent = ago(s.lastProbeAt);
      const drain = $('[data-action="drain"]', tr);
      drain.dataset.action = s.draining ? 'undrain' : 'drain';
      drain.textContent = s.draining ? 'Undrain' : 'Drain';
      drain.className = s.draining ? '' : 'danger';
      const weight = $('[data-input="weight"]', tr);
      if (document.activeElement !== weight) weight.placeholder = String(s.weight);
    }

    $('#domains tbody').innerHTML = (d.domains || []).map((dm) => {
      const expiry = [];
      if (dm.modes.includes('cookie') || dm.modes.includes('ip')) expiry.push('sticky ' + seconds(dm.stickySeconds));
      if (dm.modes.includes('pin') && dm.pinSeconds) expiry.push('pin ' + seconds(dm.pinSeconds));
      return '<tr><td class="mono">' + esc(dm.host) + '</td>' +
        '<td>' + dm.modes.map((m) => '<span class="chip">' + esc(m) + '</span>').join('') + '</td>' +
        '<td>' + (expiry.length ? esc(expiry.join(' · ')) : '<span class="muted">no expiry needed</span>') + '</td>' +
        '<td>' + (dm.maxSessionMinutes ? esc(dm.maxSessionMinutes + ' min' + (dm.maxSessionJitter ? ' ± ' + Math.round(dm.maxSessionJitter * 100) + ' %' : '')) : '<span class="muted">off</span>') + '</td>' +
        '<td class="mono">' + esc((dm.shards || []).join(', ')) + '</td></tr>';
    }).join('');

    const maxDecision = Math.max(1, ...decisions.map((x) => x.n));
    $('#decisions-total').textContent = fmt.format(decisionsTotal) + ' total';
    $('#decisions').innerHTML = decisions.length
      ? decisions.map((x) =>
          '<div class="line" data-decision="' + esc(x.kind + '.' + x.mode) + '"><span><span class="chip">' + x.kind + '</span><span class="mono">' + esc(x.mode) + '</span></span>' +
          '<div class="bar"><i class="' + x.kind + '" style="width:' + ((100 * x.n) / maxDecision).toFixed(1) + '%"></i></div><span class="num">' + fmt.format(x.n) + '</span></div>').join('')
      : '<div class="muted">No requests routed yet.</div>';

    $('#counters tbody').innerHTML = Object.entries(counters).sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => '<tr><td class="mono">' + esc(k) + '</td><td class="num">' + fmt.format(v) + '</td></tr>').join('')
      || '<tr><td class="muted">No counters yet.</td></tr>';
  }

  async function poll() {
    clearTimeout(timer);
    if (!secret) return;
    try {
      render(await api('/api/status'));
      setPill('ok', 'live');
      $('#updated').textContent = 'updated ' + new Date().toLocaleTimeString('en-GB', { hour12: false });
    } catch (err) {
      if (err instanceof Unauthorized) return lock(err.message);
      setPill('bad', 'unreachable: ' + err.message);
    }
    timer = setTimeout(poll, POLL_MS);
  }

  function unlock() {
    $('#login').hidden = true;
    $('#main').hidden = false;
    $('#logout').hidden = false;
    setPill('', 'loading');
    poll();
  }

  $('#login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    secret = $('#secret').value;
    $('#secret').value = '';
    sessionStorage.setItem(KEY, secret);
    unlock();
  });
  $('#logout').addEventListener('click', () => lock());

  $('#shards').addEventListener('click', async (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button) return;
    const tr = button.closest('tr');
    const shard = tr.dataset.shard;
    const action = button.dataset.action;
    let body;
    if (action === 'shed') {
      const count = Number($('[data-input="shed"]', tr).value);
      if (!Number.isInteger(count) || count < 1) return toast('Shed needs a whole number of sessions.', true);
      body = { count };
    } else if (action === 'weight') {
      const raw = $('[data-input="weight"]', tr).value.trim();
      const weight = raw === '' ? null : Number(raw);
      if (weight !== null && !(weight >= 0)) return toast('Weight must be zero or more (empty resets it).', true);
      body = { weight };
    } else if (action === 'drain' && !confirm('Drain ' + shard + '? It takes no new sessions and its sessions move to other shards.')) {
      return;
    }
    button.disabled = true;
    try {
      await api('/api/shards/' + encodeURIComponent(shard) + '/' + action, { method: action === 'weight' ? 'PUT' : 'POST', body: JSON.stringify(body || {}) });
      toast(action + ' ' + shard + ': done');
      if (action === 'weight') $('[data-input="weight"]', tr).value = '';
      await poll();
    } catch (err) {
      if (err instanceof Unauthorized) return lock(err.message);
      toast(action + ' ' + shard + ' failed: ' + err.message, true);
    } finally {
      button.disabled = false;
    }
  });

  if (secret) unlock(); else lock();
})();
</script>
</body>
</html>
`;
