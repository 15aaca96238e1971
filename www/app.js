// The remdb demo: a database in IndexedDB with in-page embeddings, driven from plain DOM code.
// Open -> register the `docs` table -> ingest the sample -> SQL, semantic search, graph, WAL.
import { RemDB } from 'remdb/full';

const DB_NAME = 'remdb-demo';
// Relative URLs: served next to this page (see serve.mjs); the package keeps them in the Cache API.
const MODEL = {
  model: 'models/all-MiniLM-L6-v2/model.onnx',
  tokenizer: 'models/all-MiniLM-L6-v2/tokenizer.json',
};

const DOCS_SCHEMA = {
  title: 'Docs',
  description: 'Short documents of the demo sample.',
  type: 'object',
  properties: {
    title: { type: 'string', minLength: 1 },
    topic: { type: 'string' },
    content: { type: 'string' },
  },
  required: ['title', 'content'],
  additionalProperties: false,
  json_schema_extra: {
    short_name: 'docs',
    key_field: 'title',
    indexed_fields: ['topic'],
    embedding_fields: ['content'],
    category: 'user',
  },
};

const EXAMPLES = [
  ['topics', 'SELECT topic, COUNT(*) AS n FROM docs GROUP BY topic ORDER BY n DESC, topic'],
  ['astronomy', "SELECT title, LENGTH(content) AS chars FROM docs WHERE topic = 'astronomy' ORDER BY title"],
  ['plan', "EXPLAIN SELECT title FROM docs WHERE topic = 'cooking' ORDER BY title"],
  ['lookup', "LOOKUP 'Jupiter', 'Risotto'"],
  ['similar', "SELECT title, topic, cosine_similarity(content, 'storing data safely on disk') AS score FROM docs WHERE content.cosine('storing data safely on disk') LIMIT 5", 'semantic'],
  ['error', 'SELECT colour FROM docs'],
];

const TOPIC_CLASSES = new Set(['databases', 'browsers', 'cooking', 'astronomy', 'gardening']);
const SVG = 'http://www.w3.org/2000/svg';
const GRAPH_WIDTH = 800; // the graph's viewBox
const GRAPH_HEIGHT = 460;

const $ = (id) => document.getElementById(id);
let db = null;
let semantic = false;
let docCount = -1;

main().catch((e) => {
  $('status').textContent = `Could not open the database: ${describe(e)}`;
  $('status').classList.add('error');
  log(`open failed: ${describe(e)}`);
});

async function main() {
  const started = performance.now();
  const opened = await openDatabase();
  db = opened.db;
  semantic = opened.modelError === null;
  globalThis.demo = { db }; // for poking at it from the console
  await db.registerSchema(DOCS_SCHEMA);

  const where = db.role === 'owner' ? 'this tab owns it' : 'shared with the tab that owns it';
  $('status').textContent = `Opened ${db.name} in IndexedDB (${where}) in ${seconds(started)}.`;
  if (semantic) {
    $('semantic-status').textContent = 'Semantic search: all-MiniLM-L6-v2 runs in this page (model cached for offline use).';
  } else {
    $('semantic-status').textContent = `Semantic search is unavailable: ${opened.modelError}. SQL, the graph and WAL export still work.`;
    $('semantic-status').classList.add('warning');
    $('search-input').placeholder = 'needs the embedding model';
  }
  document.body.dataset.semantic = semantic ? 'on' : 'off';
  log(`opened ${db.name} (${db.role}) in ${seconds(started)}${semantic ? ' with the embedding model' : ', without embeddings'}`);

  setUpSql();
  $('ingest').addEventListener('click', () => busy($('ingest'), 'Ingesting…', ingest));
  $('wal-export').addEventListener('click', () => busy($('wal-export'), 'Exporting…', exportWal));
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy($('search-run'), 'Searching…', search);
  });
  $('graph-select').addEventListener('change', () => showGraph($('graph-select').value));
  setUpFiles();
  $('ask-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy($('ask-run'), 'Asking…', ask);
  });

  setUpSync();

  db.onChange(scheduleRefresh);
  await refresh();
  for (const id of ['ingest', 'wal-export', 'sql-run', 'ask-run', 'file-input', 'file-search-input', 'file-search-run', 'sync-run']) $(id).disabled = false;
  $('search-run').disabled = !semantic;
  $('search-input').disabled = !semantic;
  document.body.dataset.ready = 'true';
}

/** The sync under way (`db.sync`'s handle), if any. */
let syncing = null;

function setUpSync() {
  // The hub's address is remembered in this browser; the token is not.
  $('sync-url').value = localStorage.getItem('remdb-demo-hub') ?? '';
  $('sync-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy($('sync-run'), 'Syncing…', startSync);
  });
  $('sync-stop').addEventListener('click', stopSync);
}

const SYNC_STATES = {
  pushing: 'Pushing local changes…',
  pulling: 'Pulling the hub\'s changes…',
  offline: 'The hub cannot be reached; retrying.',
  error: 'The last round failed; retrying.',
  stopped: 'Stopped.',
};

/** Starts one round (or a live sync) with the hub in the form. */
async function startSync() {
  const url = $('sync-url').value.trim();
  const token = $('sync-token').value.trim();
  $('sync-error').hidden = true;
  if (!url || !token) {
    showError('sync-error', 'Give the hub\'s URL and a token.');
    return;
  }
  localStorage.setItem('remdb-demo-hub', url);
  if (syncing) await stopSync();
  const live = $('sync-live').checked;
  const handle = db.sync({ url, token, live });
  syncing = handle;
  document.body.dataset.sync = 'started';
  handle.on((state, detail) => {
    if (state === 'idle' && detail) {
      $('sync-status').textContent = `Synced: pushed ${detail.pushed}, pulled ${detail.pulled}, `
        + `loaded ${detail.loaded}, ${detail.conflicts} conflict(s), ${detail.rejected} refused; hub at ${detail.hubSeq}`
        + (live ? '. Following the hub…' : '.');
      showConflicts();
    } else if (SYNC_STATES[state]) {
      $('sync-status').textContent = SYNC_STATES[state];
    }
    if ((state === 'error' || state === 'offline') && detail) showError('sync-error', describe(detail));
    document.body.dataset.sync = state;
  });
  $('sync-stop').hidden = !live;
  if (live) {
    log(`live sync with ${url}`);
    return;
  }
  try {
    const report = await handle.done;
    log(`synced with ${url}: pushed ${report.pushed}, pulled ${report.pulled}, loaded ${report.loaded}`);
  } catch (e) {
    showError('sync-error', describe(e));
    document.body.dataset.sync = 'error';
  } finally {
    if (syncing === handle) syncing = null;
  }
}

async function stopSync() {
  const handle = syncing;
  syncing = null;
  $('sync-stop').hidden = true;
  if (handle) await handle.stop();
}

/** Lists the concurrent writes the hub resolved that this database took part in. */
async function showConflicts() {
  const conflicts = await db.conflicts();
  $('sync-conflicts').replaceChildren(...conflicts.map((c) => {
    const li = document.createElement('li');
    li.textContent = `${c.table} ${c.id.slice(0, 8)} · ${c.field}: kept ${JSON.stringify(c.winner)} over ${JSON.stringify(c.loser)}`;
    return li;
  }));
}

/**
 * Opens the database with the embedding model; without it (files missing, or the model fails to
 * load) the database still opens, and the reason is returned as `modelError`.
 */
async function openDatabase() {
  const options = { name: DB_NAME, storage: 'indexeddb' };
  let modelError = await modelFilesMissing();
  if (modelError === null) {
    try {
      return { db: await RemDB.open({ ...options, embedding: MODEL }), modelError };
    } catch (e) {
      if (e.code !== 'EMBEDDING') throw e;
      modelError = `the model did not load (${describe(e)})`;
      await forgetModelFiles();
    }
  }
  return { db: await RemDB.open(options), modelError };
}

/** Why the model files cannot be had (null when they are cached or the server has them). */
async function modelFilesMissing() {
  for (const file of Object.values(MODEL)) {
    const url = new URL(file, location.href).href;
    if (typeof caches !== 'undefined' && (await caches.match(url).catch(() => null))) continue;
    const response = await fetch(url, { method: 'HEAD' }).catch((e) => ({ ok: false, status: e.message }));
    if (!response.ok) return `${file} is not available (${response.status}); run .ci/fetch-models`;
  }
  return null;
}

/** Drops the model files from the Cache API (where they were kept even if broken), so a reload fetches them again. */
async function forgetModelFiles() {
  if (typeof caches === 'undefined') return;
  const urls = Object.values(MODEL).map((file) => new URL(file, location.href).href);
  try {
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      await Promise.all(urls.map((url) => cache.delete(url)));
    }
  } catch {
    // Best effort: nothing else depends on it.
  }
}

// ---- live counts -------------------------------------------------------------------------------

let refreshTimer = null;

/** Coalesces the change notifications of a burst of writes into one refresh. */
function scheduleRefresh() {
  if (refreshTimer !== null) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refresh().catch((e) => log(`refresh failed: ${describe(e)}`));
  }, 50);
}

async function refresh() {
  const [docs, [topics], seq] = await Promise.all([
    db.count('docs'),
    db.sql('SELECT COUNT(DISTINCT topic) AS n FROM docs'),
    db.walSeq(),
  ]);
  $('count-docs').textContent = String(docs);
  $('count-topics').textContent = String(topics.n);
  $('count-wal').textContent = String(seq);
  if (docs !== docCount) {
    docCount = docs;
    await refreshDocList();
  } else {
    await showGraph($('graph-select').value); // edges may have changed
  }
}

/** Fills the graph's document picker and draws the selected (or first) document. */
async function refreshDocList() {
  const select = $('graph-select');
  const rows = await db.sql('SELECT id, title, topic FROM docs ORDER BY title');
  const previous = select.value;
  select.replaceChildren(...rows.map((row) => new Option(`${row.title} (${row.topic})`, row.id)));
  select.disabled = rows.length === 0;
  if (rows.length === 0) {
    select.append(new Option('(ingest the sample first)', ''));
    return;
  }
  select.value = rows.some((row) => row.id === previous) ? previous : rows[0].id;
  await showGraph(select.value);
}

// ---- ingest and WAL export ---------------------------------------------------------------------

async function ingest() {
  const started = performance.now();
  const response = await fetch('sample-docs.json');
  if (!response.ok) throw new Error(`sample-docs.json: HTTP ${response.status}`);
  const sample = await response.json();
  // One atomic batch; `title` is the table's key, so ingesting again updates the same rows.
  const ids = await db.insertMany('docs', sample.docs);
  const idOf = new Map(sample.docs.map((doc, i) => [doc.title, ids[i]]));
  // Issued together, the edges share one IndexedDB commit.
  await Promise.all(sample.links.map((link) => db.addEdge(idOf.get(link.from), idOf.get(link.to), link.rel)));
  log(`ingested ${ids.length} documents and ${sample.links.length} links in ${seconds(started)}`);
}

async function exportWal() {
  const entries = await db.walEntries();
  const text = entries.map((entry) => JSON.stringify(entry)).join('\n') + (entries.length ? '\n' : '');
  const blob = new Blob([text], { type: 'application/x-ndjson' });
  const link = $('wal-link');
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.download = `${DB_NAME}-wal-${entries.length ? entries[entries.length - 1].seq : 0}.jsonl`;
  link.textContent = `${link.download} (${entries.length} entries, ${kib(blob.size)})`;
  link.hidden = false;
  link.click();
  log(`exported ${entries.length} WAL entries`);
}

// ---- SQL ---------------------------------------------------------------------------------------

function setUpSql() {
  const examples = $('sql-examples');
  for (const [label, query, needs] of EXAMPLES) {
    if (needs === 'semantic' && !semantic) continue;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'chip';
    button.textContent = label;
    button.title = query;
    button.addEventListener('click', () => {
      $('sql-input').value = query;
      runSql();
    });
    examples.append(button);
  }
  $('sql-form').addEventListener('submit', (event) => {
    event.preventDefault();
    runSql();
  });
  $('sql-input').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      runSql();
    }
  });
}

async function runSql() {
  const error = $('sql-error');
  error.hidden = true;
  $('sql-summary').textContent = '';
  const started = performance.now();
  try {
    const rows = await db.sql($('sql-input').value);
    renderTable($('sql-results'), rows);
    $('sql-summary').textContent = `${rows.length} row${rows.length === 1 ? '' : 's'} in ${Math.round(performance.now() - started)} ms`;
  } catch (e) {
    $('sql-results').replaceChildren();
    error.textContent = describe(e);
    error.hidden = false;
  }
}

/** Rows as a table; the columns are every key, in the order they first appear. */
function renderTable(table, rows) {
  const columns = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  const head = document.createElement('tr');
  for (const column of columns) head.append(element('th', column));
  const body = rows.map((row) => {
    const tr = document.createElement('tr');
    for (const column of columns) {
      const value = row[column];
      const td = element('td', formatValue(value));
      if (value === null || value === undefined) td.className = 'null';
      else if (typeof value === 'number') td.className = 'number';
      tr.append(td);
    }
    return tr;
  });
  table.replaceChildren(element('thead', head), element('tbody', ...body));
}

function formatValue(value) {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(4);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// ---- your own files ----------------------------------------------------------------------------

function setUpFiles() {
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    if (db) ingestFiles([...event.dataTransfer.files]);
  });
  $('file-input').addEventListener('change', () => {
    const files = [...$('file-input').files];
    $('file-input').value = '';
    ingestFiles(files);
  });
  $('file-search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy($('file-search-run'), 'Finding…', findInFiles);
  });
}

/** Ingests dropped or chosen files into `resources`, one `db.ingest` each, and says what happened. */
async function ingestFiles(files) {
  if (files.length === 0) return;
  const status = $('files-status');
  status.classList.remove('error');
  status.textContent = `Ingesting ${files.length} file${files.length === 1 ? '' : 's'}…`;
  const started = performance.now();
  const total = { chunks: 0, written: 0, unchanged: 0 };
  const notes = [];
  for (const file of files) {
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const r = await db.ingest({ uri: file.name, bytes, mimeType: file.type || undefined });
      total.chunks += r.chunks;
      total.written += r.written;
      total.unchanged += r.unchanged;
      for (const s of r.skipped) notes.push(`${s.uri} skipped (${s.reason})`);
      for (const s of r.rejected) notes.push(`${s.uri} rejected (${s.message})`);
      for (const w of r.warnings) notes.push(`${w.uri}: ${w.message}`);
    } catch (e) {
      notes.push(`${file.name}: ${describe(e)}`);
    }
  }
  const summary = `${files.length} file${files.length === 1 ? '' : 's'}: ${total.chunks} chunk${total.chunks === 1 ? '' : 's'}, `
    + `${total.written} written, ${total.unchanged} unchanged in ${seconds(started)}`
    + (notes.length ? `; ${notes.join('; ')}` : '');
  status.textContent = summary;
  document.body.dataset.filesIngested = String(Number(document.body.dataset.filesIngested ?? 0) + 1);
  log(`ingested ${summary}`);
}

/** Keyword (BM25) search over the ingested files: needs no embedding model. */
async function findInFiles() {
  const query = $('file-search-input').value.trim();
  const list = $('file-results');
  if (!query) {
    list.replaceChildren();
    return;
  }
  try {
    const hits = await db.search('resources', query, { mode: 'keyword', topK: 5 });
    list.replaceChildren(...hits.map((hit) => {
      const score = element('span', hit._score.toFixed(2));
      score.className = 'score';
      const name = element('strong', ` ${hit.name} `);
      const where = element('code', `${hit.uri} #${hit.ordinal}`);
      const snippet = element('p', hit.content.length > 160 ? `${hit.content.slice(0, 157)}…` : hit.content);
      return element('li', score, name, where, snippet);
    }));
    if (hits.length === 0) list.replaceChildren(element('li', 'No chunk has these words.'));
  } catch (e) {
    list.replaceChildren(element('li', describe(e)));
  }
}

// ---- semantic search ---------------------------------------------------------------------------

async function search() {
  const query = $('search-input').value.trim();
  const list = $('search-results');
  const error = $('search-error');
  error.hidden = true;
  if (!query) {
    list.replaceChildren();
    return;
  }
  try {
    const hits = await db.search('docs', query, { topK: 5 });
    list.replaceChildren(...hits.map((hit) => {
      const title = element('button', hit.title);
      title.type = 'button';
      title.className = 'link';
      title.title = 'show its graph neighbourhood';
      title.addEventListener('click', () => {
        $('graph-select').value = hit.id;
        showGraph(hit.id);
      });
      const score = element('span', hit._score.toFixed(3));
      score.className = 'score';
      const topic = element('span', hit.topic ?? '');
      topic.className = `topic ${topicClass(hit.topic)}`;
      const snippet = element('p', hit.content.length > 160 ? `${hit.content.slice(0, 157)}…` : hit.content);
      return element('li', score, title, topic, snippet);
    }));
    if (hits.length === 0) list.replaceChildren(element('li', 'No documents yet: ingest the sample first.'));
  } catch (e) {
    list.replaceChildren();
    error.textContent = describe(e);
    error.hidden = false;
  }
}

// ---- ask ---------------------------------------------------------------------------------------

/** A question in plain language: the offline planner in this page, or the LLM the user entered. */
async function ask() {
  const question = $('ask-input').value.trim();
  const error = $('ask-error');
  error.hidden = true;
  $('ask-summary').textContent = '';
  $('ask-stages').replaceChildren();
  $('ask-results').replaceChildren();
  if (!question) return;
  const provider = $('ask-llm-provider').value.trim();
  const options = {};
  if (provider) {
    options.llm = { provider, baseUrl: $('ask-llm-url').value.trim() || undefined, apiKey: $('ask-llm-key').value || undefined };
  }
  const started = performance.now();
  try {
    const a = await db.ask(question, options);
    const confidence = element('span', a.confidence.toFixed(2));
    confidence.className = `confidence ${a.confidence >= 0.7 ? 'high' : a.confidence >= 0.4 ? 'medium' : 'low'}`;
    $('ask-summary').replaceChildren(
      `${a.status} · ${a.intent ?? 'no plan'} · confidence `, confidence,
      ` · ${a.planner} · ${Math.round(performance.now() - started)} ms — ${a.explanation}`,
    );
    $('ask-summary').dataset.status = a.status;
    $('ask-stages').replaceChildren(...a.stages.map((stage) => element('li', `${stage.kind}: ${stage.query} → ${stage.rows} rows`)));
    renderTable($('ask-results'), a.rows.map(({ content, ...rest }) => (content === undefined ? rest : { ...rest, content: truncate(content, 80) })));
  } catch (e) {
    error.textContent = describe(e);
    error.hidden = false;
  }
}

// ---- graph -------------------------------------------------------------------------------------

/** Draws the entities within two hops of `id`: rings by distance, children near their parent. */
async function showGraph(id) {
  const svg = $('graph');
  const error = $('graph-error');
  error.hidden = true;
  if (!id) {
    svg.replaceChildren();
    return;
  }
  try {
    const walk = await db.traverse(id, { maxDepth: 2, direction: 'both' });
    const rows = { ...walk.rows };
    rows[id] ??= await db.get(id);
    // BFS reaches each entity once, by a shortest path: its depth and the node before it.
    const nodes = new Map([[id, { id, depth: 0, parent: null }]]);
    for (const path of walk.paths) {
      const end = path.nodes[path.nodes.length - 1];
      if (path.depth > 0 && !nodes.has(end)) {
        nodes.set(end, { id: end, depth: path.depth, parent: path.nodes[path.nodes.length - 2] });
      }
    }
    // Every edge between the drawn entities, not only those on the BFS tree.
    const outgoing = await Promise.all([...nodes.keys()].map((n) => db.edges(n, { direction: 'out' })));
    const edges = outgoing.flat().filter((edge) => nodes.has(edge.dst));
    layout(nodes);
    drawGraph(svg, nodes, edges, rows);
  } catch (e) {
    svg.replaceChildren();
    error.textContent = describe(e);
    error.hidden = false;
  }
}

/** Positions: the centre, the first ring evenly around it, each child inside its parent's sector. */
function layout(nodes) {
  const cx = GRAPH_WIDTH / 2;
  const cy = GRAPH_HEIGHT / 2;
  const ring = (depth) => (depth === 1 ? { rx: 140, ry: 100 } : { rx: 240, ry: 185 });
  const first = [...nodes.values()].filter((n) => n.depth === 1);
  const sector = (2 * Math.PI) / Math.max(first.length, 1);
  for (const node of nodes.values()) {
    if (node.depth === 0) Object.assign(node, { x: cx, y: cy, angle: 0 });
  }
  // One neighbour goes to the right; more start half a sector past the top (two: left and right).
  const start = first.length === 1 ? 0 : -Math.PI / 2 + sector / 2;
  first.forEach((node, i) => { node.angle = start + i * sector; });
  for (const parent of first) {
    const children = [...nodes.values()].filter((n) => n.depth === 2 && n.parent === parent.id);
    children.forEach((child, j) => {
      child.angle = parent.angle + sector * 0.8 * ((j + 1) / (children.length + 1) - 0.5);
    });
  }
  for (const node of nodes.values()) {
    if (node.depth === 0) continue;
    const { rx, ry } = ring(node.depth);
    node.x = cx + Math.cos(node.angle) * rx;
    node.y = cy + Math.sin(node.angle) * ry;
  }
}

function drawGraph(svg, nodes, edges, rows) {
  const defs = svgElement('defs');
  const marker = svgElement('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svgElement('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' }));
  defs.append(marker);
  const edgeLayer = svgElement('g');
  const nodeLayer = svgElement('g');
  const radius = (node) => (node.depth === 0 ? 16 : 11);
  for (const edge of edges) {
    const a = nodes.get(edge.src);
    const b = nodes.get(edge.dst);
    // A gentle curve (control point off the midpoint), so edges across the centre do not overlap.
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const c = { x: (a.x + b.x) / 2 - dy * 0.15, y: (a.y + b.y) / 2 + dx * 0.15 };
    const from = towards(a, c, radius(a));
    const to = towards(b, c, radius(b) + 2);
    const line = svgElement('path', {
      class: 'edge',
      d: `M ${from.x} ${from.y} Q ${c.x} ${c.y} ${to.x} ${to.y}`,
      'marker-end': 'url(#arrow)',
    });
    line.append(svgElement('title', {}, `${rows[edge.src]?.title} -[${edge.rel}]-> ${rows[edge.dst]?.title}`));
    // The curve's midpoint.
    const mid = { x: (a.x + 2 * c.x + b.x) / 4, y: (a.y + 2 * c.y + b.y) / 4 };
    const label = svgElement('text', { class: 'rel', x: mid.x, y: mid.y - 3 }, edge.rel);
    edgeLayer.append(line, label);
  }
  for (const node of nodes.values()) {
    const row = rows[node.id] ?? {};
    const g = svgElement('g', { class: `node depth-${node.depth} ${topicClass(row.topic)}`, 'data-id': node.id, 'data-title': row.title ?? '', tabindex: 0 });
    g.append(
      svgElement('circle', { cx: node.x, cy: node.y, r: radius(node) }),
      svgElement('text', labelPosition(node, radius(node)), truncate(row.title ?? node.id, 22)),
      svgElement('title', {}, `${row.title} (${row.topic}, ${node.depth} hop${node.depth === 1 ? '' : 's'})`),
    );
    if (node.depth > 0) {
      const select = () => {
        $('graph-select').value = node.id;
        showGraph(node.id);
      };
      g.addEventListener('click', select);
      g.addEventListener('keydown', (event) => { if (event.key === 'Enter') select(); });
    }
    nodeLayer.append(g);
  }
  svg.replaceChildren(defs, edgeLayer, nodeLayer);
  if (nodes.size === 1) {
    svg.append(svgElement('text', { class: 'empty', x: GRAPH_WIDTH / 2, y: GRAPH_HEIGHT / 2 + 50 }, 'no links'));
  }
}

/** Where a node's label goes: on the outer ring outwards beside the node when left or right, else below or above. */
function labelPosition(node, r) {
  const cos = Math.cos(node.angle);
  if (node.depth === 2 && Math.abs(cos) > 0.45) {
    return { x: node.x + Math.sign(cos) * (r + 4), y: node.y + 4, 'text-anchor': cos > 0 ? 'start' : 'end' };
  }
  const above = node.depth > 0 && Math.sin(node.angle) < 0;
  return { x: node.x, y: above ? node.y - r - 5 : node.y + r + 13 };
}

/** The point `distance` from `p` in the direction of `q`. */
function towards(p, q, distance) {
  const length = Math.hypot(q.x - p.x, q.y - p.y) || 1;
  return { x: p.x + ((q.x - p.x) / length) * distance, y: p.y + ((q.y - p.y) / length) * distance };
}

// ---- helpers -----------------------------------------------------------------------------------

/** A RemDBError as `CODE: message`. */
function describe(e) {
  return e && e.code ? `${e.code}: ${e.message}` : String((e && e.message) || e);
}

/** Shows `message` in the error paragraph `id`. */
function showError(id, message) {
  $(id).textContent = message;
  $(id).hidden = false;
}

/** Runs `work` with `button` disabled and relabelled; failures go to the log. */
async function busy(button, label, work) {
  const text = button.textContent;
  button.disabled = true;
  button.textContent = label;
  try {
    await work();
  } catch (e) {
    log(`${text.toLowerCase()} failed: ${describe(e)}`);
  } finally {
    button.disabled = false;
    button.textContent = text;
  }
}

function log(message) {
  const list = $('log');
  const item = element('li', `${new Date().toLocaleTimeString()} ${message}`);
  list.prepend(item);
  while (list.children.length > 8) list.lastElementChild.remove();
}

function element(tag, ...children) {
  const el = document.createElement(tag);
  el.append(...children);
  return el;
}

function svgElement(tag, attributes = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) el.setAttribute(name, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

function topicClass(topic) {
  return TOPIC_CLASSES.has(topic) ? `topic-${topic}` : 'topic-other';
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function seconds(since) {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

function kib(bytes) {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(0)} KiB`;
}
