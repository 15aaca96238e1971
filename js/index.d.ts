// Types of the remdb npm package. One API in every runtime: every method returns a Promise,
// failures reject with a `RemDBError` carrying a stable `code`.

/** A JSON value as remdb stores it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object: an entity, a patch, a schema, a SQL row. */
export type JsonObject = { [key: string]: Json };

/** A stored entity: its data plus the system fields remdb maintains. */
export interface Row extends JsonObject {
  id: string;
  created_at: string;
  modified_at: string;
  deleted_at: string | null;
}

/** Stable error codes (`RemDBError.code`). */
export type ErrorCode =
  | 'VALIDATION'
  | 'NOT_FOUND'
  | 'UNKNOWN_TABLE'
  | 'UNKNOWN_COLUMN'
  | 'INVALID_ARGUMENT'
  | 'INVALID_SCHEMA'
  | 'WAL'
  | 'STORAGE'
  | 'SQL_SYNTAX'
  | 'SQL_UNSUPPORTED'
  | 'SQL_TYPE'
  | 'EMBEDDING'
  | 'LLM'
  | 'LIMIT'
  | 'CLOSED'
  | 'LOCKED'
  | 'UNSUPPORTED';

/** One reason a value failed its table's JSON Schema. */
export interface ValidationIssue {
  /** JSON pointer to the offending value (`""` is the whole entity). */
  pointer: string;
  reason: string;
}

/** Every rejection of the API is one of these. */
export class RemDBError extends Error {
  readonly code: ErrorCode;
  /** Present for `VALIDATION` errors. */
  readonly issues?: ValidationIssue[];
}

/** Where the ONNX model or tokenizer comes from: a URL (fetched, then cached) or the bytes. */
export type Resource = string | URL | ArrayBuffer | Uint8Array;

/** In-module embeddings (the `remdb/full` build): an all-MiniLM-L6-v2 style ONNX model. */
export interface LocalEmbeddingOptions {
  model: Resource;
  tokenizer: Resource;
  /** Provider name the model answers for (default `local:all-MiniLM-L6-v2`). */
  provider?: string;
  /** Keep fetched model files in the Cache API for offline reloads (default true in browsers). */
  cache?: boolean;
}

/** An OpenAI- or Cohere-compatible embedding HTTP API. */
export interface RemoteEmbeddingOptions {
  /** `openai:<model>` or `cohere:<model>`. */
  provider: string;
  baseUrl?: string;
  apiKey?: string;
  dimensions?: number;
  timeoutMs?: number;
  maxRetries?: number;
  batchSize?: number;
}

/** What a custom embedder is asked to embed: rows' texts (`document`) or search texts (`query`). */
export interface CustomEmbedContext {
  kind: 'document' | 'query';
}

/**
 * Embeddings from your own code (e.g. transformers.js on WebGPU), for tables whose
 * `embedding_provider` is `provider` (or all tables: it becomes the default provider). Rows are
 * embedded in the background after each write (`await db.flush()` waits); `search` and SQL
 * similarity await it for their text. What `embed` returns is checked: a throw, a rejection, or
 * anything but one finite `Float32Array` of `dimensions` values per text is an `EMBEDDING` error
 * and nothing of it is stored. Not with `storage: 'opfs'` (the database runs in a worker).
 */
export interface CustomEmbeddingOptions {
  /** `custom:<name>`. */
  provider: `custom:${string}`;
  /** The length of every vector `embed` returns. */
  dimensions: number;
  /** One vector per text, in order. */
  embed: (texts: string[], context: CustomEmbedContext) => Promise<Float32Array[]> | Float32Array[];
  /** A promise `embed` returns that has not settled after this long fails with `EMBEDDING` (default 60000). */
  timeoutMs?: number;
}

export interface OpenOptions {
  /** Database name: the IndexedDB database and the Web Locks / BroadcastChannel name. */
  name?: string;
  /** Tenant this handle reads and writes (default `default`). */
  tenant?: string;
  /**
   * `memory` (default): gone on close. `indexeddb`: durable in the browser, runs in this tab.
   * `opfs`: durable in the browser's origin private file system, runs in a dedicated worker.
   * Persistent writes are durable when their Promise resolves.
   */
  storage?: 'memory' | 'indexeddb' | 'opfs';
  /** Embeddings computed on insert into tables with `embedding_fields`. */
  embedding?: LocalEmbeddingOptions | RemoteEmbeddingOptions | CustomEmbeddingOptions;
  /** `inline` (default with a local model): inserts embed before they resolve. `background`: queued. */
  embeddingMode?: 'inline' | 'background' | 'off';
  /** Largest row (its JSON, in bytes) a write accepts; larger ones reject with `LIMIT` (default 16 MiB). */
  maxRowBytes?: number;
  /** Multi-tab (indexeddb, opfs): `proxy` (default) sends this tab's calls to the tab that owns the database; `fail` rejects with `LOCKED`. */
  tabs?: 'proxy' | 'fail';
  /** The work every query and graph walk may do, unless a call gives its own `budget`. */
  budget?: Budget;
}

/**
 * How much work one query or graph walk may do; an omitted setting inherits the database's
 * (`RemDB.open({budget})`), else its default. Running out rejects with code `LIMIT`, naming the
 * setting and its value.
 */
export interface Budget {
  /** Rows read plus rows joins produce (graph walks: edges followed). Default 1,000,000,000. */
  maxRowsExamined?: number;
  /** Bytes (an estimate) held at once: sorted, grouped and joined rows, paths. Default 1 GiB. */
  maxMemoryBytes?: number;
  /** Milliseconds. Default 60,000. */
  maxTimeMs?: number;
}

export interface SqlOptions {
  budget?: Budget;
}

/**
 * What the app's own LLM function is asked (`ask({llm: async (request) => response})`): the
 * parts of the prompt, the JSON Schema of the plan, and an OpenAI chat-completions `body` built
 * from them (its `model` is "default": your backend picks the model and adds its key).
 */
export interface AskLlmRequest {
  provider: 'openai';
  model: null;
  system: string;
  messages: { role: 'user' | 'assistant'; content: string }[];
  schema: JsonObject;
  body: JsonObject;
}

/** An LLM reached with `fetch` from where the database runs. Keys in a page are visible to its users: prefer the function form there. */
export interface AskLlmHttp {
  /** `openai:<model>` (any OpenAI-compatible server with `baseUrl`) or `anthropic:<model>`. */
  provider: string;
  apiKey?: string;
  baseUrl?: string;
  timeoutMs?: number;
  maxRetries?: number;
}

export interface AskOptions {
  /** Answer from this table's rows. */
  table?: string;
  /** The offline planner only, even with `llm`. */
  offline?: boolean;
  /**
   * The LLM that plans: an HTTP provider, or your function, which gets an `AskLlmRequest` and
   * returns the provider's response (an OpenAI or Anthropic response object or its JSON text),
   * the model's text, or the plan object. Without it the offline planner answers.
   */
  llm?: AskLlmHttp | ((request: AskLlmRequest) => Promise<Json> | Json);
  /** Most stages in the plan (1–3, default 3). */
  maxStages?: number;
  /** Return the plan without running it. */
  plan?: boolean;
  /** Bounds each query the plan runs (over the database's budget). */
  budget?: Budget;
  /** "Now" for time phrases ("last 7 days"); default: the clock, in this host's timezone. */
  now?: Date | string;
}

/** One stage of a plan as it ran: its query (SQL with `$n` parameters, a TRAVERSE, a LOOKUP) and rows. */
export interface AskStage {
  kind: string;
  query: string;
  params?: Json[];
  rows: number;
}

/** The answer to `ask`. */
export interface Answer {
  status: 'ok' | 'empty' | 'ambiguous' | 'unanswerable' | 'refused' | 'failed';
  intent: 'entity_lookup' | 'sql' | 'vector' | 'hybrid' | 'graph' | 'aggregate' | null;
  /** 0 to 1, from grounding, validation, execution and agreement signals (not the LLM's say-so). */
  confidence: number;
  /** `offline`, or the LLM that planned. */
  planner: string;
  /** The typed plan that ran: `{intent, stages, return, fallback, explanation}`. */
  plan: JsonObject | null;
  stages: AskStage[];
  /** Full rows with `id` and `_table`; a count is one row `{count}`. */
  rows: JsonObject[];
  explanation: string;
  llm_calls: number;
  /** What the pre-pass found: ids and keys, the time range, linked tables, fields and values. */
  hints: JsonObject;
}

export interface ListOptions {
  limit?: number;
  offset?: number;
  includeDeleted?: boolean;
}

export interface SearchOptions {
  topK?: number;
  minScore?: number;
  /** Only rows matching this: a SQL boolean expression over the table, or `{column: value}` equalities. */
  where?: string | JsonObject;
  /** Parameters (`$1`, `$2`, ...) of a string `where`. */
  params?: Json[];
  field?: string;
  provider?: string;
  alt?: boolean;
  ef?: number;
  includeDeleted?: boolean;
  /** `vector` (default): by similarity; `keyword`: BM25 over the table's `fulltext_fields` (no
   * embedder needed; `field` names one full-text field); `hybrid`: both, fused. */
  mode?: 'vector' | 'keyword' | 'hybrid';
  /** Hybrid only: weigh normalised scores `alpha × vector + (1 − alpha) × BM25` instead of
   * reciprocal-rank fusion. */
  alpha?: number;
}

/** A search result: the row plus its score (higher is better: similarity, BM25, or the fused
 * hybrid score, with each side's score in hybrid mode where the row was found by it). */
export type ScoredRow = Row & { _score: number; _vector_score?: number; _keyword_score?: number };

export type Direction = 'out' | 'in' | 'both';

export interface Edge {
  src: string;
  dst: string;
  rel: string;
  properties: JsonObject;
  created_at: string;
  modified_at: string;
}

export interface EdgeOptions {
  direction?: Direction;
  rel?: string;
}

export interface TraverseOptions {
  strategy?: 'bfs' | 'dfs';
  maxDepth?: number;
  direction?: Direction;
  relTypes?: string[];
  target?: string;
  includeDeleted?: boolean;
  includeRows?: boolean;
  limit?: number;
  budget?: Budget;
}

export interface PathOptions {
  direction?: Direction;
  relTypes?: string[];
  maxDepth?: number;
  limit?: number;
  weighted?: boolean;
  includeDeleted?: boolean;
  includeRows?: boolean;
  budget?: Budget;
}

/** `cycles` options: the path options (but `weighted`), and the table a search without an id covers. */
export interface CycleOptions extends Omit<PathOptions, 'weighted'> {
  table?: string;
}

/** An edge to add with `addEdges`. */
export interface NewEdge {
  src: string;
  dst: string;
  rel: string;
  properties?: JsonObject;
}

export interface Path {
  nodes: string[];
  edges: Edge[];
  depth: number;
  cost?: number;
}

export interface Paths {
  paths: Path[];
  rows: { [id: string]: Row };
  truncated: boolean;
}

export interface WalEntry {
  seq: number;
  ts: string;
  op: "insert" | "update" | "delete" | "purge" | "schema" | "link" | "unlink" | "vector";
  table: string;
  id?: string;
  data: Json;
  /** Hybrid logical clock of the write: 16 hex digits (48-bit ms, 16-bit counter). */
  hlc?: string;
  /** Updates and soft deletes: the top-level fields the write changed. */
  fields?: string[];
  /** Set when the entry applied the sync hub's entry at this sequence number. */
  hub?: number;
  /** Inserts, updates, soft deletes: the version (16 hex digits) of the table's schema the
   *  write was made under; the sync hub carries ops of an earlier version forward. */
  schema_sha?: string;
}

export interface ApplyReport {
  applied: number;
  skipped: number;
  seq: number;
}

/** A document for `ingest`: its text, or its bytes (a PDF with `remdb/full`, or text in any encoding). */
export interface IngestDocument {
  /** The document's URI: each chunk's `uri` (with `ordinal`, its identity). */
  uri: string;
  text?: string;
  bytes?: Uint8Array | ArrayBuffer;
  /** e.g. `text/markdown`, `application/pdf`; else read from the URI's extension and the bytes. */
  mimeType?: string;
  /** Where chunks go (default `resources`); CSV/JSON/JSONL rows need it. */
  table?: string;
  /** Chunk size in tokens of the embedding model (4 characters a token without its tokenizer); default 200. */
  chunkTokens?: number;
  /** Overlap of consecutive chunks, same unit; default 20. */
  overlap?: number;
  /** Report what would be written, write nothing. */
  dryRun?: boolean;
}

/** What `ingest` did. */
export interface IngestReport {
  documents: number;
  /** Documents whose chunks (or rows) were written. */
  ingested: number;
  /** Chunks the document consists of (data files: rows). */
  chunks: number;
  /** Rows written (new or changed). */
  written: number;
  /** Documents already stored as they are: nothing written. */
  unchanged: number;
  /** Rows soft-deleted (surplus chunks of a document that shrank). */
  deleted: number;
  skipped: { uri: string; reason: string }[];
  rejected: { uri: string; code: string; message: string }[];
  warnings: { uri: string; message: string }[];
  bytes: number;
  dry_run: boolean;
  /** The `moments` row recording the ingestion, when it changed anything. */
  moment?: string;
}

export interface TableSchema {
  name: string;
  category: string;
  [field: string]: Json;
}

/** What `optimizeVectors` did to one vector index. */
export interface OptimizeReport {
  table: string;
  field: string;
  provider: string;
  /** Pending vectors built into a segment. */
  sealed: number;
  /** Segments merged away. */
  merged: number;
  /** Segments after optimizing. */
  segments: number;
}

/** Whether an embedding provider can embed. */
export interface ProviderStatus {
  provider: string;
  ready: boolean;
  /** Why it cannot embed, when not ready. */
  error?: string;
  /** Vector length, when ready. */
  dimensions?: number;
}

/** What `embeddingStatus` reports. */
export interface EmbeddingStatus {
  mode: 'inline' | 'background' | 'off';
  defaultProvider: string | null;
  /** Each provider used or registered so far, by name. */
  providers: ProviderStatus[];
  /** Rows with embedding work still queued. */
  queuedRows: number;
}

/** What a change notification says: which tenant's WAL moved, and to which sequence number. */
export interface SyncOptions {
  /** The hub's URL (`rem serve`), e.g. `http://127.0.0.1:7077`. */
  url: string;
  /** A token `rem serve token` printed for this tenant. */
  token: string;
  /** Keep syncing: push after every local write, follow the hub's stream, reconnect with backoff. */
  live?: boolean;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface SyncReport {
  pushed: number;
  pulled: number;
  /** Rows and edges loaded from the hub's snapshot (a new device, or one behind its compacted log). */
  loaded: number;
  rejected: number;
  conflicts: number;
  hubSeq: number;
}

export type SyncState = "pushing" | "pulling" | "idle" | "offline" | "error" | "stopped";

export interface SyncHandle {
  /** The current state. */
  readonly status: SyncState;
  /** The last round's report. */
  readonly report: SyncReport | null;
  /** Settles after the round (or, with `live`, when stopped); rejects when a one-round sync fails. */
  readonly done: Promise<SyncReport | null>;
  /** Hears every state change (with the round's report on `idle`, the error on `offline`/`error`). */
  on(listener: (status: SyncState, detail?: unknown) => void): () => void;
  /** Stops a live sync. */
  stop(): Promise<void>;
  conflicts(): Promise<SyncConflict[]>;
  rejected(): Promise<SyncRejected[]>;
}

export interface SyncStatus {
  device: string | null;
  pushed: number;
  pulled: number;
  outbox: number;
  rejected: number;
  conflicts: number;
}

export interface SyncConflict {
  table: string;
  id: string;
  field: string;
  winner?: Json;
  loser?: Json;
  winner_device: string;
  loser_device: string;
  hub_seq: number;
}

export interface SyncRejected {
  seq: number;
  op: string;
  table: string;
  id?: string;
  code: string;
  reason: string;
}

export interface LiveQuery {
  /** Settles after the first run. */
  ready: Promise<void>;
  unsubscribe(): void;
}

export interface ChangeEvent {
  tenant: string;
  seq: number;
  /** True when another tab made the change. */
  remote: boolean;
}

export declare class RemDB {
  /** Opens (or creates) a database. Loads the WebAssembly module on first use. */
  static open(options?: OpenOptions): Promise<RemDB>;

  readonly name: string;
  readonly tenant: string;
  readonly storage: 'memory' | 'indexeddb' | 'opfs';
  /** `owner`: this tab runs the database. `proxy`: calls go to the tab that does. */
  readonly role: 'owner' | 'proxy';

  registerSchema(schema: JsonObject): Promise<string>;
  schemas(): Promise<TableSchema[]>;

  insert(table: string, entity: JsonObject): Promise<string>;
  insertMany(table: string, entities: JsonObject[]): Promise<string[]>;
  /**
   * Ingests one document: Markdown, HTML, PDF, text or code becomes chunks of `resources` (or
   * `table`), CSV/JSON/JSONL rows of `table`. An unchanged document writes nothing. PDFs are
   * read by `remdb/full`; the core build skips them (`skipped`, with the reason).
   */
  ingest(document: IngestDocument): Promise<IngestReport>;
  /** The live row, or null; a soft-deleted row too with `includeDeleted`. */
  get(id: string, options?: { includeDeleted?: boolean }): Promise<Row | null>;
  update(id: string, patch: JsonObject): Promise<Row>;
  delete(id: string, options?: { hard?: boolean }): Promise<void>;
  list(table: string, options?: ListOptions): Promise<Row[]>;
  count(table: string, options?: { includeDeleted?: boolean }): Promise<number>;

  /** One SQL statement; `options.budget` bounds its work (over the database's budget). */
  sql(query: string, params?: Json[] | null, options?: SqlOptions): Promise<JsonObject[]>;

  search(table: string, query: string | Float32Array | number[], options?: SearchOptions): Promise<ScoredRow[]>;
  /**
   * A question in plain language: a typed, read-only plan from the offline planner (the
   * default, in wasm everywhere) or an LLM (`options.llm`), run here, with its confidence.
   */
  ask(question: string, options?: AskOptions): Promise<Answer>;
  embed(text: string): Promise<Float32Array>;
  embed(texts: string[]): Promise<Float32Array[]>;
  putVector(table: string, id: string, field: string, provider: string, vector: Float32Array | number[]): Promise<void>;
  /** Many vectors in one atomic batch (all or none). */
  putVectors(table: string, field: string, provider: string, items: { id: string; vector: Float32Array | number[] }[]): Promise<void>;
  /**
   * Builds each vector index of `table` (of every table when omitted or null) into one HNSW
   * segment; one report per index.
   */
  optimizeVectors(table?: string | null): Promise<OptimizeReport[]>;
  /** What embeds and what waits: the mode, the default provider, each provider's state and the queued rows. */
  embeddingStatus(): Promise<EmbeddingStatus>;

  /** Adds the edge `src -rel-> dst` (re-adding replaces its properties; a numeric `weight` is what weighted paths add up); resolves to the edge. */
  addEdge(src: string, dst: string, rel: string, properties?: JsonObject): Promise<Edge>;
  /** Many edges in one atomic batch (all or none). */
  addEdges(edges: NewEdge[]): Promise<void>;
  removeEdge(src: string, dst: string, rel: string): Promise<void>;
  edges(id: string, options?: EdgeOptions): Promise<Edge[]>;
  /** Ids of the live entities one edge away (both directions unless `options.direction` says otherwise). */
  neighbors(id: string, options?: EdgeOptions): Promise<string[]>;
  traverse(id: string, options?: TraverseOptions): Promise<Paths>;
  /** The entities exactly `depth` edges away (by shortest distance), with a path to each. */
  neighborsAtDepth(id: string, depth: number, options?: TraverseOptions): Promise<Paths>;
  /** `paths` holds the one shortest path, or nothing when `b` is unreachable. */
  shortestPath(a: string, b: string, options?: PathOptions): Promise<Paths>;
  allPaths(a: string, b: string, options?: PathOptions): Promise<Paths>;
  /** The number of simple paths from `a` to `b` with at most `maxDepth` edges (default 6); counting stops at `limit` when given. */
  countPaths(a: string, b: string, options?: PathOptions): Promise<number>;
  /**
   * Every simple cycle through `id`; with no id (null or omitted), the cycles a depth-first
   * search finds over `options.table` (every table when absent). Each path starts and ends at
   * the same entity.
   */
  cycles(id?: string | null, options?: CycleOptions): Promise<Paths>;

  walSeq(): Promise<number>;
  walEntries(options?: { since?: number; limit?: number }): Promise<WalEntry[]>;
  applyWal(entries: WalEntry[]): Promise<ApplyReport>;

  /**
   * Syncs with a hub (`rem serve`): pushes this device's changes, pulls everyone else's. The
   * pushes and pulls are sent with `fetch` from the calling code.
   */
  sync(options: SyncOptions): SyncHandle;
  /** Where this device stands with its hub. */
  syncStatus(): Promise<SyncStatus>;
  /** Concurrent writes to one field this device took part in, as the hub resolved them. */
  conflicts(): Promise<SyncConflict[]>;
  /** Local changes the hub refused, with the reason. */
  rejected(): Promise<SyncRejected[]>;
  /**
   * Runs `sql` now and after every committed write (local, another tab's, or pulled by sync);
   * calls `callback` only when the result changed.
   */
  live(sql: string, params: Json[] | null, callback: (rows: JsonObject[]) => void, onError?: (error: RemDBError) => void): LiveQuery;

  /**
   * Resolves when every earlier write is durable and queued embeddings are computed. Rejects
   * with `EMBEDDING` when a remote or custom provider failed (its work stays queued).
   */
  flush(): Promise<void>;
  /** Flushes, releases the database (and tab ownership); later calls reject with `CLOSED`. */
  close(): Promise<void>;

  /** Calls `listener` after every committed write, from this tab or another. Returns an unsubscribe function. */
  onChange(listener: (event: ChangeEvent) => void): () => void;
}

/**
 * Loads the WebAssembly module now instead of on the first `open`. Accepts a URL, the bytes,
 * or a precompiled `WebAssembly.Module` (Cloudflare Workers cannot compile from bytes).
 */
export declare function init(source?: string | URL | ArrayBuffer | Uint8Array | WebAssembly.Module | Response): Promise<void>;
