//! The public API of one tenant: every operation a face (Rust, the JS face, the `rem` CLI)
//! offers, in one place. Each method only delegates to the layer that owns it: `store`
//! (schemas, entities, indexes, edges, the WAL), `vector` (vectors, search, embedding work),
//! `graph` (traversals, paths, cycles) and `sql`.
//!
//! Everyday operations are methods of [`Tenant`]; administrative groups sit behind sub-handles:
//! [`Tenant::wal`] (the write-ahead log), [`Tenant::vectors`] (vector indexes) and
//! [`Tenant::embeddings`] (queued embedding work). The CLI spells them the same way
//! (`rem wal seq`, `rem vectors optimize`, `rem embeddings flush`), the JS face in camel case
//! (`walSeq`, `optimizeVectors`, ...).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::ask::{Answer, AskOptions, AskSession, Lookup, LookupOptions, Planner};
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::graph::{PathOptions, Traversal, TraverseOptions};
use crate::ingest::{Document, IngestOptions, IngestReport, IngestRun};
use crate::sql::{QueryResult, QueryText, QueryVectors};
use crate::store::{
    ApplyReport, Category, Change, ChangeSubscription, Edge, EdgeDirection, IndexQuery,
    ListOptions, NewEdge, Row, TableSchema, TenantStore, WalEntry,
};
use crate::sync::{
    Conflict, HubConnection, PullPlan, PullResponse, PushPlan, PushResponse, Rejected,
    SnapshotPage, SyncReport, SyncStatus,
};
use crate::typed::Typed;
use crate::vector::{
    DrainReport, EmbeddingBatch, IndexMeta, IndexName, MaintenanceReport, SearchHit, SearchOptions,
    SearchQuery,
};

/// One tenant's view of the database. Cheap to clone; every key it touches lives under the
/// tenant's prefix, so no operation can reach another tenant's data.
#[derive(Clone)]
pub struct Tenant {
    inner: TenantStore,
    /// The database's budget for queries and graph walks (see [`OpenOptions::budget`](crate::OpenOptions::budget)).
    budget: Budget,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.inner, f)
    }
}

impl Tenant {
    pub(crate) fn new(inner: TenantStore, budget: Budget) -> Self {
        Tenant { inner, budget }
    }

    /// The database's budget for queries and graph walks (the wasm face's search filter runs
    /// under it).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn budget(&self) -> Budget {
        self.budget
    }

    /// The budget a call runs under: its own settings, then the database's.
    fn budget_for(&self, call: &Budget) -> Budget {
        call.or(&self.budget)
    }

    /// `opts` with its budget completed from the database's.
    fn path_options(&self, opts: &PathOptions) -> PathOptions {
        PathOptions {
            budget: self.budget_for(&opts.budget),
            ..opts.clone()
        }
    }

    /// `opts` with its budget completed from the database's.
    fn traverse_options(&self, opts: &TraverseOptions) -> TraverseOptions {
        TraverseOptions {
            budget: self.budget_for(&opts.budget),
            ..opts.clone()
        }
    }

    /// The store-level handle the layers work on (the wasm face's async drains use it).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn store(&self) -> &TenantStore {
        &self.inner
    }

    /// The tenant name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Short name of the storage backend (`memory`, `redb`, `rocksdb`).
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    // --- schemas -----------------------------------------------------------------------------

    /// Registers a JSON Schema as a table (or replaces the table's schema) and returns what was
    /// read from it. Registering an identical schema again writes nothing.
    pub fn register_schema(&self, schema: Value) -> Result<TableSchema> {
        self.inner.register_schema(schema)
    }

    /// Creates the built-in tables (resources, agents, sessions, messages, moments). Idempotent.
    pub fn init(&self) -> Result<Vec<TableSchema>> {
        self.inner.init()
    }

    /// The schema of `table`.
    pub fn schema(&self, table: &str) -> Result<TableSchema> {
        self.inner.schema(table)
    }

    /// Every table schema, by name, optionally only those of one category.
    pub fn schemas(&self, category: Option<Category>) -> Result<Vec<TableSchema>> {
        self.inner.schemas(category)
    }

    /// Names of every table of this tenant, sorted.
    pub fn table_names(&self) -> Result<Vec<String>> {
        self.inner.table_names()
    }

    // --- entities ----------------------------------------------------------------------------

    /// Inserts one entity into `table` and returns its id. Inserting an entity whose natural key
    /// already exists replaces that row's data (upsert).
    ///
    /// An `edges` array in `data` (`[{dst, rel_type, properties?}]`) is not stored in the row: it
    /// becomes real edges from the new entity (see [`Tenant::add_edge`]), in the same atomic
    /// write. The whole array is validated first; a bad item or a missing `dst` writes nothing.
    pub fn insert(&self, table: &str, data: Value) -> Result<Uuid> {
        self.inner.insert(table, data)
    }

    /// Inserts many entities in one atomic batch: if any is invalid, none is written.
    pub fn insert_many(&self, table: &str, items: Vec<Value>) -> Result<Vec<Uuid>> {
        self.inner.insert_many(table, items)
    }

    /// The live row with `id`, or `None`.
    pub fn get(&self, id: &str) -> Result<Option<Row>> {
        self.inner.get(id)
    }

    /// The row with `id`, soft-deleted ones too when `include_deleted`.
    pub fn get_with(&self, id: &str, include_deleted: bool) -> Result<Option<Row>> {
        self.inner.get_with(id, include_deleted)
    }

    /// The table that holds `id` (soft-deleted rows included).
    pub fn table_of(&self, id: &str) -> Result<Option<String>> {
        self.inner.table_of(id)
    }

    /// Applies a JSON merge patch (RFC 7396) to the live row `id`, re-validates and returns the
    /// new row. System fields cannot change; neither can the natural key a deterministic id was
    /// made of. An `edges` array in the patch adds (or updates) those edges instead of being
    /// stored.
    pub fn update(&self, id: &str, patch: Value) -> Result<Row> {
        self.inner.update(id, patch)
    }

    /// Soft-deletes the live row `id`: sets `deleted_at`, hides it from reads unless asked.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.inner.delete(id)
    }

    /// Removes the row `id` (live or soft-deleted) and its index entries for good.
    pub fn hard_delete(&self, id: &str) -> Result<()> {
        self.inner.hard_delete(id)
    }

    /// Rows of `table` in id order (random ids are time-ordered, so that is insertion order for
    /// them), paged by `options`.
    pub fn list(&self, table: &str, options: &ListOptions) -> Result<Vec<Row>> {
        self.inner.list(table, options)
    }

    /// Calls `f` for each row of `table` in id order until it returns `false`.
    pub fn for_each_row(
        &self,
        table: &str,
        include_deleted: bool,
        f: impl FnMut(Uuid, Row) -> bool,
    ) -> Result<()> {
        self.inner.for_each_row(table, include_deleted, f)
    }

    /// Number of rows in `table` (soft-deleted ones only when `include_deleted`). Constant time:
    /// the write path maintains the counters.
    pub fn count(&self, table: &str, include_deleted: bool) -> Result<u64> {
        self.inner.count(table, include_deleted)
    }

    /// Rows whose natural key (key field, `uri`, `key` or `name`) equals one of `keys`, across
    /// every table: `(table, row)` pairs in key order, then table order.
    pub fn lookup(&self, keys: &[&str]) -> Result<Vec<(String, Row)>> {
        self.inner.lookup(keys)
    }

    /// Ids of rows of `table` matching `query` on the indexed `field`, in index order, each once.
    pub fn index_lookup_ids(
        &self,
        table: &str,
        field: &str,
        query: &IndexQuery,
        include_deleted: bool,
    ) -> Result<Vec<Uuid>> {
        self.inner
            .index_lookup_ids(table, field, query, include_deleted)
    }

    /// Rows of `table` matching `query` on the indexed `field`, in index order, each once.
    pub fn index_lookup(
        &self,
        table: &str,
        field: &str,
        query: &IndexQuery,
        include_deleted: bool,
    ) -> Result<Vec<(Uuid, Row)>> {
        self.inner
            .index_lookup(table, field, query, include_deleted)
    }

    // --- typed rows --------------------------------------------------------------------------

    /// Registers the table of Rust type `T`: its JSON Schema is derived from the type (see
    /// [`Typed`]), with the REM extensions `T` declares.
    pub fn register<T: Typed>(&self) -> Result<TableSchema> {
        self.inner.register_schema(crate::typed::schema_of::<T>()?)
    }

    /// Inserts `value` into the table of its type (see [`Tenant::register`]) and returns its id.
    pub fn insert_typed<T: Typed + Serialize>(&self, value: &T) -> Result<Uuid> {
        self.inner.insert(&T::table(), crate::typed::to_row(value)?)
    }

    /// The live row `id`, read as a `T`; `None` when there is none. A row of another table is an
    /// [`Error::InvalidArgument`].
    pub fn get_as<T: Typed + DeserializeOwned>(&self, id: &str) -> Result<Option<T>> {
        let table = T::table();
        match self.inner.table_of(id)? {
            Some(found) if found != table => Err(Error::InvalidArgument(format!(
                "row {id} belongs to table `{found}`, not `{table}`"
            ))),
            _ => self
                .inner
                .get(id)?
                .map(|row| crate::typed::from_row(&table, row))
                .transpose(),
        }
    }

    /// Runs one SQL statement (see [`Tenant::sql`]) and reads each result row as a `T` (columns
    /// by name).
    pub fn query_as<T: DeserializeOwned>(&self, query: &str, params: &[Value]) -> Result<Vec<T>> {
        crate::typed::rows_as(self.sql(query, params)?)
    }

    // --- SQL ---------------------------------------------------------------------------------

    /// Runs one SQL statement with parameters (`$1`, `$2`, ... or `?`), reading one consistent
    /// snapshot (TRAVERSE reads its own). Supports SELECT (WHERE, JOIN, GROUP BY/HAVING, ORDER
    /// BY, LIMIT/OFFSET, DISTINCT), `EXPLAIN`, and the REM statements `LOOKUP`, `SEARCH` and
    /// `TRAVERSE`. Anything else is an [`Error::SqlUnsupported`] naming the construct.
    ///
    /// The query runs under the database's [`Budget`] (see [`sql_with`](Self::sql_with)).
    pub fn sql(&self, query: &str, params: &[Value]) -> Result<QueryResult> {
        self.sql_with(query, params, &Budget::default())
    }

    /// [`sql`](Self::sql) under `budget`: its settings win over the database's
    /// ([`OpenOptions::budget`](crate::OpenOptions::budget)), unset ones inherit. A query that
    /// examines more rows, holds more memory or runs longer than allowed fails with a `LIMIT`
    /// error naming the budget and its value.
    pub fn sql_with(&self, query: &str, params: &[Value], budget: &Budget) -> Result<QueryResult> {
        self.inner.sql(query, params, &self.budget_for(budget))
    }

    /// Phase one of running `query` with query vectors computed elsewhere (e.g. awaited from an
    /// async embedder): the texts its similarity search embeds (`embedding.cosine('text')`,
    /// `SEARCH 'text' IN t`), each with the provider that embeds it. Empty for statements
    /// without one. Fails as [`Tenant::sql`] would for a statement that cannot be planned.
    ///
    /// ```
    /// use remdb::{sql::QueryVectors, Budget, Database};
    /// use serde_json::json;
    ///
    /// let db = Database::memory();
    /// let t = db.tenant("default")?;
    /// t.register_schema(json!({"title": "Doc", "type": "object",
    ///     "properties": {"body": {"type": "string"}},
    ///     "json_schema_extra": {"embedding_fields": ["body"], "embedding_provider": "custom:mine"}}))?;
    /// let id = t.insert("doc", json!({"body": "north"}))?; // queued: custom:mine is not registered
    /// t.vectors().put("doc", &id.to_string(), "body", "custom:mine", &[0.0, 1.0])?;
    /// let query = "SELECT body FROM doc WHERE embedding.cosine('up')";
    /// let texts = t.sql_query_texts(query, &[])?;
    /// assert_eq!((texts[0].provider.as_str(), texts[0].text.as_str()), ("custom:mine", "up"));
    /// let mut vectors = QueryVectors::new();
    /// vectors.insert(("custom:mine".into(), "up".into()), vec![0.0, 1.0]);
    /// let r = t.sql_with_vectors(query, &[], &vectors, &Budget::default())?;
    /// assert_eq!(r.rows[0][0], json!("north"));
    /// # Ok::<(), remdb::Error>(())
    /// ```
    pub fn sql_query_texts(&self, query: &str, params: &[Value]) -> Result<Vec<QueryText>> {
        self.inner.sql_query_texts(query, params)
    }

    /// Phase two: runs `query` (over a fresh snapshot) with the vectors of its query texts taken
    /// from `vectors`, keyed by `(provider, text)` as [`Tenant::sql_query_texts`] listed them. A
    /// text missing there is embedded synchronously, as [`Tenant::sql`] does. Runs under
    /// `budget` as [`Tenant::sql_with`] does (`&Budget::default()`: the database's).
    pub fn sql_with_vectors(
        &self,
        query: &str,
        params: &[Value],
        vectors: &QueryVectors,
        budget: &Budget,
    ) -> Result<QueryResult> {
        self.inner
            .sql_with_vectors(query, params, vectors, &self.budget_for(budget))
    }

    // --- natural-language questions ---------------------------------------------------------

    /// Answers a question in plain language: a typed, validated, read-only plan from the offline
    /// planner or an LLM ([`AskOptions::planner`]), run over this tenant, with a confidence
    /// from signals and a status (`ok`, `empty`, `ambiguous`, `unanswerable`, `refused`,
    /// `failed`). Bad options are an error; everything that goes wrong while answering is in
    /// the answer's status and explanation. Never writes.
    pub fn ask(&self, question: &str, options: &AskOptions) -> Result<Answer> {
        let llm = match &options.planner {
            Planner::Offline => None,
            Planner::Llm(spec) => Some(spec.clone()),
            Planner::Auto => crate::ask::default_llm(),
        };
        let session = self.ask_session(question, options, llm.clone(), true)?;
        let mut send = crate::ask::transport(llm.as_deref())?;
        let store = self.inner.clone();
        Ok(crate::ask::drive(session, &mut *send, &mut |texts| {
            texts
                .iter()
                .map(|t| crate::vector::embed_query(&store, &t.provider, &t.text))
                .collect()
        }))
    }

    /// [`ask`](Self::ask) as a step-by-step session for callers that do their own I/O (the wasm
    /// face awaits its LLM calls and async embedders): `llm` names the LLM that plans (`None`:
    /// offline); with `embed_inline` false, query texts are handed out as
    /// [`AskStep::Embed`](crate::ask::AskStep::Embed) instead of embedded synchronously.
    pub fn ask_session(
        &self,
        question: &str,
        options: &AskOptions,
        llm: Option<String>,
        embed_inline: bool,
    ) -> Result<AskSession> {
        AskSession::new(
            self.inner.clone(),
            self.budget,
            question,
            options,
            llm,
            embed_inline,
        )
    }

    /// The entity lookup ladder: rows whose id, natural key, name, uri or alias matches `text`
    /// exactly, then normalised (case, spaces, hyphens), by prefix, fuzzily (trigrams), then
    /// by meaning, best first; `ambiguous` when the best two are near-equal.
    pub fn lookup_fuzzy(&self, text: &str, options: &LookupOptions) -> Result<Lookup> {
        crate::ask::lookup(&self.inner, text, options)
    }

    // --- vector search -----------------------------------------------------------------------

    /// The `top_k` rows of `table` most similar to `query`, best first. Text is embedded with
    /// the table's provider (or `options.provider`, or the alt provider with `options.alt`).
    /// `options.mode` chooses keyword (BM25 over the table's `fulltext_fields`, no embedder
    /// needed) or hybrid (both, fused) ranking instead; see [`crate::fulltext`].
    pub fn search(
        &self,
        table: &str,
        query: impl Into<SearchQuery>,
        options: &SearchOptions,
    ) -> Result<Vec<SearchHit>> {
        crate::fulltext::hybrid::search(&self.inner, table, query.into(), options)
    }

    /// [`Tenant::search`]'s hits as one JSON array of rows, best first, each row with its
    /// `_score` (the shape the JS face and `rem search --json` return). Written straight from
    /// the stored JSON text: no row is parsed.
    pub fn search_json(
        &self,
        table: &str,
        query: impl Into<SearchQuery>,
        options: &SearchOptions,
    ) -> Result<String> {
        crate::fulltext::hybrid::search_json(&self.inner, table, query.into(), options)
    }

    /// Vectors for `texts` from `provider` (default: the database's default provider).
    pub fn embed(&self, texts: &[&str], provider: Option<&str>) -> Result<Vec<Vec<f32>>> {
        self.inner.embed(texts, provider)
    }

    // --- graph -------------------------------------------------------------------------------

    /// Adds the edge `src -rel-> dst` with `properties` (a JSON object, or null for none) and
    /// returns it. Both entities must exist, live, in this tenant. Adding an existing edge
    /// replaces its properties (keeping `created_at`); adding it with the same properties
    /// writes nothing.
    ///
    /// ```
    /// # use remdb::Database; use serde_json::json;
    /// let t = Database::memory().tenant("t")?;
    /// t.init()?;
    /// let a = t.insert("agents", json!({"name": "a"}))?.to_string();
    /// let b = t.insert("agents", json!({"name": "b"}))?.to_string();
    /// let e = t.add_edge(&a, &b, "calls", json!({"weight": 2.5}))?;
    /// assert_eq!(e.weight(), Some(2.5));
    /// assert_eq!(t.edges(&b, remdb::EdgeDirection::In, None)?, vec![e]);
    /// # Ok::<(), remdb::Error>(())
    /// ```
    pub fn add_edge(&self, src: &str, dst: &str, rel: &str, properties: Value) -> Result<Edge> {
        self.inner.add_edge(src, dst, rel, properties)
    }

    /// Adds many edges in one atomic batch (all or none): the bulk form of
    /// [`add_edge`](Self::add_edge).
    pub fn add_edges(&self, edges: Vec<NewEdge>) -> Result<()> {
        self.inner.add_edges(edges)
    }

    /// Removes the edge `src -rel-> dst`; `NotFound` when there is none.
    pub fn remove_edge(&self, src: &str, dst: &str, rel: &str) -> Result<()> {
        self.inner.remove_edge(src, dst, rel)
    }

    /// The edge `src -rel-> dst`, if stored.
    pub fn edge(&self, src: &str, dst: &str, rel: &str) -> Result<Option<Edge>> {
        self.inner.edge(src, dst, rel)
    }

    /// The edges of entity `id` in `direction` (out edges first; each group in relationship,
    /// then id order), only relationship `rel` when given. Every stored edge is listed, also
    /// those whose other end is soft-deleted. `NotFound` when no entity has `id`.
    pub fn edges(
        &self,
        id: &str,
        direction: EdgeDirection,
        rel: Option<&str>,
    ) -> Result<Vec<Edge>> {
        self.inner.edges(id, direction, rel)
    }

    /// The distinct live entities one edge away from `id` in `direction` (only over `rel` when
    /// given), in the order of [`edges`](Self::edges).
    pub fn neighbors(
        &self,
        id: &str,
        direction: EdgeDirection,
        rel: Option<&str>,
    ) -> Result<Vec<Uuid>> {
        self.inner.neighbors(id, direction, rel)
    }

    /// Walks the graph from `start` and returns the paths found (see [`TraverseOptions`]):
    ///
    /// - **BFS** reaches every entity at most once, by a shortest path: one path per reached
    ///   entity (the start excluded), ordered by depth, then discovery (edges are visited out
    ///   first, then in; each in relationship, then id order). With a `target`, the search stops
    ///   there and returns only the shortest path to it.
    /// - **DFS** backtracks: every simple path of 1..=`max_depth` edges from the start, in
    ///   depth-first order, so an entity may end several paths. No path repeats an entity, so
    ///   cycles always terminate. With a `target`, only paths ending there (not continued past it).
    ///
    /// `direction` `both` follows edges both ways. Errors: `NotFound` when `start` (or the
    /// target) is not a live entity, `InvalidArgument` for a bad id or relationship name.
    pub fn traverse(&self, start: &str, opts: &TraverseOptions) -> Result<Traversal> {
        self.inner.traverse(start, &self.traverse_options(opts))
    }

    /// The live entities whose shortest distance from `start` is exactly `depth` edges, each
    /// with a shortest path to it (BFS order). `opts.max_depth`, `strategy`, `target` and
    /// `limit` are ignored.
    pub fn neighbors_at_depth(
        &self,
        start: &str,
        depth: usize,
        opts: &TraverseOptions,
    ) -> Result<Traversal> {
        self.inner
            .neighbors_at_depth(start, depth, &self.traverse_options(opts))
    }

    /// A shortest path from `from` to `to`: fewest edges (bidirectional BFS, bounded by
    /// `max_depth`), or — with `weighted` — least total `weight` (Dijkstra; an edge without a
    /// numeric `weight` costs 1, and `cost` is set on the path). The result holds one path, or
    /// none when `to` cannot be reached; `from == to` is the path of depth 0.
    pub fn shortest_path(&self, from: &str, to: &str, opts: &PathOptions) -> Result<Traversal> {
        self.inner.shortest_path(from, to, &self.path_options(opts))
    }

    /// Every simple path (no entity twice) from `from` to `to` with at most `max_depth` edges
    /// (default [`DEFAULT_PATHS_DEPTH`](crate::graph::DEFAULT_PATHS_DEPTH)), in depth-first
    /// order, at most `limit` of them (default
    /// [`DEFAULT_PATH_LIMIT`](crate::graph::DEFAULT_PATH_LIMIT); more sets `truncated`).
    /// Parallel edges (two relationships between the same entities) make distinct paths.
    /// `from == to` gives the path of depth 0 (see [`cycles_from`](Self::cycles_from)).
    pub fn all_paths(&self, from: &str, to: &str, opts: &PathOptions) -> Result<Traversal> {
        self.inner.all_paths(from, to, &self.path_options(opts))
    }

    /// How many simple paths lead from `from` to `to` with at most `max_depth` edges (default
    /// [`DEFAULT_PATHS_DEPTH`](crate::graph::DEFAULT_PATHS_DEPTH)); counting stops at `limit`
    /// when one is given. `from == to` counts the path of depth 0 only.
    ///
    /// Like every graph walk it runs under `opts.budget` over the database's
    /// ([`OpenOptions::budget`](crate::OpenOptions::budget)): a count that would follow more
    /// edges, hold more memory or take longer than allowed fails with a `LIMIT` error.
    pub fn count_paths(&self, from: &str, to: &str, opts: &PathOptions) -> Result<u64> {
        self.inner.count_paths(from, to, &self.path_options(opts))
    }

    /// Every simple cycle through `start` with at most `max_depth` edges, as paths that begin
    /// and end at `start`, in depth-first order, at most `limit`. A self-loop is a cycle of
    /// depth 1. With direction `both` a cycle never goes out and back over the same edge, and
    /// each longer cycle is reported once per orientation.
    pub fn cycles_from(&self, start: &str, opts: &PathOptions) -> Result<Traversal> {
        self.inner.cycles_from(start, &self.path_options(opts))
    }

    /// Detects cycles among the entities of `table` (every table when `None`): one cycle per
    /// back edge of a depth-first search from each row, so the graph (as filtered by `opts`) is
    /// acyclic exactly when nothing is returned. Every cycle returned is real, but not every
    /// elementary cycle is enumerated (use [`cycles_from`](Self::cycles_from) for that).
    pub fn find_cycles(&self, table: Option<&str>, opts: &PathOptions) -> Result<Traversal> {
        self.inner.find_cycles(table, &self.path_options(opts))
    }

    // --- sync ---------------------------------------------------------------------------------

    /// One sync round through `hub`: pushes every local change (the outbox), then pulls and
    /// applies the hub's log until caught up. Safe to repeat and to interrupt: nothing the hub
    /// acknowledged is pushed twice into the merge, nothing unacknowledged leaves the outbox.
    pub fn sync_with(&self, hub: &dyn HubConnection) -> Result<SyncReport> {
        self.inner.sync_round(hub)
    }

    /// Calls `f` after every commit to this tenant that logged something — a local write, rows
    /// a sync round took from a hub, a `wal apply` — with the WAL positions it took, the tables
    /// it touched and its origin. `f` runs on the thread that wrote, after the write released
    /// its locks (it may read or write the database). It is called until the returned
    /// subscription is dropped.
    ///
    /// ```
    /// # use remdb::Database; use serde_json::json; use std::sync::{Arc, Mutex};
    /// let t = Database::memory().tenant("t")?;
    /// t.init()?;
    /// let heard = Arc::new(Mutex::new(Vec::new()));
    /// let h = heard.clone();
    /// let _subscription = t.on_change(move |c| h.lock().unwrap().push(c.tables.clone()));
    /// t.insert("resources", json!({"name": "readme"}))?;
    /// assert_eq!(*heard.lock().unwrap(), vec![vec!["resources".to_string()]]);
    /// # Ok::<(), remdb::Error>(())
    /// ```
    pub fn on_change(&self, f: impl Fn(&Change) + Send + Sync + 'static) -> ChangeSubscription {
        self.inner.on_change(f)
    }

    /// A live query: runs `query` now and again after every commit to this tenant, and calls
    /// `on_rows` with the result whenever it differs from the last one (first with the current
    /// result). A re-run that fails is passed on as an `Err`. Re-runs happen on the thread that
    /// wrote, after its write returned its locks; a write made by `on_rows` itself re-runs the
    /// query once more after it returns. The query stops when the subscription is dropped.
    ///
    /// ```
    /// # use remdb::Database; use serde_json::json; use std::sync::{Arc, Mutex};
    /// let t = Database::memory().tenant("t")?;
    /// t.init()?;
    /// let counts = Arc::new(Mutex::new(Vec::new()));
    /// let c = counts.clone();
    /// let live = t.live("SELECT COUNT(*) AS n FROM resources", &[], move |rows| {
    ///     c.lock().unwrap().push(rows.map(|r| r.rows[0][0].clone()).ok());
    /// })?;
    /// t.insert("resources", json!({"name": "a"}))?;
    /// t.insert("agents", json!({"name": "b"}))?; // the count is unchanged: no call
    /// drop(live);
    /// t.insert("resources", json!({"name": "c"}))?; // stopped
    /// assert_eq!(*counts.lock().unwrap(), vec![Some(json!(0)), Some(json!(1))]);
    /// # Ok::<(), remdb::Error>(())
    /// ```
    pub fn live(
        &self,
        query: &str,
        params: &[Value],
        on_rows: impl FnMut(Result<&QueryResult>) + Send + 'static,
    ) -> Result<ChangeSubscription> {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Mutex;
        let first = self.sql(query, params)?;
        let mut on_rows = on_rows;
        on_rows(Ok(&first));
        let state = Mutex::new((first, on_rows));
        let again = AtomicBool::new(false);
        let (me, query, params) = (self.clone(), query.to_string(), params.to_vec());
        Ok(self.inner.on_change(move |_: &Change| loop {
            // Busy (another thread's re-run, or this callback's own write): that run repeats.
            let Ok(mut guard) = state.try_lock() else {
                again.store(true, Ordering::SeqCst);
                return;
            };
            again.store(false, Ordering::SeqCst);
            let (last, on_rows) = &mut *guard;
            match me.sql(&query, &params) {
                Ok(result) if result != *last => {
                    *last = result;
                    on_rows(Ok(last));
                }
                Ok(_) => {}
                Err(e) => on_rows(Err(e)),
            }
            drop(guard);
            if !again.load(Ordering::SeqCst) {
                return;
            }
        }))
    }

    /// One sync round with the hub at `url` over HTTP, with the bearer `token` (native; the JS
    /// face syncs with `fetch`).
    pub fn sync(&self, url: &str, token: &str) -> Result<SyncReport> {
        self.inner
            .sync_round(&crate::sync::HttpHub::new(url, token))
    }

    /// The steps of a sync round, for faces that do their own I/O (the JS face, with `fetch`).
    pub fn sync_steps(&self) -> SyncSteps<'_> {
        SyncSteps(&self.inner)
    }

    /// Where this device stands with its hub: positions pushed and pulled, outbox size.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        self.inner.sync_status()
    }

    /// Concurrent writes to one field this device took part in, as the hub resolved them.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.inner.sync_conflicts()
    }

    /// Local changes the hub refused, with the reason (they stay here, never vanish).
    pub fn rejected(&self) -> Result<Vec<Rejected>> {
        self.inner.sync_rejected()
    }

    /// This tenant as a sync hub: merges devices' pushes and serves its log to pulls.
    #[cfg(any(feature = "server", test))]
    pub fn hub(&self) -> crate::sync::hub::HubTenant<'_> {
        crate::sync::hub::HubTenant::new(&self.inner)
    }

    /// The store-level handle (for the sync tests, which play devices with skewed clocks).
    #[cfg(test)]
    pub(crate) fn store_handle(&self) -> &TenantStore {
        &self.inner
    }

    // --- documents ---------------------------------------------------------------------------

    /// Ingests one document (see [`crate::ingest`]): Markdown, HTML, PDF, text or code is cut
    /// into chunks written as rows of `options.table` (default `resources`) keyed by uri and
    /// ordinal; CSV, JSON and JSON Lines become rows of `options.table`. An unchanged document
    /// writes nothing. Bad content is reported in the report's `rejected`, not as an error;
    /// `Err` is for bad options and database failures.
    ///
    /// ```
    /// use remdb::{ingest::{Document, IngestOptions}, Database};
    ///
    /// let t = Database::memory().tenant("t")?;
    /// let doc = Document::new("notes/a.md", "# Title\n\nSome text.");
    /// let report = t.ingest(doc.clone(), &IngestOptions::default())?;
    /// assert_eq!((report.chunks, report.written), (1, 1));
    /// let again = t.ingest(doc, &IngestOptions::default())?;
    /// assert_eq!((again.unchanged, again.written), (1, 0));
    /// # Ok::<(), remdb::Error>(())
    /// ```
    pub fn ingest(&self, document: Document, options: &IngestOptions) -> Result<IngestReport> {
        let mut run = self.ingest_run(options)?;
        run.add(document)?;
        run.finish()
    }

    /// Starts ingesting many documents: rows are written in batches across documents, and
    /// [`IngestRun::finish`] records the run in `moments` when it changed anything.
    pub fn ingest_run(&self, options: &IngestOptions) -> Result<IngestRun> {
        IngestRun::new(self.inner.clone(), options.clone())
    }

    // --- administrative groups ---------------------------------------------------------------

    /// The write-ahead log: its sequence, export, apply and compaction.
    pub fn wal(&self) -> Wal<'_> {
        Wal(&self.inner)
    }

    /// The vector indexes: caller-supplied vectors, index metadata and maintenance.
    pub fn vectors(&self) -> Vectors<'_> {
        Vectors(&self.inner)
    }

    /// The queued embedding work of this tenant.
    pub fn embeddings(&self) -> Embeddings<'_> {
        Embeddings(&self.inner)
    }
}

/// The write-ahead log of one tenant (see [`Tenant::wal`]).
#[derive(Debug, Clone, Copy)]
pub struct Wal<'t>(&'t TenantStore);

impl Wal<'_> {
    /// The sequence number of the last WAL entry (0 for a new tenant).
    pub fn seq(&self) -> Result<u64> {
        self.0.wal_seq()
    }

    /// Up to `limit` entries with `seq > since`, in order. Asking for entries that were
    /// compacted away is an error (the caller needs a full copy instead).
    pub fn entries(&self, since: u64, limit: usize) -> Result<Vec<WalEntry>> {
        self.0.wal_entries(since, limit)
    }

    /// Applies entries exported from another database's tenant, in one atomic batch. Entries at
    /// or below the current sequence must match what is already here (they are skipped); the
    /// rest must continue the sequence without gaps. Rows, ids and timestamps are written
    /// exactly as logged.
    pub fn apply(&self, entries: &[WalEntry]) -> Result<ApplyReport> {
        self.0.apply_wal(entries)
    }

    /// Removes entries with `seq < before`. Later exports must start at `before - 1` or after.
    pub fn compact(&self, before: u64) -> Result<()> {
        self.0.compact_wal(before)
    }
}

/// A sync round in steps, for faces that reach the hub themselves (see [`Tenant::sync_steps`]):
/// `next_push` → send → `take_push` until `None`; then `next_pull` → send its `path` →
/// `take_pull` (or `take_snapshot` when the plan is a snapshot page) until caught up.
/// [`Tenant::sync`] runs the same steps over HTTP.
#[derive(Debug, Clone, Copy)]
pub struct SyncSteps<'t>(&'t TenantStore);

impl SyncSteps<'_> {
    /// The next push of the outbox, or `None` when everything local has been pushed.
    pub fn next_push(&self) -> Result<Option<PushPlan>> {
        self.0.next_push()
    }

    /// Takes the hub's answer to a planned push; returns how many ops the hub took.
    pub fn take_push(&self, plan: &PushPlan, answer: &PushResponse) -> Result<u64> {
        self.0.take_push(plan, answer)
    }

    /// The hub position to pull after.
    pub fn pull_since(&self) -> Result<u64> {
        self.0.pull_since()
    }

    /// What to ask the hub for next while pulling: the log after the checkpoint, or the next
    /// page of the hub's snapshot when one is being loaded.
    pub fn next_pull(&self) -> Result<PullPlan> {
        self.0.next_pull()
    }

    /// Applies a pull's answer; returns `(entries applied, caught up)`. An answer asking for a
    /// snapshot starts loading one (the next plan is its first page).
    pub fn take_pull(&self, since: u64, answer: &PullResponse) -> Result<(u64, bool)> {
        self.0.take_pull(since, answer)
    }

    /// Applies a snapshot page asked after `after` (the plan's `after`); returns `(rows and
    /// edges taken, load finished)`.
    pub fn take_snapshot(&self, after: Option<&str>, page: &SnapshotPage) -> Result<(u64, bool)> {
        self.0.take_snapshot(after, page)
    }
}

/// The vector indexes of one tenant (see [`Tenant::vectors`]).
#[derive(Debug, Clone, Copy)]
pub struct Vectors<'t>(&'t TenantStore);

impl Vectors<'_> {
    /// Stores a caller-supplied vector for `field` of row `id` of `table` under the provider
    /// label `provider` (any name: vectors from different labels are separate indexes).
    pub fn put(
        &self,
        table: &str,
        id: &str,
        field: &str,
        provider: &str,
        vector: &[f32],
    ) -> Result<()> {
        self.0.put_vector(table, id, field, provider, vector)
    }

    /// Stores many caller-supplied vectors in one atomic batch.
    pub fn put_many(
        &self,
        table: &str,
        field: &str,
        provider: &str,
        items: &[(Uuid, Vec<f32>)],
    ) -> Result<()> {
        self.0.put_vectors(table, field, provider, items)
    }

    /// The metadata of `index`, if any vector was ever stored in it.
    pub fn index(&self, index: &IndexName) -> Result<Option<IndexMeta>> {
        self.0.vector_index(index)
    }

    /// Every vector index of `table`.
    pub fn indexes(&self, table: &str) -> Result<Vec<(IndexName, IndexMeta)>> {
        self.0.vector_indexes(table)
    }

    /// The stored (prepared) vector of one row in `index`, with the segment it is in.
    pub fn stored(&self, index: &IndexName, id: &Uuid) -> Result<Option<(u64, Vec<f32>)>> {
        self.0.stored_vector(index, id)
    }

    /// Seals and merges the vector indexes of `table` (or of every table) as the maintenance
    /// policy says, or — with `force` — builds each into a single segment.
    pub fn optimize(
        &self,
        table: Option<&str>,
        force: bool,
    ) -> Result<Vec<(IndexName, MaintenanceReport)>> {
        self.0.optimize_vectors(table, force)
    }

    /// Runs maintenance on `indexes` when the policy asks for it (cheap when it does not).
    pub fn maintain(&self, indexes: &[IndexName]) -> Result<()> {
        self.0.maintain_vectors(indexes)
    }
}

/// The queued embedding work of one tenant (see [`Tenant::embeddings`]).
#[derive(Debug, Clone, Copy)]
pub struct Embeddings<'t>(&'t TenantStore);

impl Embeddings<'_> {
    /// Computes queued embedding work, at most `max_rows` rows (in batches of 32), skipping
    /// work whose provider cannot embed now. Safe to run while others write: work whose row
    /// changed meanwhile is left for the next drain.
    pub fn drain(&self, max_rows: usize) -> Result<DrainReport> {
        self.0.drain_embeddings(max_rows)
    }

    /// The next up-to-`max_rows` rows of queued work whose provider `can` embed, with their
    /// current texts: phase one of a drain (phase two is [`Self::store_batch`]). An async drain
    /// awaits its embeddings between the two.
    pub fn next_batch(
        &self,
        max_rows: usize,
        can: &dyn Fn(&str) -> bool,
    ) -> Result<EmbeddingBatch> {
        self.0.next_embedding_batch(max_rows, can)
    }

    /// Stores the vectors computed for `batch` (`(provider, one vector per text of
    /// [`EmbeddingBatch::requests`])`) in one write, re-checking that each piece of work is
    /// still queued and its text unchanged; drops work whose row or text is gone. Returns
    /// `(embedded, dropped)`.
    pub fn store_batch(
        &self,
        batch: &EmbeddingBatch,
        vectors: Vec<(String, Vec<Vec<f32>>)>,
    ) -> Result<(u64, u64)> {
        self.0.store_embedding_batch(batch, vectors)
    }

    /// Rows with queued embedding work `(local, replica)`.
    pub fn queued(&self) -> Result<(u64, u64)> {
        self.0.queued_rows()
    }
}
