// Writes the summary of one benchmark run into docs/BENCHMARKS.md (between the `report:begin`
// and `report:end` markers; the rest of the file is left as it is) and its charts into
// docs/bench/*.svg. `benches/report.sh` runs the benchmarks and then this; run it alone to
// redraw a finished run:
//
//   node benches/report.mjs RESULTS.jsonl META.json
//
// RESULTS.jsonl holds one object per line, appended by the benchmarks (benches/common/report.rs
// natively, `record` in benches/node/harness.mjs in Node):
//   suite    "sql" | "store" | "graph" | "vector" | "embed" | "versions"
//   env      "native" | "node"
//   case     what was measured (a criterion group name, e.g. "scan_filter_10k")
//   engine   who did it: "remdb-…" for remdb, anything else is a peer
//   ns       mean (or median) time per operation, or seconds: one run's wall time
//   per_op   items per operation (rows, edges, texts) when a rate means something
//   label    what the case does, in words (a SQL text, "writing 1000000 edges …")
//   goal     the issue's target for it, as text
//   ef, recall, size   vector search: the ef of the point, its recall@10, the index size
//   reached  graph walks: entities reached per walk
//   version  with suite "versions": a peer's version
// META.json: { started, finished, commit, machine: {...}, versions: {...}, steps: [[name, s]] }.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const [resultsPath, metaPath] = process.argv.slice(2);
if (!resultsPath || !metaPath) {
  console.error('usage: node benches/report.mjs RESULTS.jsonl META.json');
  process.exit(2);
}
const results = fs
  .readFileSync(resultsPath, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line));
const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8'));
const docsDir = path.join(root, 'docs');
const chartDir = path.join(docsDir, 'bench');
fs.mkdirSync(chartDir, { recursive: true });

// ---- numbers in words ---------------------------------------------------------------------------

const isOurs = (engine) => engine.startsWith('remdb');
const timeNs = (r) => (r.ns !== undefined ? r.ns : r.seconds * 1e9);

function humanTime(ns) {
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toPrecision(3)} s`;
}

function humanRate(perSecond) {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toPrecision(3)}M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toPrecision(3)}k/s`;
  return `${perSecond.toPrecision(3)}/s`;
}

const cell = (r) => {
  if (!r) return '–';
  const ns = timeNs(r);
  let text = humanTime(ns);
  if (r.per_op > 1) text += ` (${humanRate((r.per_op * 1e9) / ns)})`;
  if (r.reached !== undefined) text += `, ${Math.round(r.reached)} reached`;
  return text;
};

const unique = (xs) => [...new Set(xs)];
const escapeXml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const escapeCell = (s) => String(s).replace(/\|/g, '\\|');

function markdownTable(headers, rows) {
  const line = (cells) => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [line(headers), `|${headers.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

/**
 * One table per suite: a row per case, a column per engine (native engines first), and for each
 * environment the ratio of remdb's best time to the best peer's.
 */
function suiteTable(suite) {
  const rs = results.filter((r) => r.suite === suite);
  const envs = unique(rs.map((r) => r.env)).sort();
  const columns = envs.flatMap((env) => unique(rs.filter((r) => r.env === env).map((r) => `${env}:${r.engine}`)));
  const cases = unique(rs.map((r) => r.case));
  const ratioEnvs = envs.filter((env) => rs.some((r) => r.env === env && !isOurs(r.engine)));
  const headers = [
    'operation',
    ...columns.map((c) => {
      const [env, engine] = c.split(':');
      return envs.length > 1 && !engine.includes('wasm') && env === 'node' ? `${engine} (Node)` : engine;
    }),
    ...ratioEnvs.map((env) => `remdb ÷ peer (${env === 'node' ? 'wasm in Node' : 'native'})`),
    'goal',
  ];
  const rows = cases.map((c) => {
    const of = (col) => rs.find((r) => r.case === c && `${r.env}:${r.engine}` === col);
    const ratios = ratioEnvs.map((env) => {
      const here = rs.filter((r) => r.case === c && r.env === env);
      const ours = Math.min(...here.filter((r) => isOurs(r.engine)).map(timeNs));
      const peer = Math.min(...here.filter((r) => !isOurs(r.engine)).map(timeNs));
      return Number.isFinite(ours) && Number.isFinite(peer) ? `${(ours / peer).toFixed(2)}×` : '–';
    });
    const goal = rs.find((r) => r.case === c && r.goal && r.goal !== '-')?.goal ?? '';
    return [c, ...columns.map((col) => cell(of(col))), ...ratios, goal];
  });
  return markdownTable(headers, rows);
}

/** The SQL texts and other labels of a suite's cases, as a list. */
function caseLabels(suite) {
  const rs = results.filter((r) => r.suite === suite && r.label);
  const seen = new Map();
  for (const r of rs) if (!seen.has(r.case)) seen.set(r.case, r.label);
  return [...seen].map(([c, label]) => `- \`${c}\`: ${suite === 'sql' ? `\`${label}\`` : label}`).join('\n');
}

// ---- charts -------------------------------------------------------------------------------------

const PALETTE = {
  ours: ['#1f5fbf', '#4f8fe0', '#0b3d7a', '#79aef0'],
  peers: ['#e07b1f', '#8c8c8c', '#b5463c', '#5a9e4b', '#a67cc4'],
};

/** A colour per engine: blues for remdb's, warm and grey ones for the peers. */
function colours(engines) {
  const out = {};
  let o = 0;
  let p = 0;
  for (const e of engines) out[e] = isOurs(e) ? PALETTE.ours[o++ % PALETTE.ours.length] : PALETTE.peers[p++ % PALETTE.peers.length];
  return out;
}

/** A tick's time: "100 ns", "1 µs", "10 ms". */
function tickTime(ns) {
  const [unit, scale] = ns < 1e3 ? ['ns', 1] : ns < 1e6 ? ['µs', 1e3] : ns < 1e9 ? ['ms', 1e6] : ['s', 1e9];
  return `${Number((ns / scale).toPrecision(3))} ${unit}`;
}

/** Log-scale ticks (1, 10, 100, … in `unit`s) between lo and hi. */
function logTicks(lo, hi) {
  const ticks = [];
  for (let t = 10 ** Math.floor(Math.log10(lo)); t <= hi * 1.0001; t *= 10) if (t >= lo / 1.0001) ticks.push(t);
  return ticks;
}

function svgDocument(width, height, body) {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function legend(entries, x, y) {
  return entries.flatMap(([name, colour], i) => [
    `<rect x="${x}" y="${y + i * 18 - 10}" width="12" height="12" fill="${colour}"/>`,
    `<text x="${x + 18}" y="${y + i * 18}">${escapeXml(name)}</text>`,
  ]);
}

/**
 * Horizontal bars of time per operation, log scale: one group per case, one bar per engine.
 * `records` all have a time; returns the SVG text.
 */
function barChart(title, records) {
  const cases = unique(records.map((r) => r.case));
  const engines = unique(records.map((r) => `${r.engine}${r.env === 'node' && !r.engine.includes('wasm') && isOurs(r.engine) ? ' (Node)' : ''}`));
  const key = (r) => `${r.engine}${r.env === 'node' && !r.engine.includes('wasm') && isOurs(r.engine) ? ' (Node)' : ''}`;
  const colour = colours(engines);
  const times = records.map(timeNs);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...times)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...times)));
  const left = 190;
  const plotWidth = 520;
  const bar = 11;
  const groupGap = 14;
  const top = 40;
  const rowsHeight = cases.reduce((h, c) => h + records.filter((r) => r.case === c).length * bar + groupGap, 0);
  const legendTop = top + rowsHeight + 52;
  const height = legendTop + engines.length * 18 + 10;
  const width = left + plotWidth + 150;
  const x = (ns) => left + ((Math.log10(ns) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotWidth;
  const body = [`<text x="${left}" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`];
  for (const t of logTicks(lo, hi)) {
    body.push(`<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${top + rowsHeight}" stroke="#dddddd"/>`);
    body.push(`<text x="${x(t)}" y="${top + rowsHeight + 16}" text-anchor="middle" fill="#555555">${escapeXml(tickTime(t))}</text>`);
  }
  let y = top;
  for (const c of cases) {
    const group = records.filter((r) => r.case === c);
    body.push(`<text x="${left - 8}" y="${y + (group.length * bar) / 2 + 4}" text-anchor="end">${escapeXml(c)}</text>`);
    for (const r of group) {
      const ns = timeNs(r);
      body.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(ns) - left).toFixed(1)}" height="${bar - 2}" fill="${colour[key(r)]}"><title>${escapeXml(`${key(r)}: ${humanTime(ns)}`)}</title></rect>`);
      body.push(`<text x="${(x(ns) + 4).toFixed(1)}" y="${y + bar - 3}" font-size="9" fill="#333333">${escapeXml(humanTime(ns))}</text>`);
      y += bar;
    }
    y += groupGap;
  }
  body.push(`<text x="${left + plotWidth / 2}" y="${top + rowsHeight + 30}" text-anchor="middle" fill="#555555">time per operation (log scale; shorter is faster)</text>`);
  body.push(...legend(engines.map((e) => [e, colour[e]]), left, legendTop));
  return svgDocument(width, height, body);
}

/**
 * Lines on a plot: `series` = [{name, points: [[x, y], …]}], with a log y axis when `logY`.
 * Axes are labelled by `xLabel`/`yLabel`; ticks are formatted by `fmtX`/`fmtY`.
 */
function lineChart({ title, series, xLabel, yLabel, logY, fmtX, fmtY, xTicks }) {
  const left = 70;
  const top = 40;
  const plotWidth = 520;
  const plotHeight = 300;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const xPad = (x1 - x0 || 1) * 0.05;
  const xLo = x0 - xPad;
  const xHi = x1 + xPad;
  let yLo;
  let yHi;
  let yStep;
  if (logY) {
    yLo = 10 ** Math.floor(Math.log10(Math.min(...ys)));
    yHi = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  } else {
    // A round step (1, 2 or 5 times a power of ten) giving about five ticks.
    const raw = (Math.max(...ys) * 1.05) / 5;
    const power = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw);
    yLo = 0;
    yHi = Math.ceil((Math.max(...ys) * 1.05) / step) * step;
    yStep = step;
  }
  const px = (v) => left + ((v - xLo) / (xHi - xLo)) * plotWidth;
  const py = (v) =>
    logY
      ? top + plotHeight - ((Math.log10(v) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * plotHeight
      : top + plotHeight - ((v - yLo) / (yHi - yLo)) * plotHeight;
  const colour = colours(series.map((s) => s.name));
  const body = [`<text x="${left}" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`];
  const yTicks = logY ? logTicks(yLo, yHi) : Array.from({ length: Math.round(yHi / yStep) + 1 }, (_, i) => yStep * i);
  for (const t of yTicks) {
    body.push(`<line x1="${left}" y1="${py(t).toFixed(1)}" x2="${left + plotWidth}" y2="${py(t).toFixed(1)}" stroke="#dddddd"/>`);
    body.push(`<text x="${left - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end" fill="#555555">${escapeXml(fmtY(t))}</text>`);
  }
  for (const t of xTicks ?? Array.from({ length: 6 }, (_, i) => x0 + ((x1 - x0) / 5) * i)) {
    body.push(`<line x1="${px(t).toFixed(1)}" y1="${top}" x2="${px(t).toFixed(1)}" y2="${top + plotHeight}" stroke="#eeeeee"/>`);
    body.push(`<text x="${px(t).toFixed(1)}" y="${top + plotHeight + 16}" text-anchor="middle" fill="#555555">${escapeXml(fmtX(t))}</text>`);
  }
  body.push(`<rect x="${left}" y="${top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999999"/>`);
  for (const s of series) {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    body.push(`<path d="${d}" fill="none" stroke="${colour[s.name]}" stroke-width="2"/>`);
    for (const p of pts) {
      body.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3" fill="${colour[s.name]}"><title>${escapeXml(`${s.name}: ${fmtX(p[0])}, ${fmtY(p[1])}`)}</title></circle>`);
    }
  }
  body.push(`<text x="${left + plotWidth / 2}" y="${top + plotHeight + 34}" text-anchor="middle" fill="#555555">${escapeXml(xLabel)}</text>`);
  body.push(`<text transform="translate(16 ${top + plotHeight / 2}) rotate(-90)" text-anchor="middle" fill="#555555">${escapeXml(yLabel)}</text>`);
  body.push(...legend(series.map((s) => [s.name, colour[s.name]]), left + plotWidth + 16, top + 10));
  return svgDocument(left + plotWidth + 230, top + plotHeight + 50, body);
}

const seriesName = (r) => `${r.engine} (${r.env === 'node' ? 'Node' : 'native'})`;

function writeChart(name, svg) {
  fs.writeFileSync(path.join(chartDir, name), svg);
  return `![${name}](bench/${name})`;
}

// ---- the report ---------------------------------------------------------------------------------

const sections = [];
const timed = (suite) => results.filter((r) => r.suite === suite && (r.ns !== undefined || r.seconds !== undefined));

const m = meta.machine ?? {};
const steps = (meta.steps ?? []).map(([name, secs]) => `${name} ${Math.round(secs)} s`).join(', ');
const versions = { ...(meta.versions ?? {}) };
for (const r of results.filter((x) => x.suite === 'versions')) versions[r.engine] = r.version;
sections.push(
  [
    '## Summary: one run of `bash benches/report.sh`',
    '',
    `Written by \`benches/report.sh\` on ${meta.finished ?? '?'} from commit \`${meta.commit ?? '?'}\`; edit the script, not this section. ` +
      `The measurements took ${((meta.seconds ?? 0) / 60).toFixed(1)} min (${steps}), after ${Math.round(meta.buildSeconds ?? 0)} s of compiling.`,
    '',
    `Machine: ${m.cpu ?? '?'}, ${m.cores ?? '?'} cores, ${m.memory ?? '?'} memory, ${m.os ?? '?'}.`,
    '',
    `Versions: ${Object.entries(versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
    'Every cell is the mean time per operation of that engine in this run (criterion natively, the Node harness in Node), ' +
      'with a rate where the operation handles many items. "remdb ÷ peer" divides remdb\'s best time by the best peer\'s in the ' +
      'same environment: below 1 remdb is faster. The sections after this one describe each benchmark, its method and its history.',
  ].join('\n'),
);

/**
 * A suite's section: `intro`, its table, the texts of its cases, and a bar chart titled
 * `chart` (none without one).
 */
function suiteSection(suite, heading, { intro, chart } = {}) {
  const parts = [`### ${heading}`];
  if (intro) parts.push(intro);
  parts.push(suiteTable(suite));
  const labels = caseLabels(suite);
  if (labels) parts.push(labels);
  if (chart) parts.push(writeChart(`${suite}.svg`, barChart(chart, timed(suite))));
  return parts.join('\n\n');
}

if (timed('sql').length) {
  sections.push(suiteSection('sql', 'SQL', { chart: 'SQL: time per query (100k-row and 10k-row tables)' }));
}
if (timed('store').length) {
  sections.push(suiteSection('store', 'Store operations', { chart: 'Store operations: time per operation' }));
}
if (timed('graph').length) {
  sections.push(
    suiteSection('graph', 'Graph', {
      intro: 'remdb natively and its wasm build in Node (no peer runs these walks in the same process).',
      chart: 'Graph: 100k entities, 1M edges',
    }),
  );
}

const searches = results.filter((r) => r.suite === 'vector' && r.case === 'vector_hnsw');
const builds = results.filter((r) => r.suite === 'vector' && r.case === 'build');
if (searches.length || builds.length) {
  const lines = ['### Vector search (GloVe-50, cosine, k = 10)', ''];
  // One curve per system and index size (a run may measure several sizes).
  const curveKey = (r) => `${seriesName(r)}@${r.size}`;
  const curves = unique(searches.map(curveKey)).map((key) => {
    const these = searches.filter((r) => curveKey(r) === key && r.recall !== null && r.recall !== undefined);
    return { name: seriesName(these[0]), size: these[0].size, points: these.map((r) => [r.recall, 1e9 / r.ns]) };
  });
  if (curves.length) {
    const best = curves.map((c) => {
      const ok = c.points.filter((p) => p[0] >= 0.95).sort((a, b) => b[1] - a[1])[0];
      return [c.name, c.size.toLocaleString('en'), ok ? `${Math.round(ok[1])} QPS (recall ${ok[0].toFixed(3)})` : 'recall 0.95 not reached', ...c.points.sort((a, b) => a[0] - b[0]).slice(-1).map((p) => `${Math.round(p[1])} QPS at ${p[0].toFixed(3)}`)];
    });
    lines.push(markdownTable(['system', 'index size', 'best QPS at recall@10 ≥ 0.95', 'highest recall measured'], best), '');
    const bySize = unique(curves.map((c) => c.size));
    for (const size of bySize) {
      const these = curves.filter((c) => c.size === size && c.points.length);
      if (!these.length) continue;
      lines.push(
        writeChart(
          `vector-recall-qps-${size}.svg`,
          lineChart({
            title: `Vector search over ${size.toLocaleString('en')} vectors: queries per second against recall@10`,
            series: these,
            xLabel: 'recall@10 (right is better)',
            yLabel: 'queries per second, one thread (log)',
            logY: true,
            fmtX: (v) => v.toFixed(2),
            fmtY: (v) => (v >= 1000 ? `${v / 1000}k` : String(v)),
          }),
        ),
        '',
      );
    }
  }
  if (builds.length) {
    const rows = builds
      .slice()
      .sort((a, b) => a.size - b.size || a.seconds - b.seconds)
      .map((r) => [seriesName(r), r.size.toLocaleString('en'), `${r.seconds.toFixed(1)} s`, `${Math.round(r.size / r.seconds).toLocaleString('en')}/s`]);
    lines.push('Building an index (remdb: rows, vectors and the HNSW graph; the peers: their index alone):', '', markdownTable(['system', 'vectors', 'build', 'vectors/s'], rows), '');
    const buildSeries = unique(builds.map(seriesName))
      .map((name) => ({ name, points: builds.filter((r) => seriesName(r) === name).map((r) => [r.size, r.seconds]) }))
      .filter((s) => s.points.length > 1);
    if (buildSeries.length) {
      const sizes = unique(builds.map((r) => r.size)).sort((a, b) => a - b);
      lines.push(
        writeChart(
          'vector-build.svg',
          lineChart({
            title: 'Building an HNSW index: seconds against index size',
            series: buildSeries,
            xLabel: 'vectors in the index',
            yLabel: 'seconds (lower is faster)',
            logY: false,
            fmtX: (v) => `${Math.round(v / 1000)}k`,
            fmtY: (v) => v.toFixed(0),
            xTicks: sizes,
          }),
        ),
        '',
      );
    }
  }
  const grows = results.filter((r) => r.suite === 'vector' && r.case === 'grow_10k');
  for (const g of grows) lines.push(`${g.label}, ${seriesName(g)}: ${g.seconds.toFixed(2)} s (goal ${g.goal}).`, '');
  sections.push(lines.join('\n').trimEnd());
}
if (timed('embed').length) {
  sections.push(suiteSection('embed', 'Embeddings (all-MiniLM-L6-v2 int8, one thread)'));
}

// ---- into docs/BENCHMARKS.md --------------------------------------------------------------------

const BEGIN = '<!-- report:begin: written by benches/report.sh -->';
const END = '<!-- report:end -->';
const docPath = path.join(docsDir, 'BENCHMARKS.md');
const doc = fs.readFileSync(docPath, 'utf8');
const block = `${BEGIN}\n${sections.join('\n\n')}\n${END}`;
const from = doc.indexOf(BEGIN);
const to = doc.indexOf(END);
let next;
if (from >= 0 && to > from) {
  next = doc.slice(0, from) + block + doc.slice(to + END.length);
} else {
  // First report: after the introduction, before the first section.
  const at = doc.indexOf('\n## ');
  next = at >= 0 ? `${doc.slice(0, at + 1)}${block}\n\n${doc.slice(at + 1)}` : `${doc}\n${block}\n`;
}
fs.writeFileSync(docPath, next);
console.error(`wrote the summary into docs/BENCHMARKS.md and ${fs.readdirSync(chartDir).length} charts into docs/bench/`);
