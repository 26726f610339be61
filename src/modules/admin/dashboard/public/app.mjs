// nestmq dashboard: Preact + htm, no build step. Every figure comes from the admin API
// (/api/v1) with the token the operator entered, kept in this tab's sessionStorage and sent as a
// bearer header; never in a URL. Text from clients (ids, topics, payloads) is rendered as text.
import { h, render } from './vendor/preact.mjs';
import { useCallback, useEffect, useMemo, useRef, useState } from './vendor/preact-hooks.mjs';
import htm from './vendor/htm.mjs';

const html = htm.bind(h);
const TOKEN_KEY = 'nestmq.adminToken';
const SIGNED_OUT = 'nestmq-signed-out';
const HISTORY = 120; // samples kept on the overview charts (one a second)

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** The admin API; state-changing calls carry the header the server's CSRF rule asks for. */
async function api(path, { method = 'GET', body } = {}) {
  const headers = { ...authHeaders(), Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  else if (method !== 'GET') headers['X-Nestmq-Request'] = 'dashboard';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.status === 401 && sessionStorage.getItem(TOKEN_KEY) !== null && path !== '/api/v1/stats') {
    // The token was changed on the server: back to the sign-in form.
    sessionStorage.removeItem(TOKEN_KEY);
    window.dispatchEvent(new Event(SIGNED_OUT));
  }
  if (!res.ok) throw new ApiError(res.status, (data && data.message) || `${res.status} ${res.statusText}`);
  return data;
}

const enc = encodeURIComponent;
const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '–');
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '–');

// ---- login --------------------------------------------------------------------------------

function Login({ onLogin }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, token);
    try {
      await api('/api/v1/stats');
      onLogin();
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      setError(err.status === 401 ? 'This token is not accepted.' : err.message);
    }
  };
  return html`<div class="login panel">
    <h2>nestmq dashboard</h2>
    <p class="muted">Enter the admin token (admin.token). It stays in this browser tab only.
      Without a configured token the API answers loopback clients only: leave it empty.</p>
    <form onSubmit=${submit} class="toolbar">
      <input id="token" type="password" autocomplete="off" placeholder="admin token" value=${token} onInput=${(e) => setToken(e.target.value)} />
      <button id="login" class="primary" type="submit">Sign in</button>
    </form>
    ${error && html`<div class="error" role="alert">${error}</div>`}
  </div>`;
}

// ---- overview -----------------------------------------------------------------------------

function Chart({ title, series, data }) {
  const ref = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const opts = {
      title,
      width: Math.max(320, ref.current.clientWidth),
      height: 200,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: s.fill }))],
      axes: [{}, { size: 60 }],
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    };
    plot.current = new window.uPlot(opts, data, ref.current);
    return () => plot.current.destroy();
  }, []);
  useEffect(() => {
    if (plot.current) plot.current.setData(data);
  }, [data]);
  return html`<div class="panel chart" ref=${ref}></div>`;
}

function Overview() {
  const [stats, setStats] = useState(null);
  const [error, setError] = useState(null);
  const hist = useRef({ t: [], conns: [], inRate: [], outRate: [], dropped: [], queued: [], last: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const s = await api('/api/v1/stats');
        if (stop) return;
        const now = Date.now() / 1000;
        const H = hist.current;
        const last = H.last;
        const dropped = s.messages.droppedSlowConsumer + s.messages.droppedQueueFull;
        if (last !== null) {
          const dt = Math.max(0.001, now - last.t);
          H.t.push(now);
          H.conns.push(s.connections.clients);
          H.inRate.push(Math.max(0, (s.messages.received - last.received) / dt));
          H.outRate.push(Math.max(0, (s.messages.sent - last.sent) / dt));
          H.dropped.push(Math.max(0, (dropped - last.dropped) / dt));
          H.queued.push(s.queues.queued);
          for (const k of ['t', 'conns', 'inRate', 'outRate', 'dropped', 'queued']) if (H[k].length > HISTORY) H[k].shift();
        }
        H.last = { t: now, received: s.messages.received, sent: s.messages.sent, dropped };
        setStats(s);
        setError(null);
        setTick((x) => x + 1);
      } catch (err) {
        if (!stop) setError(err.message);
      }
    };
    poll();
    const timer = setInterval(poll, 1000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, []);
  const H = hist.current;
  const d = (k) => [H.t.slice(), H[k].slice()];
  const msgs = useMemo(() => [H.t.slice(), H.inRate.slice(), H.outRate.slice()], [tick]);
  const conns = useMemo(() => d('conns'), [tick]);
  const dropped = useMemo(() => d('dropped'), [tick]);
  const queued = useMemo(() => d('queued'), [tick]);
  if (stats === null) return html`<p class="muted">${error ?? 'Loading…'}</p>`;
  const card = (label, value) => html`<div class="card"><div class="label">${label}</div><div class="value">${value}</div></div>`;
  return html`<section id="overview">
    ${error && html`<div class="error">${error}</div>`}
    <div class="cards">
      ${card('Clients connected', fmt(stats.connections.clients))}
      ${card('Sessions', fmt(stats.sessions))}
      ${card('Subscriptions', fmt(stats.subscriptions))}
      ${card('Retained', fmt(stats.retained))}
      ${card('Queued', fmt(stats.queues.queued))}
      ${card('Uptime', `${Math.floor(stats.uptimeSeconds / 60)} min`)}
    </div>
    <div class="charts">
      <${Chart} title="Connections" series=${[{ label: 'clients', color: '#2f6fde', fill: 'rgba(47,111,222,.08)' }]} data=${conns} />
      <${Chart} title="Messages per second" series=${[{ label: 'in', color: '#1f8a4c' }, { label: 'out', color: '#2f6fde' }]} data=${msgs} />
      <${Chart} title="Dropped per second" series=${[{ label: 'dropped', color: '#c8372d' }]} data=${dropped} />
      <${Chart} title="Queue depth (messages)" series=${[{ label: 'queued', color: '#b7791f', fill: 'rgba(183,121,31,.08)' }]} data=${queued} />
    </div>
  </section>`;
}

// ---- clients ------------------------------------------------------------------------------

const CLIENT_COLUMNS = [
  ['clientId', 'Client id'], ['username', 'Username'], ['remoteAddress', 'Address'], ['listener', 'Listener'],
  ['connectedAt', 'Connected'], ['subscriptions', 'Subs'], ['inflight', 'In flight'], ['queued', 'Queued'],
];

function ClientDetail({ clientId, onClose }) {
  const [session, setSession] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api(`/api/v1/sessions/${enc(clientId)}`).then(setSession, (err) => setError(err.message));
  }, [clientId]);
  return html`<div class="panel" id="client-detail">
    <div class="toolbar"><h2 style="margin:0;flex:1">Client <span class="mono">${clientId}</span></h2><button onClick=${onClose}>Close</button></div>
    ${error && html`<div class="error">${error}</div>`}
    ${session && html`<div>
      <dl class="kv">
        <dt>Connected</dt><dd>${session.connected ? 'yes' : 'no'}</dd>
        <dt>Clean session</dt><dd>${session.clean ? 'yes' : 'no'}</dd>
        <dt>Username</dt><dd>${session.username ?? '–'}</dd>
        <dt>In flight</dt><dd>${fmt(session.inflight)}</dd>
        <dt>Queued</dt><dd>${fmt(session.queued)} (${fmt(session.queuedBytes)} bytes)</dd>
        <dt>Expires</dt><dd>${session.expiresAt ? when(session.expiresAt) : 'not while connected'}</dd>
      </dl>
      <h2>Subscriptions</h2>
      <table><thead><tr><th>Filter</th><th>QoS</th></tr></thead>
        <tbody>${session.subscriptionList.map((s) => html`<tr><td class="mono">${s.filter}</td><td>${s.qos}</td></tr>`)}</tbody>
      </table>
      ${session.subscriptionList.length === 0 && html`<p class="muted">No subscriptions.</p>`}
    </div>`}
  </div>`;
}

function Clients() {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [search, setSearch] = useState('');
  const [sort, setSort] = useState({ key: 'clientId', dir: 1 });
  const [selected, setSelected] = useState(null);
  const load = useCallback(() => api('/api/v1/clients?limit=1000').then((d) => (setData(d), setError(null)), (err) => setError(err.message)), []);
  useEffect(() => {
    load();
    const timer = setInterval(load, 3000);
    return () => clearInterval(timer);
  }, []);
  const kick = async (e, clientId) => {
    e.stopPropagation();
    try {
      await api(`/api/v1/clients/${enc(clientId)}`, { method: 'DELETE' });
      if (selected === clientId) setSelected(null);
      await load();
    } catch (err) {
      setError(err.message);
    }
  };
  const rows = useMemo(() => {
    if (data === null) return [];
    const q = search.trim().toLowerCase();
    const r = data.items.filter((c) => q === '' || [c.clientId, c.username ?? '', c.remoteAddress].some((v) => v.toLowerCase().includes(q)));
    const { key, dir } = sort;
    return r.sort((a, b) => {
      const x = a[key] ?? '';
      const y = b[key] ?? '';
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
  }, [data, search, sort]);
  const sortBy = (key) => setSort((s) => ({ key, dir: s.key === key ? -s.dir : 1 }));
  return html`<section id="clients">
    <div class="panel">
      <div class="toolbar">
        <input id="client-search" type="search" placeholder="Search client id, username, address" value=${search} onInput=${(e) => setSearch(e.target.value)} />
        <button onClick=${load}>Refresh</button>
        <span class="muted">${data ? `${rows.length} of ${data.total} connected` : ''}</span>
      </div>
      ${error && html`<div class="error">${error}</div>`}
      <table id="clients-table">
        <thead><tr>
          ${CLIENT_COLUMNS.map(([k, label]) => html`<th class="sortable" onClick=${() => sortBy(k)}>${label}${sort.key === k ? (sort.dir > 0 ? ' ▲' : ' ▼') : ''}</th>`)}
          <th></th>
        </tr></thead>
        <tbody>${rows.map((c) => html`<tr class=${`row ${selected === c.clientId ? 'selected' : ''}`} data-client-id=${c.clientId} onClick=${() => setSelected(c.clientId)}>
          <td class="mono">${c.clientId}</td><td>${c.username ?? '–'}</td><td class="mono">${c.remoteAddress}</td><td>${c.listener}</td>
          <td>${when(c.connectedAt)}</td><td>${c.subscriptions}</td><td>${c.inflight}</td><td>${c.queued}</td>
          <td><button class="danger kick" onClick=${(e) => kick(e, c.clientId)}>Kick</button></td>
        </tr>`)}</tbody>
      </table>
      ${data && rows.length === 0 && html`<p class="muted">No connected client matches.</p>`}
    </div>
    ${selected && html`<${ClientDetail} key=${selected} clientId=${selected} onClose=${() => setSelected(null)} />`}
  </section>`;
}

// ---- retained messages --------------------------------------------------------------------

function buildTree(items) {
  const root = { name: '', children: new Map(), message: null, count: 0 };
  for (const m of items) {
    let node = root;
    node.count++;
    for (const level of m.topic.split('/')) {
      let child = node.children.get(level);
      if (!child) node.children.set(level, (child = { name: level, children: new Map(), message: null, count: 0 }));
      child.count++;
      node = child;
    }
    node.message = m;
  }
  return root;
}

function TreeNode({ node, depth, selected, onSelect }) {
  const [open, setOpen] = useState(depth < 3);
  const kids = [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const click = () => (node.message ? onSelect(node.message) : setOpen(!open));
  return html`<li>
    <span class=${`node ${node.message && selected === node.message.topic ? 'selected' : ''}`} data-topic=${node.message ? node.message.topic : undefined} onClick=${click}>
      <span class="toggle" onClick=${(e) => (e.stopPropagation(), setOpen(!open))}>${kids.length ? (open ? '▾' : '▸') : ''}</span>${node.name === '' ? html`<i class="muted">(empty)</i>` : node.name}
      ${kids.length > 0 && html`<span class="count">${node.count}</span>`}
    </span>
    ${open && kids.length > 0 && html`<ul>${kids.map((k) => html`<${TreeNode} key=${k.name} node=${k} depth=${depth + 1} selected=${selected} onSelect=${onSelect} />`)}</ul>`}
  </li>`;
}

function Retained() {
  const [filter, setFilter] = useState('#');
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [selected, setSelected] = useState(null);
  const load = async (e) => {
    if (e) e.preventDefault();
    try {
      setPage(await api(`/api/v1/retained?filter=${enc(filter)}&limit=1000`));
      setError(null);
    } catch (err) {
      setError(err.message);
    }
  };
  useEffect(() => void load(), []);
  const remove = async () => {
    try {
      await api(`/api/v1/retained/${enc(selected.topic)}`, { method: 'DELETE' });
      setSelected(null);
      await load();
    } catch (err) {
      setError(err.message);
    }
  };
  const tree = useMemo(() => (page ? buildTree(page.items) : null), [page]);
  return html`<section id="retained">
    <div class="panel">
      <form class="toolbar" onSubmit=${load}>
        <input id="retained-filter" type="text" value=${filter} onInput=${(e) => setFilter(e.target.value)} placeholder="topic filter, e.g. sensors/#" />
        <button class="primary" type="submit">Browse</button>
        <span class="muted">${page ? `${page.items.length} retained message(s)${page.next !== null ? ' shown: narrow the filter to see the rest' : ''}` : ''}</span>
      </form>
      ${error && html`<div class="error">${error}</div>`}
    </div>
    <div class="split">
      <div class="panel tree" id="retained-tree">
        ${tree && (tree.children.size === 0 ? html`<p class="muted">No retained message matches.</p>` : html`<ul>${[...tree.children.values()]
          .sort((a, b) => (a.name < b.name ? -1 : 1))
          .map((k) => html`<${TreeNode} key=${k.name} node=${k} depth=${0} selected=${selected && selected.topic} onSelect=${setSelected} />`)}</ul>`)}
      </div>
      <div class="panel" id="retained-message">
        ${selected
          ? html`<div>
              <div class="toolbar"><h2 class="mono" style="margin:0;flex:1">${selected.topic}</h2><button class="danger" id="retained-delete" onClick=${remove}>Delete</button></div>
              <p class="muted">QoS ${selected.qos} · ${fmt(selected.size)} bytes · ${selected.payloadUtf8 === null ? 'binary (base64)' : 'UTF-8'}</p>
              <pre class="payload">${selected.payloadUtf8 ?? selected.payloadBase64}</pre>
            </div>`
          : html`<p class="muted">Select a topic to see its retained message.</p>`}
      </div>
    </div>
  </section>`;
}

// ---- tracer -------------------------------------------------------------------------------

const TRACE_KEEP = 500;

/** Server-Sent Events over fetch (EventSource cannot send the bearer header). */
async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data) onEvent(event, JSON.parse(data));
    }
  }
}

function Tracer() {
  const [filter, setFilter] = useState('#');
  const [running, setRunning] = useState(false);
  const [messages, setMessages] = useState([]);
  const [counts, setCounts] = useState({ received: 0, dropped: 0 });
  const [error, setError] = useState(null);
  const abort = useRef(null);
  const stop = () => {
    if (abort.current) abort.current.abort();
    abort.current = null;
    setRunning(false);
  };
  useEffect(() => stop, []);
  const start = async (e) => {
    e.preventDefault();
    stop();
    const ctrl = new AbortController();
    abort.current = ctrl;
    setError(null);
    setMessages([]);
    setCounts({ received: 0, dropped: 0 });
    try {
      const res = await fetch(`/api/v1/trace?filter=${enc(filter)}`, { headers: authHeaders(), signal: ctrl.signal, cache: 'no-store' });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new Error(body.message || `${res.status} ${res.statusText}`);
      }
      setRunning(true);
      await readEvents(res, (event, data) => {
        if (event === 'message') {
          setMessages((m) => [data, ...m].slice(0, TRACE_KEEP));
          setCounts((c) => ({ received: c.received + 1, dropped: data.dropped }));
        } else if (event === 'stats') setCounts((c) => ({ ...c, dropped: data.dropped }));
      });
      if (abort.current === ctrl) setError('The broker closed the trace.');
    } catch (err) {
      if (err.name !== 'AbortError') setError(err.message);
    } finally {
      if (abort.current === ctrl) {
        abort.current = null;
        setRunning(false);
      }
    }
  };
  return html`<section id="tracer">
    <div class="panel">
      <form class="toolbar" onSubmit=${start}>
        <input id="trace-filter" type="text" value=${filter} onInput=${(e) => setFilter(e.target.value)} placeholder="topic filter, e.g. sensors/#" />
        <button id="trace-start" class="primary" type="submit">${running ? 'Restart' : 'Start'}</button>
        <button id="trace-stop" type="button" onClick=${stop} disabled=${!running}>Stop</button>
        <span class=${`badge ${running ? 'on' : ''}`} id="trace-state">${running ? 'tracing' : 'stopped'}</span>
        <span class="muted">${fmt(counts.received)} received · ${fmt(counts.dropped)} dropped (browser too slow)</span>
      </form>
      <p class="muted">Shows every message published on matching topics, whoever may read them: the administrator sees everything.</p>
      ${error && html`<div class="error">${error}</div>`}
    </div>
    <div class="panel trace-list">
      <table id="trace-table"><thead><tr><th>Time</th><th>Topic</th><th>From</th><th>QoS</th><th>Retain</th><th>Payload</th></tr></thead>
        <tbody>${messages.map((m) => html`<tr>
          <td>${new Date(m.time).toLocaleTimeString()}</td><td class="mono">${m.topic}</td><td class="mono">${m.clientId || html`<i class="muted">broker</i>`}</td>
          <td>${m.qos}</td><td>${m.retain ? 'yes' : ''}</td>
          <td class="mono">${m.payloadUtf8 ?? `base64:${m.payloadBase64}`}${m.truncated ? html`<span class="muted"> … (${fmt(m.size)} bytes)</span>` : ''}</td>
        </tr>`)}</tbody>
      </table>
      ${messages.length === 0 && html`<p class="muted">${running ? 'Waiting for messages…' : 'Start a trace to see messages.'}</p>`}
    </div>
  </section>`;
}

// ---- shell --------------------------------------------------------------------------------

const VIEWS = { overview: ['Overview', Overview], clients: ['Clients', Clients], retained: ['Retained', Retained], tracer: ['Tracer', Tracer] };

function currentView() {
  const v = location.hash.replace(/^#\/?/, '');
  return Object.prototype.hasOwnProperty.call(VIEWS, v) ? v : 'overview';
}

function App() {
  const [signedIn, setSignedIn] = useState(sessionStorage.getItem(TOKEN_KEY) !== null);
  const [view, setView] = useState(currentView());
  useEffect(() => {
    const onHash = () => setView(currentView());
    const onSignedOut = () => setSignedIn(false);
    window.addEventListener('hashchange', onHash);
    window.addEventListener(SIGNED_OUT, onSignedOut);
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener(SIGNED_OUT, onSignedOut);
    };
  }, []);
  if (!signedIn) return html`<${Login} onLogin=${() => setSignedIn(true)} />`;
  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    setSignedIn(false);
  };
  const View = VIEWS[view][1];
  return html`<div>
    <header>
      <h1>nestmq</h1>
      <nav>${Object.entries(VIEWS).map(([k, [label]]) => html`<a href=${`#${k}`} id=${`nav-${k}`} class=${view === k ? 'active' : ''}>${label}</a>`)}</nav>
      <button onClick=${signOut}>Sign out</button>
    </header>
    <main><${View} key=${view} /></main>
  </div>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the "Loading" line: Preact renders beside what it does not own
render(html`<${App} />`, root);
