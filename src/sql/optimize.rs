//! Optimization: from a [`BoundSelect`] to the [`SelectPlan`] `exec` runs. It decides how the
//! query runs, never what it answers:
//! - **Push-down:** each WHERE / ON conjunct goes where it can be checked first — into the scan
//!   of the one source it reads, into a join as a hash key (`a.x = b.y`) or a LEFT JOIN match
//!   condition, or after the join that brings in the last source it reads. A source on the
//!   nullable side of a LEFT JOIN takes no WHERE conditions early.
//! - **Soft-delete filter:** a source's soft-deleted rows are skipped unless the query mentions
//!   its `deleted_at`.
//! - **Slot planning:** which of a source's slots its pushed-down filter reads (decoded first),
//!   and the slots of `id` and `_score` for a vector search.
//! - **Access paths** (`access.rs`): rows by id, by a secondary index, a full scan, or — for a
//!   similarity search — a vector search filtered by the rows the other conditions find.
//! - **Counting:** `COUNT(*)` of a whole table with no condition and no GROUP BY reads the
//!   table's row counter instead of its rows.
//! - **Ordering and paging:** ORDER BY `id` over a full scan needs no sort; ORDER BY with a
//!   LIMIT is a bounded top-k (in `exec`); a false constant condition without FROM yields no row.

mod access;

use serde_json::Value;

use self::access::choose_access;
use super::bind::{BoundSelect, BoundSource, VectorSpec, BM25_COLUMN, SCORE_COLUMN};
use super::expr::Expr;
use super::plan::{
    Access, AggFunc, JoinKind, JoinPlan, KeywordSpec, Pred, SelectPlan, SourcePlan, VectorAccess,
    DEFAULT_VECTOR_LIMIT,
};
use super::value::CmpOp;
use crate::error::{Error, Result};
use crate::store::read::Reader;
use crate::store::TableSchema;

/// Plans `bound` against the tenant's data (index selectivity is probed through `reader`).
pub(crate) fn optimize(reader: &Reader<'_>, bound: BoundSelect) -> Result<SelectPlan> {
    let include_deleted = include_deleted(&bound);
    let placed = push_down(
        bound.sources.len(),
        &bound.joins,
        bound.where_preds,
        bound.on_preds,
    )?;
    if let Some(j) = placed.joins.iter().position(|j| j.left_keys.is_empty()) {
        return Err(Error::SqlUnsupported(format!(
            "JOIN of `{}` without an equality to the tables before it (a cross join); join ON a.x = b.y",
            bound.sources[j + 1].alias
        )));
    }
    let searched = bound.vector.is_some() || bound.keyword.is_some();
    let vector = searched.then(|| {
        // A full-text search alone is a filter: every match, up to the search's bound.
        let unlimited = if bound.vector.is_some() {
            DEFAULT_VECTOR_LIMIT
        } else {
            crate::vector::MAX_TOP_K
        };
        let k = bound
            .offset
            .saturating_add(bound.limit.unwrap_or(unlimited));
        ((bound.vector.as_ref(), bound.keyword.as_ref()), k)
    });
    let mut sources = Vec::with_capacity(bound.sources.len());
    for (s, (src, filter)) in bound.sources.iter().zip(placed.filters).enumerate() {
        let mut plan = source_plan(src, s, filter, include_deleted[s]);
        choose_access(reader, &mut plan, s, &src.schema.info.indexed_fields)?;
        if let (0, Some((v, k))) = (s, vector) {
            vector_access(&mut plan, v, k);
        }
        sources.push(plan);
    }
    let mut plan = SelectPlan {
        presorted: false,
        sources,
        joins: placed.joins,
        group: bound.group,
        columns: bound.columns,
        outputs: bound.outputs,
        distinct: bound.distinct,
        order: bound.order,
        limit: bound.limit,
        offset: bound.offset,
    };
    // Conditions on no table at all (constants) guard the driving scan.
    match plan.sources.first_mut() {
        Some(first) => first.filter.extend(placed.constant),
        // No FROM: a false constant WHERE yields no row.
        None => {
            for p in placed.constant {
                if p.expr.eval_const()? != Value::Bool(true) {
                    plan.limit = Some(0);
                }
            }
        }
    }
    if let Some(first) = bound.sources.first() {
        index_order(&mut plan, &first.schema.info);
    }
    plan.presorted = presorted(&plan);
    counter(&mut plan);
    Ok(plan)
}

/// `COUNT(*)` (any number of times, in any expressions) of one whole table, with no condition
/// and no GROUP BY: the answer is the table's row counter, and no row is read.
fn counter(plan: &mut SelectPlan) {
    let Some(group) = &plan.group else { return };
    let only_count_star = group
        .aggs
        .iter()
        .all(|a| a.func == AggFunc::Count && a.arg.is_none());
    if let ([source], true, true, true) = (
        plan.sources.as_mut_slice(),
        plan.joins.is_empty(),
        group.keys.is_empty(),
        only_count_star,
    ) {
        if source.access == Access::FullScan && source.filter.is_empty() {
            source.access = Access::Counter;
        }
    }
}

/// `ORDER BY f [DESC] LIMIT k` over one table (`schema`), with no other condition, when `f`'s
/// index is in SQL's order of `f`: the rows come from the index already sorted and stop at the
/// limit, instead of a top-k over a full scan. (With a condition, the index walk could read
/// every row by id to find k that pass, slower than the scan; it is left to the scan.)
fn index_order(plan: &mut SelectPlan, schema: &TableSchema) {
    if plan.sources.len() != 1 || plan.group.is_some() || plan.distinct || plan.limit.is_none() {
        return;
    }
    let [key] = plan.order.as_slice() else {
        return;
    };
    let Expr::Column {
        source: 0, path, ..
    } = &key.expr
    else {
        return;
    };
    let source = &mut plan.sources[0];
    if path.len() != 1
        || !schema.index_in_value_order(&path[0])
        || source.access != Access::FullScan
        || !source.filter.is_empty()
    {
        return;
    }
    source.access = Access::IndexOrder {
        field: path[0].clone(),
        desc: key.desc,
        nulls_first: key.nulls_first,
    };
}

/// Whether each source's soft-deleted rows are visible: only to queries whose conditions
/// mention its `deleted_at`.
fn include_deleted(bound: &BoundSelect) -> Vec<bool> {
    let mut include = vec![false; bound.sources.len()];
    for p in bound
        .where_preds
        .iter()
        .chain(bound.on_preds.iter().flatten())
    {
        p.expr.visit(&mut |e| {
            if let Expr::Column { source, path, .. } = e {
                if path[0] == "deleted_at" {
                    include[*source] = true;
                }
            }
        });
    }
    include
}

/// Where the conditions of a query run.
struct Placed {
    /// Conditions on one source alone, checked while scanning it.
    filters: Vec<Vec<Pred>>,
    /// The joins with their keys, LEFT JOIN match conditions and post-join conditions.
    joins: Vec<JoinPlan>,
    /// Conditions that read no source.
    constant: Vec<Pred>,
}

/// The highest source a set of sources (a bit set) reads; 0 for none.
fn highest(bits: u64) -> usize {
    if bits == 0 {
        0
    } else {
        63 - bits.leading_zeros() as usize
    }
}

/// Places each conjunct of WHERE and of the joins' ON (see the module doc) for `n` sources.
fn push_down(
    n: usize,
    kinds: &[JoinKind],
    where_preds: Vec<Pred>,
    mut on_preds: Vec<Vec<Pred>>,
) -> Result<Placed> {
    // A source on the nullable side of a LEFT JOIN cannot take WHERE conditions early.
    let nullable: Vec<bool> = (0..n)
        .map(|s| s > 0 && kinds[s - 1] == JoinKind::Left)
        .collect();
    // Whether a condition reading `bits` can run in the scan of the one source it reads.
    let in_scan = |bits: u64| n > 0 && bits.count_ones() <= 1 && !nullable[highest(bits)];
    let mut placed = Placed {
        filters: (0..n).map(|_| Vec::new()).collect(),
        joins: kinds.iter().map(|k| JoinPlan::new(*k)).collect(),
        constant: Vec::new(),
    };
    let mut pool: Vec<Pred> = Vec::new();
    for p in where_preds {
        let bits = p.expr.sources();
        if in_scan(bits) {
            placed.filters[highest(bits)].push(p);
        } else {
            pool.push(p);
        }
    }
    // ON conditions: inner joins behave like WHERE; LEFT JOIN conditions belong to the match.
    for (j, preds) in on_preds.iter_mut().enumerate() {
        let right = j + 1;
        for p in std::mem::take(preds) {
            let bits = p.expr.sources();
            let join = &mut placed.joins[j];
            if join.kind == JoinKind::Inner {
                if in_scan(bits) {
                    placed.filters[highest(bits)].push(p);
                } else {
                    pool.push(p);
                }
            } else if bits == 1 << right {
                placed.filters[right].push(p);
            } else if let Some((l, r)) = equi_key(&p.expr, right) {
                join.add_key(l, r, &p.text);
            } else if highest(bits) <= right {
                join.on_residual.push(p);
            } else {
                return Err(Error::SqlSyntax(format!(
                    "JOIN condition `{}` refers to a table joined later",
                    p.text
                )));
            }
        }
    }
    // The rest runs once the last source it reads is joined (as a hash key when it can).
    for p in pool {
        let at = highest(p.expr.sources());
        if at == 0 {
            placed.constant.push(p);
            continue;
        }
        let join = &mut placed.joins[at - 1];
        if join.kind == JoinKind::Inner {
            if let Some((l, r)) = equi_key(&p.expr, at) {
                join.add_key(l, r, &p.text);
                continue;
            }
        }
        join.after.push(p);
    }
    Ok(placed)
}

/// `left = right` where one side reads only `right_source` and the other only earlier sources.
fn equi_key(e: &Expr, right_source: usize) -> Option<(Expr, Expr)> {
    let Expr::Cmp(CmpOp::Eq, a, b) = e else {
        return None;
    };
    let (ab, bb) = (a.sources(), b.sources());
    let right = 1u64 << right_source;
    let before = right - 1;
    if ab == right && bb != 0 && bb & !before == 0 {
        Some(((**b).clone(), (**a).clone()))
    } else if bb == right && ab != 0 && ab & !before == 0 {
        Some(((**a).clone(), (**b).clone()))
    } else {
        None
    }
}

/// The plan of source `s` before its access path is chosen: its fields, its pushed-down
/// filter and the slots that filter reads.
fn source_plan(
    src: &BoundSource,
    s: usize,
    mut filter: Vec<Pred>,
    include_deleted: bool,
) -> SourcePlan {
    // A search condition (`x.cosine(...)`, `x MATCH ...`) binds as `true`: it is the access
    // path, not a filter (kept, it would make the search scan the table for its filter).
    filter.retain(|p| !matches!(p.expr, Expr::Literal(serde_json::Value::Bool(true))));
    let mut filter_slots = vec![false; src.fields.len()];
    for p in &filter {
        p.expr.visit(&mut |x| {
            if let Expr::Column { source, slot, .. } = x {
                if *source == s {
                    filter_slots[*slot] = true;
                }
            }
        });
    }
    SourcePlan {
        table: src.table.clone(),
        alias: src.alias.clone(),
        fields: src.fields.clone(),
        filter_slots,
        include_deleted,
        filter,
        access: Access::FullScan,
        estimate: 0,
    }
}

/// Makes the similarity search the access path of `plan`, finding `k` rows; the path chosen
/// so far finds the rows the other conditions allow.
fn vector_access(
    plan: &mut SourcePlan,
    (v, keyword): (Option<&VectorSpec>, Option<&KeywordSpec>),
    k: usize,
) {
    use crate::vector::SearchMode;
    let slot_of = |field: &str| plan.fields.iter().position(|f| f == field).unwrap_or(0);
    let (id_slot, score_slot) = (slot_of("id"), slot_of(SCORE_COLUMN));
    let bm25_slot = plan.fields.iter().position(|f| f == BM25_COLUMN);
    let base = std::mem::replace(&mut plan.access, Access::Empty);
    let mode = match (v, keyword) {
        (Some(_), Some(_)) => SearchMode::Hybrid,
        (None, Some(_)) => SearchMode::Keyword,
        _ => SearchMode::Vector,
    };
    plan.access = Access::Vector(Box::new(VectorAccess {
        mode,
        keyword: keyword.cloned(),
        bm25_slot,
        text: v.map(|v| v.text.clone()).unwrap_or_default(),
        field: v.and_then(|v| v.field.clone()),
        written: v.map(|v| v.written.clone()).unwrap_or_default(),
        k,
        base,
        id_slot,
        score_slot,
        query: None,
    }));
}

/// Rows come out of a full scan in id order, and joins keep the driving order: ORDER BY `id`
/// needs no sort then; nor does an index-order scan.
fn presorted(plan: &SelectPlan) -> bool {
    if plan
        .sources
        .first()
        .is_some_and(|s| matches!(s.access, Access::IndexOrder { .. }))
    {
        return true;
    }
    matches!(plan.order.as_slice(), [k] if !k.desc
        && matches!(&k.expr, Expr::Column { source: 0, path, .. } if path.len() == 1 && path[0] == "id")
        && plan.sources.first().is_some_and(|s| s.access == Access::FullScan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::bind::Binder;
    use crate::sql::parse::{parse, Statement};
    use crate::sql::testing::people;

    fn plan(sql: &str) -> SelectPlan {
        let (_db, t) = people();
        let reader = t.store().reader().unwrap();
        let Statement::Query(q) = parse(sql).unwrap() else {
            panic!("not a query: {sql}");
        };
        let bound = Binder::new(&reader, &[]).select(&q).unwrap();
        optimize(&reader, bound).unwrap()
    }

    #[test]
    fn where_on_an_indexed_field_picks_the_index() {
        let p = plan("SELECT name FROM person WHERE city = 'London' AND age > 30");
        let s = &p.sources[0];
        assert!(
            matches!(&s.access, Access::Index { field, .. } if field == "city"),
            "{:?}",
            s.access
        );
        assert_eq!(s.estimate, 2);
        // Both conjuncts are checked in the scan; only their slots are decoded first.
        assert_eq!(s.filter.len(), 2);
        assert_eq!(s.fields, ["city", "age", "name"]);
        assert_eq!(s.filter_slots, [true, true, false]);
    }

    #[test]
    fn count_star_of_a_whole_table_reads_its_row_counter_and_nothing_else_does() {
        for sql in [
            "SELECT COUNT(*) FROM person",
            "SELECT COUNT(*) AS n, COUNT(*) + 1 AS m FROM person",
            "SELECT COUNT(*) FROM person HAVING COUNT(*) > 1",
        ] {
            assert_eq!(plan(sql).sources[0].access, Access::Counter, "{sql}");
        }
        for sql in [
            "SELECT COUNT(*) FROM person WHERE age > 30",
            "SELECT city, COUNT(*) FROM person GROUP BY city",
            "SELECT COUNT(name) FROM person",
            "SELECT COUNT(*), MAX(age) FROM person",
            "SELECT COUNT(*) FROM person p JOIN pet ON pet.owner = p.name",
            "SELECT COUNT(*) FROM person WHERE 1 = 2",
        ] {
            assert_ne!(plan(sql).sources[0].access, Access::Counter, "{sql}");
        }
    }

    #[test]
    fn unindexed_conditions_and_ids_choose_scan_or_lookup() {
        let p = plan("SELECT name FROM person WHERE age > 30");
        assert_eq!(p.sources[0].access, Access::FullScan);
        let p = plan("SELECT name FROM person WHERE id = 'not-a-uuid'");
        assert_eq!(p.sources[0].access, Access::Empty);
    }

    #[test]
    fn soft_deleted_rows_are_filtered_unless_deleted_at_is_mentioned() {
        assert!(!plan("SELECT name FROM person").sources[0].include_deleted);
        let p = plan("SELECT name FROM person WHERE deleted_at IS NOT NULL");
        assert!(p.sources[0].include_deleted);
        // Per source: only the joined table that mentions it sees its deleted rows.
        let p = plan(
            "SELECT p.name FROM person p JOIN pet ON pet.owner = p.name WHERE pet.deleted_at IS NULL",
        );
        assert_eq!(
            p.sources
                .iter()
                .map(|s| s.include_deleted)
                .collect::<Vec<_>>(),
            [false, true]
        );
    }

    #[test]
    fn limit_with_order_is_a_bounded_top_k() {
        let p = plan("SELECT name FROM person ORDER BY age DESC LIMIT 2 OFFSET 1");
        assert!(!p.presorted && !p.streams());
        assert_eq!((p.limit, p.offset), (Some(2), 1));
        assert_eq!(
            p.explain()[1].trim_start(),
            "Top-3 sort age DESC NULLS FIRST"
        );
        // Ordered by id over a full scan: no sort, rows stream and stop at the limit.
        let p = plan("SELECT name FROM person ORDER BY id LIMIT 2");
        assert!(p.presorted && p.streams());
    }

    #[test]
    fn conditions_are_pushed_to_the_scan_the_join_or_after_it() {
        let p = plan(
            "SELECT p.name FROM person p LEFT JOIN pet ON pet.owner = p.name AND pet.kind = 'dog' \
             WHERE p.age > 30 AND pet.name IS NULL",
        );
        let texts = |preds: &[Pred]| preds.iter().map(|x| x.text.clone()).collect::<Vec<_>>();
        assert_eq!(texts(&p.sources[0].filter), ["p.age > 30"]);
        assert_eq!(texts(&p.sources[1].filter), ["pet.kind = 'dog'"]);
        let join = &p.joins[0];
        assert_eq!(join.kind, JoinKind::Left);
        assert_eq!(join.key_texts, ["pet.owner = p.name"]);
        // WHERE on the nullable side runs after the join, not in its scan.
        assert_eq!(texts(&join.after), ["pet.name IS NULL"]);
    }

    #[test]
    fn a_similarity_search_is_the_access_path_over_the_rows_the_filter_finds() {
        let (_db, t) = people();
        t.register_schema(serde_json::json!({
            "title": "Note", "type": "object",
            "properties": {"body": {"type": "string"}, "topic": {"type": "string"}},
            "json_schema_extra": {"indexed_fields": ["topic"], "embedding_fields": ["body"]}
        }))
        .unwrap();
        let reader = t.store().reader().unwrap();
        let Statement::Query(q) = parse(
            "SELECT body FROM note WHERE embedding.cosine('cats') AND topic = 'pets' OFFSET 5",
        )
        .unwrap() else {
            unreachable!()
        };
        let bound = Binder::new(&reader, &[]).select(&q).unwrap();
        assert_eq!(bound.limit, Some(DEFAULT_VECTOR_LIMIT));
        let p = optimize(&reader, bound).unwrap();
        let Access::Vector(v) = &p.sources[0].access else {
            panic!("{:?}", p.sources[0].access)
        };
        assert_eq!(
            (v.text.as_str(), v.field.as_deref(), v.k),
            ("cats", None, 15)
        );
        assert!(matches!(&v.base, Access::Index { field, .. } if field == "topic"));
        assert_eq!(p.sources[0].fields[v.score_slot], SCORE_COLUMN);
        assert_eq!(p.sources[0].fields[v.id_slot], "id");
    }

    #[test]
    fn a_constant_condition_without_from_decides_the_row() {
        assert_eq!(plan("SELECT 1 WHERE 1 = 2").limit, Some(0));
        assert_eq!(plan("SELECT 1 WHERE 1 = 1").limit, None);
    }
}
