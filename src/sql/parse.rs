//! Parsing: exactly one statement, through `sqlparser` — standard SELECT / EXPLAIN, and the REM
//! statements `LOOKUP`, `SEARCH` and `TRAVERSE`, parsed with the same tokenizer and expression
//! grammar.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlparser::ast;
use sqlparser::ast::helpers::attached_token::AttachedToken;
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use crate::error::{Error, Result};

/// A parsed statement.
#[derive(Debug)]
pub(crate) enum Statement {
    /// A SELECT query.
    Query(Box<ast::Query>),
    /// `EXPLAIN <statement>`.
    Explain(Box<Statement>),
    /// `LOOKUP 'k1', 'k2', ...`: rows by natural key across tables.
    Lookup(Vec<ast::Expr>),
    /// `SEARCH 'text' IN table [MODE vector|keyword|hybrid] [WHERE ...] [LIMIT n]`.
    Search {
        text: ast::Expr,
        table: ast::Ident,
        mode: crate::vector::SearchMode,
        selection: Option<ast::Expr>,
        limit: Option<ast::Expr>,
    },
    /// `TRAVERSE FROM 'id' [DEPTH n] [DIRECTION out|in|both] [TYPE 'rel', ...] [STRATEGY bfs|dfs]
    /// [LIMIT n]`.
    Traverse(Traverse),
}

/// The clauses of a TRAVERSE statement.
#[derive(Debug, Default)]
pub(crate) struct Traverse {
    pub(crate) start: Option<ast::Expr>,
    pub(crate) depth: Option<ast::Expr>,
    pub(crate) direction: Option<String>,
    pub(crate) rel_types: Vec<ast::Expr>,
    pub(crate) strategy: Option<String>,
    pub(crate) limit: Option<ast::Expr>,
}

/// How deep sqlparser's recursive descent goes (its default recursion limit).
const PARSER_DEPTH: usize = 50;

/// The error for text nested deeper than the parser reads, with the depth found.
fn too_deep(depth: usize) -> Error {
    Error::SqlSyntax(format!(
        "expression nested too deeply: {depth} levels of parentheses and prefix operators \
         (NOT, -, +) where at most {PARSER_DEPTH} are read; remove redundant ones (NOT NOT x is x)"
    ))
}

/// The deepest run of open parentheses plus consecutive prefix operators in `sql`: what makes
/// sqlparser recurse. An estimate for error messages (0 when the text does not tokenize).
fn prefix_nesting(sql: &str) -> usize {
    let dialect = GenericDialect {};
    let Ok(tokens) = sqlparser::tokenizer::Tokenizer::new(&dialect, sql).tokenize() else {
        return 0;
    };
    let (mut parens, mut prefixes, mut deepest) = (0usize, 0usize, 0usize);
    let mut after_operand = false;
    for token in tokens {
        match &token {
            Token::Whitespace(_) => continue,
            Token::LParen => {
                parens += 1;
                after_operand = false;
            }
            Token::RParen => {
                parens = parens.saturating_sub(1);
                prefixes = 0;
                after_operand = true;
            }
            Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::NOT => {
                prefixes += 1;
                after_operand = false;
            }
            Token::Minus | Token::Plus if !after_operand => prefixes += 1,
            Token::Word(w) if w.quote_style.is_none() && w.keyword != Keyword::NoKeyword => {
                prefixes = 0;
                after_operand = false;
            }
            Token::Word(_) | Token::Number(..) | Token::SingleQuotedString(_) => {
                prefixes = 0;
                after_operand = true;
            }
            _ => {
                prefixes = 0;
                after_operand = false;
            }
        }
        deepest = deepest.max(parens + prefixes);
    }
    deepest
}

/// A sqlparser error as remdb's `SQL_SYNTAX`.
pub(super) fn syntax(e: ParserError) -> Error {
    if e == ParserError::RecursionLimitExceeded {
        return Error::SqlSyntax(format!(
            "expression nested too deeply: parentheses and prefix operators (NOT, -, +) are read \
             at most {PARSER_DEPTH} levels deep; remove redundant ones (NOT NOT x is x)"
        ));
    }
    let msg = e.to_string();
    Error::SqlSyntax(
        msg.strip_prefix("sql parser error: ")
            .unwrap_or(&msg)
            .to_string(),
    )
}

/// Deepest expression nesting accepted (binding and evaluation recurse once per level).
pub(crate) const MAX_DEPTH: usize = 128;

/// Statements kept parsed, and the longest text kept: at most ~32 × 2 KiB of SQL and its trees.
const CACHED_STATEMENTS: usize = 32;
const CACHED_TEXT_BYTES: usize = 2048;

/// The statements parsed most recently, by their text. Parsing is about half of what a point
/// query costs (17 µs natively for `SELECT * FROM item WHERE n = ...` on 100k rows), and apps
/// send the same texts again and again, with parameters. A statement does not depend on any
/// schema (binding comes after), so one cache serves every database in the process.
#[derive(Default)]
struct StatementCache {
    /// Text → (statement, last use).
    entries: HashMap<Box<str>, (Arc<Statement>, u64)>,
    clock: u64,
}

impl StatementCache {
    /// The statement parsed from `sql`, if kept.
    fn get(&mut self, sql: &str) -> Option<Arc<Statement>> {
        self.clock += 1;
        let now = self.clock;
        self.entries.get_mut(sql).map(|(statement, used)| {
            *used = now;
            statement.clone()
        })
    }

    /// Keeps `statement` for `sql`, forgetting the least recently used one when full.
    fn put(&mut self, sql: &str, statement: Arc<Statement>) {
        if self.entries.len() >= CACHED_STATEMENTS && !self.entries.contains_key(sql) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(text, _)| text.clone());
            if let Some(text) = oldest {
                self.entries.remove(&text);
            }
        }
        self.clock += 1;
        self.entries.insert(sql.into(), (statement, self.clock));
    }
}

static STATEMENTS: Mutex<Option<StatementCache>> = Mutex::new(None);

/// [`parse`], through the cache of recent statements: the same text parses once. Errors are
/// not kept (the text parses again, and fails again, each time).
pub(crate) fn parse_cached(sql: &str) -> Result<Arc<Statement>> {
    if sql.len() > CACHED_TEXT_BYTES {
        return parse(sql).map(Arc::new);
    }
    let cached = STATEMENTS
        .lock()
        .ok()
        .and_then(|mut cache| cache.get_or_insert_with(StatementCache::default).get(sql));
    if let Some(statement) = cached {
        return Ok(statement);
    }
    let statement = Arc::new(parse(sql)?);
    if let Ok(mut cache) = STATEMENTS.lock() {
        cache
            .get_or_insert_with(StatementCache::default)
            .put(sql, statement.clone());
    }
    Ok(statement)
}

/// Parses `sql`, which must hold exactly one statement (a trailing `;` is fine).
pub(crate) fn parse(sql: &str) -> Result<Statement> {
    let dialect = GenericDialect {};
    let tokens = sqlparser::tokenizer::Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| syntax(e.into()))?;
    let tokens = rewrite_match(tokens)?;
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let statement = parse_statement(&mut parser).map_err(|e| {
        // sqlparser's own recursion error names no depth: measure it.
        match prefix_nesting(sql) {
            depth if depth > PARSER_DEPTH => too_deep(depth),
            _ => e,
        }
    })?;
    while parser.consume_token(&Token::SemiColon) {}
    let leftover = parser.peek_token().token;
    if leftover != Token::EOF || has_empty_select(&statement) {
        // sqlparser backs out of a select list it could not read for depth and leaves the
        // rest unread (an empty select list, then "another statement"): say what happened.
        let depth = prefix_nesting(sql);
        if depth > PARSER_DEPTH {
            return Err(too_deep(depth));
        }
    }
    if leftover != Token::EOF {
        return Err(Error::SqlSyntax(format!(
            "exactly one statement per call; unexpected `{leftover}` after the statement"
        )));
    }
    if has_empty_select(&statement) {
        return Err(Error::SqlSyntax(
            "SELECT needs at least one column or expression (or *)".into(),
        ));
    }
    check_depth(&statement)?;
    Ok(statement)
}

/// The function `field MATCH 'query'` is rewritten to (full-text search, see `bind/function.rs`).
pub(crate) const MATCH_FUNCTION: &str = "fulltext_match";

/// Rewrites each infix `field MATCH <value>` (SQLite's full-text operator, which the generic
/// grammar does not read) to `fulltext_match(field, <value>)`: `field` is a name (`t.field`
/// too), `<value>` one token (a string or a parameter).
fn rewrite_match(
    tokens: Vec<sqlparser::tokenizer::TokenWithSpan>,
) -> Result<Vec<sqlparser::tokenizer::TokenWithSpan>> {
    use sqlparser::tokenizer::TokenWithSpan;
    let is_match = |t: &Token| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::MATCH);
    if !tokens.iter().any(|t| is_match(&t.token)) {
        return Ok(tokens);
    }
    let not_operand = [
        Keyword::WHERE,
        Keyword::AND,
        Keyword::OR,
        Keyword::NOT,
        Keyword::ON,
        Keyword::SELECT,
        Keyword::HAVING,
        Keyword::WHEN,
        Keyword::THEN,
        Keyword::ELSE,
        Keyword::CASE,
        Keyword::BY,
    ];
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len() + 4);
    let mut rest = tokens.into_iter().peekable();
    while let Some(t) = rest.next() {
        if !is_match(&t.token) {
            out.push(t);
            continue;
        }
        let significant = |o: &[TokenWithSpan]| {
            o.iter()
                .rposition(|x| !matches!(x.token, Token::Whitespace(_)))
        };
        let operand_at = significant(&out).filter(|&i| {
            matches!(&out[i].token, Token::Word(w) if w.quote_style.is_some() || !not_operand.contains(&w.keyword))
        });
        let Some(mut start) = operand_at else {
            // Not infix (e.g. MySQL's MATCH (...) AGAINST): left to the grammar.
            out.push(t);
            continue;
        };
        // `alias.field`: take the qualifier too.
        if let Some(dot) = significant(&out[..start]) {
            if out[dot].token == Token::Period {
                if let Some(q) =
                    significant(&out[..dot]).filter(|&q| matches!(out[q].token, Token::Word(_)))
                {
                    start = q;
                }
            }
        }
        while rest
            .peek()
            .is_some_and(|x| matches!(x.token, Token::Whitespace(_)))
        {
            rest.next();
        }
        let value = match rest.next() {
            Some(v)
                if matches!(
                    v.token,
                    Token::SingleQuotedString(_)
                        | Token::Placeholder(_)
                        | Token::NationalStringLiteral(_)
                        | Token::EscapedStringLiteral(_)
                ) =>
            {
                v
            }
            _ => {
                return Err(Error::SqlSyntax(
                    "MATCH takes a field and a query string: `field MATCH 'terms'`".into(),
                ))
            }
        };
        let operand: Vec<TokenWithSpan> = out.drain(start..).collect();
        out.push(TokenWithSpan::wrap(Token::make_word(MATCH_FUNCTION, None)));
        out.push(TokenWithSpan::wrap(Token::LParen));
        out.extend(operand);
        out.push(TokenWithSpan::wrap(Token::Comma));
        out.push(value);
        out.push(TokenWithSpan::wrap(Token::RParen));
    }
    Ok(out)
}

/// Whether `statement` is (or explains) a SELECT without a select list.
fn has_empty_select(statement: &Statement) -> bool {
    match statement {
        Statement::Query(q) => {
            matches!(&*q.body, ast::SetExpr::Select(s) if s.projection.is_empty())
        }
        Statement::Explain(inner) => has_empty_select(inner),
        _ => false,
    }
}

/// Whether the next token is `word` (unquoted, any case).
fn peek_word(parser: &Parser<'_>, word: &str) -> bool {
    peek_one_of(parser, &[word]).is_some()
}

/// The entry of `words` the next token spells (unquoted, any case), if any.
fn peek_one_of<'w>(parser: &Parser<'_>, words: &[&'w str]) -> Option<&'w str> {
    match &parser.peek_token().token {
        Token::Word(w) if w.quote_style.is_none() => words
            .iter()
            .copied()
            .find(|k| w.value.eq_ignore_ascii_case(k)),
        _ => None,
    }
}

fn parse_statement(parser: &mut Parser<'_>) -> Result<Statement> {
    if parser.peek_token().token == Token::EOF {
        return Err(Error::SqlSyntax("empty query".into()));
    }
    if peek_word(parser, "EXPLAIN") {
        parser.next_token();
        if parser.parse_keyword(Keyword::ANALYZE) {
            return Err(Error::SqlUnsupported("EXPLAIN ANALYZE; use EXPLAIN".into()));
        }
        return Ok(Statement::Explain(Box::new(parse_statement(parser)?)));
    }
    if peek_word(parser, "LOOKUP") {
        parser.next_token();
        let keys = parser
            .parse_comma_separated(Parser::parse_expr)
            .map_err(syntax)?;
        return Ok(Statement::Lookup(keys));
    }
    if peek_word(parser, "SEARCH") {
        parser.next_token();
        let text = ast::Expr::Value(parser.parse_value().map_err(syntax)?);
        parser.expect_keyword(Keyword::IN).map_err(syntax)?;
        let table = parser.parse_identifier().map_err(syntax)?;
        let mode = if peek_word(parser, "MODE") {
            parser.next_token();
            let word = parser.next_token().token.to_string();
            word.parse().map_err(|_| {
                Error::SqlSyntax(format!(
                    "SEARCH ... MODE takes vector, keyword or hybrid, got `{word}`"
                ))
            })?
        } else {
            crate::vector::SearchMode::Vector
        };
        let selection = if parser.parse_keyword(Keyword::WHERE) {
            Some(parser.parse_expr().map_err(syntax)?)
        } else {
            None
        };
        let limit = if parser.parse_keyword(Keyword::LIMIT) {
            Some(parser.parse_expr().map_err(syntax)?)
        } else {
            None
        };
        return Ok(Statement::Search {
            text,
            table,
            mode,
            selection,
            limit,
        });
    }
    if peek_word(parser, "TRAVERSE") {
        parser.next_token();
        return parse_traverse(parser).map(Statement::Traverse);
    }
    // Only queries reach sqlparser's statement grammar: calling `parse_query` rather than
    // `parse_statement` leaves its DDL/admin grammar (and the code of the AST types only it
    // builds) out of the wasm module — about a quarter of sqlparser's code.
    if parser.peek_token().token == Token::LParen || peek_one_of(parser, QUERY_STARTS).is_some() {
        return parser.parse_query().map(Statement::Query).map_err(syntax);
    }
    if let Some(verb) = peek_one_of(parser, WRITE_OR_ADMIN_STARTS) {
        return Err(Error::SqlUnsupported(format!(
            "{verb} statements; SQL in remdb reads (SELECT, EXPLAIN, LOOKUP, SEARCH, TRAVERSE) — write with insert/update/delete"
        )));
    }
    Err(Error::SqlSyntax(format!(
        "expected a statement (SELECT, EXPLAIN, LOOKUP, SEARCH or TRAVERSE), found `{}`",
        parser.peek_token().token
    )))
}

/// First words of the statements [`parse_statement`] hands to sqlparser's query grammar.
const QUERY_STARTS: &[&str] = &["SELECT", "WITH", "VALUES"];

/// First words of SQL statements that write or administer: named in their error as unsupported
/// (anything else that is not a query is a syntax error).
const WRITE_OR_ADMIN_STARTS: &[&str] = &[
    "INSERT",
    "UPDATE",
    "DELETE",
    "UPSERT",
    "MERGE",
    "REPLACE",
    "CREATE",
    "DROP",
    "ALTER",
    "TRUNCATE",
    "RENAME",
    "COMMENT",
    "GRANT",
    "REVOKE",
    "SET",
    "SHOW",
    "USE",
    "DESCRIBE",
    "DESC",
    "BEGIN",
    "START",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "END",
    "ABORT",
    "COPY",
    "ANALYZE",
    "VACUUM",
    "ATTACH",
    "DETACH",
    "PRAGMA",
    "CALL",
    "DECLARE",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "LOAD",
    "INSTALL",
    "LOCK",
    "UNLOCK",
    "KILL",
    "OPTIMIZE",
    "CACHE",
    "UNCACHE",
    "MSCK",
    "FLUSH",
    "DISCARD",
    "LISTEN",
    "NOTIFY",
    "UNLISTEN",
    "RESET",
    "ASSERT",
];

/// Rejects expressions nested deeper than [`MAX_DEPTH`] (e.g. thousands of chained ORs: use
/// IN), measured without recursion so hostile input cannot exhaust the stack.
pub(super) fn check_depth(statement: &Statement) -> Result<()> {
    let mut roots: Vec<&ast::Expr> = Vec::new();
    match statement {
        Statement::Query(q) => query_exprs(q, &mut roots),
        Statement::Explain(inner) => return check_depth(inner),
        Statement::Lookup(keys) => roots.extend(keys),
        Statement::Search {
            text,
            selection,
            limit,
            ..
        } => roots.extend(
            [Some(text), selection.as_ref(), limit.as_ref()]
                .into_iter()
                .flatten(),
        ),
        Statement::Traverse(t) => roots.extend(
            t.start
                .iter()
                .chain(&t.depth)
                .chain(&t.rel_types)
                .chain(&t.limit),
        ),
    }
    let mut stack: Vec<(&ast::Expr, usize)> = roots.into_iter().map(|e| (e, 1)).collect();
    while let Some((e, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(Error::SqlUnsupported(format!(
                "expressions nested more than {MAX_DEPTH} levels deep (for long OR chains of equalities use IN (...))"
            )));
        }
        children(e, &mut |c| stack.push((c, depth + 1)));
    }
    Ok(())
}

fn query_exprs<'a>(q: &'a ast::Query, out: &mut Vec<&'a ast::Expr>) {
    if let ast::SetExpr::Select(s) = &*q.body {
        for item in &s.projection {
            if let ast::SelectItem::UnnamedExpr(e)
            | ast::SelectItem::ExprWithAlias { expr: e, .. } = item
            {
                out.push(e);
            }
        }
        for from in &s.from {
            for j in &from.joins {
                if let ast::JoinOperator::Join(ast::JoinConstraint::On(e))
                | ast::JoinOperator::Inner(ast::JoinConstraint::On(e))
                | ast::JoinOperator::Left(ast::JoinConstraint::On(e))
                | ast::JoinOperator::LeftOuter(ast::JoinConstraint::On(e)) = &j.join_operator
                {
                    out.push(e);
                }
            }
        }
        out.extend(s.selection.iter().chain(&s.having));
        if let ast::GroupByExpr::Expressions(g, _) = &s.group_by {
            out.extend(g);
        }
    }
    if let Some(ast::OrderBy {
        kind: ast::OrderByKind::Expressions(o),
        ..
    }) = &q.order_by
    {
        out.extend(o.iter().map(|o| &o.expr));
    }
}

/// The direct subexpressions of the forms remdb binds.
fn children<'a>(e: &'a ast::Expr, f: &mut impl FnMut(&'a ast::Expr)) {
    use ast::Expr as A;
    match e {
        A::BinaryOp { left, right, .. } => {
            f(left);
            f(right);
        }
        A::UnaryOp { expr, .. }
        | A::Nested(expr)
        | A::IsNull(expr)
        | A::IsNotNull(expr)
        | A::IsTrue(expr)
        | A::IsNotTrue(expr)
        | A::IsFalse(expr)
        | A::IsNotFalse(expr)
        | A::Cast { expr, .. } => f(expr),
        A::In { expr, target, .. } => {
            f(expr);
            if let ast::InTarget::List(list) = target {
                list.iter().for_each(&mut *f);
            }
        }
        A::Between {
            expr, low, high, ..
        } => {
            f(expr);
            f(low);
            f(high);
        }
        A::Like { expr, pattern, .. } | A::ILike { expr, pattern, .. } => {
            f(expr);
            f(pattern);
        }
        A::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.iter().for_each(|o| f(o));
            for w in conditions {
                f(&w.condition);
                f(&w.result);
            }
            else_result.iter().for_each(|o| f(o));
        }
        A::Function(func) => {
            if let ast::FunctionArguments::List(list) = &func.args {
                for a in &list.args {
                    if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) = a {
                        f(x);
                    }
                }
            }
        }
        A::Interval(iv) => f(&iv.value),
        _ => {}
    }
}

/// `SEARCH 'text' IN table [MODE m] [WHERE w] [LIMIT n]` as the query it means, built on the
/// AST: `SELECT * FROM table WHERE <search> [AND (w)] [LIMIT n]`, `<search>` being
/// `embedding.cosine('text')` (vector), `fulltext MATCH 'text'` (keyword) or both (hybrid).
pub(crate) fn search_query(
    text: &ast::Expr,
    table: &ast::Ident,
    mode: crate::vector::SearchMode,
    selection: Option<&ast::Expr>,
    limit: Option<&ast::Expr>,
) -> ast::Query {
    use crate::vector::SearchMode;
    let call = |name: Vec<ast::Ident>, args: Vec<ast::Expr>| {
        ast::Expr::Function(ast::Function {
            name: ast::ObjectName::from(name),
            uses_odbc_syntax: false,
            parameters: ast::FunctionArguments::None,
            args: ast::FunctionArguments::List(ast::FunctionArgumentList {
                duplicate_treatment: None,
                args: args
                    .into_iter()
                    .map(|a| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a)))
                    .collect(),
                clauses: vec![],
            }),
            within_group: vec![],
            filter: None,
            null_treatment: None,
            over: None,
        })
    };
    let keyword = call(
        vec![ast::Ident::new(MATCH_FUNCTION)],
        vec![
            ast::Expr::Identifier(ast::Ident::new("fulltext")),
            text.clone(),
        ],
    );
    let cosine = ast::Expr::Function(ast::Function {
        name: ast::ObjectName::from(vec![
            ast::Ident::new("embedding"),
            ast::Ident::new("cosine"),
        ]),
        uses_odbc_syntax: false,
        parameters: ast::FunctionArguments::None,
        args: ast::FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                text.clone(),
            ))],
            clauses: vec![],
        }),
        within_group: vec![],
        filter: None,
        null_treatment: None,
        over: None,
    });
    let search = match mode {
        SearchMode::Vector => cosine,
        SearchMode::Keyword => keyword,
        SearchMode::Hybrid => ast::Expr::BinaryOp {
            left: Box::new(cosine),
            op: ast::BinaryOperator::And,
            right: Box::new(keyword),
        },
    };
    let condition = match selection {
        Some(w) => ast::Expr::BinaryOp {
            left: Box::new(search),
            op: ast::BinaryOperator::And,
            right: Box::new(ast::Expr::Nested(Box::new(w.clone()))),
        },
        None => search,
    };
    let from = ast::TableWithJoins {
        relation: ast::TableFactor::Table {
            name: ast::ObjectName::from(vec![table.clone()]),
            alias: None,
            args: None,
            with_hints: vec![],
            version: None,
            with_ordinality: false,
            partitions: vec![],
            json_path: None,
            sample: None,
            index_directives: vec![],
            inheritance: None,
        },
        joins: vec![],
    };
    ast::Query {
        with: None,
        body: Box::new(ast::SetExpr::Select(Box::new(select_star(from, condition)))),
        order_by: None,
        limit_clause: limit.map(|l| ast::LimitClause::LimitOffset {
            limit: Some(l.clone()),
            offset: None,
            limit_by: vec![],
        }),
        fetch: None,
        locks: vec![],
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: vec![],
    }
}

/// `SELECT * FROM from WHERE condition`.
fn select_star(from: ast::TableWithJoins, condition: ast::Expr) -> ast::Select {
    ast::Select {
        select_token: AttachedToken::empty(),
        optimizer_hints: vec![],
        distinct: None,
        select_modifiers: None,
        top: None,
        top_before_distinct: false,
        projection: vec![ast::SelectItem::Wildcard(
            ast::WildcardAdditionalOptions::default(),
        )],
        exclude: None,
        into: None,
        from: vec![from],
        lateral_views: vec![],
        prewhere: None,
        selection: Some(condition),
        connect_by: vec![],
        group_by: ast::GroupByExpr::Expressions(vec![], vec![]),
        cluster_by: vec![],
        distribute_by: vec![],
        sort_by: vec![],
        having: None,
        named_window: vec![],
        qualify: None,
        window_before_qualify: false,
        value_table_mode: None,
        flavor: ast::SelectFlavor::Standard,
    }
}

fn parse_traverse(parser: &mut Parser<'_>) -> Result<Traverse> {
    let mut t = Traverse::default();
    parser.expect_keyword(Keyword::FROM).map_err(syntax)?;
    t.start = Some(ast::Expr::Value(parser.parse_value().map_err(syntax)?));
    loop {
        if peek_word(parser, "DEPTH") {
            parser.next_token();
            t.depth = Some(ast::Expr::Value(parser.parse_value().map_err(syntax)?));
        } else if peek_word(parser, "DIRECTION") {
            parser.next_token();
            t.direction = Some(
                parser
                    .parse_identifier()
                    .map_err(syntax)?
                    .value
                    .to_lowercase(),
            );
        } else if peek_word(parser, "TYPE") {
            parser.next_token();
            t.rel_types.extend(
                parser
                    .parse_comma_separated(Parser::parse_expr)
                    .map_err(syntax)?,
            );
        } else if peek_word(parser, "STRATEGY") {
            parser.next_token();
            t.strategy = Some(
                parser
                    .parse_identifier()
                    .map_err(syntax)?
                    .value
                    .to_lowercase(),
            );
        } else if parser.parse_keyword(Keyword::LIMIT) {
            t.limit = Some(ast::Expr::Value(parser.parse_value().map_err(syntax)?));
        } else {
            return Ok(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_cache_keeps_the_most_recently_used() {
        let mut cache = StatementCache::default();
        let text = |i: usize| format!("SELECT {i}");
        for i in 0..CACHED_STATEMENTS {
            cache.put(&text(i), Arc::new(parse(&text(i)).unwrap()));
        }
        // Using statement 0 makes statement 1 the least recently used.
        let first = cache.get(&text(0)).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.get(&text(0)).unwrap()));
        cache.put(&text(1000), Arc::new(parse(&text(1000)).unwrap()));
        assert_eq!(cache.entries.len(), CACHED_STATEMENTS);
        assert!(cache.get(&text(1)).is_none());
        assert!(cache.get(&text(0)).is_some() && cache.get(&text(1000)).is_some());
        for i in 0..10 * CACHED_STATEMENTS {
            cache.put(&text(i), Arc::new(parse("SELECT 1").unwrap()));
        }
        assert_eq!(cache.entries.len(), CACHED_STATEMENTS);
    }

    #[test]
    fn cached_parses_give_the_same_statement_and_never_keep_errors() {
        let a = parse_cached("SELECT 41 + 1").unwrap();
        assert!(matches!(*a, Statement::Query(_)));
        for _ in 0..2 {
            assert!(matches!(parse_cached("SELEKT 1"), Err(Error::SqlSyntax(_))));
        }
        let long = format!("SELECT 1{}", " ".repeat(CACHED_TEXT_BYTES));
        assert!(matches!(*parse_cached(&long).unwrap(), Statement::Query(_)));
    }

    #[test]
    fn one_statement_only() {
        assert!(matches!(parse("SELECT 1;"), Ok(Statement::Query(_))));
        assert!(matches!(
            parse("select 1; select 2"),
            Err(Error::SqlSyntax(_))
        ));
        assert!(matches!(parse("   "), Err(Error::SqlSyntax(_))));
        assert!(matches!(
            parse("DELETE FROM t"),
            Err(Error::SqlUnsupported(_))
        ));
    }

    #[test]
    fn only_queries_reach_the_statement_grammar() {
        for sql in [
            "(SELECT 1)",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "VALUES (1)",
        ] {
            assert!(matches!(parse(sql), Ok(Statement::Query(_))), "{sql}");
        }
        for (sql, verb) in [
            ("insert into t values (1)", "INSERT"),
            ("UPDATE t SET a = 1", "UPDATE"),
            ("Create table t (a int)", "CREATE"),
            ("DROP TABLE t", "DROP"),
            ("BEGIN", "BEGIN"),
        ] {
            match parse(sql) {
                Err(Error::SqlUnsupported(msg)) => {
                    assert!(
                        msg.starts_with(&format!("{verb} statements")),
                        "{sql}: {msg}"
                    )
                }
                other => panic!("{sql}: {other:?}"),
            }
        }
        for sql in ["SELEC 1", "\"insert\" 1", "42", "* FROM t"] {
            assert!(matches!(parse(sql), Err(Error::SqlSyntax(_))), "{sql}");
        }
    }

    #[test]
    fn rem_statements() {
        assert!(matches!(parse("lookup 'a', 'b'"), Ok(Statement::Lookup(k)) if k.len() == 2));
        match parse("SEARCH 'cats and dogs' IN resources WHERE category = 'x' LIMIT 3").unwrap() {
            Statement::Search {
                table,
                selection,
                limit,
                ..
            } => {
                assert_eq!(table.value, "resources");
                assert!(selection.is_some() && limit.is_some());
            }
            other => panic!("{other:?}"),
        }
        match parse("TRAVERSE FROM 'x' DEPTH 2 DIRECTION both TYPE 'knows', 'likes'").unwrap() {
            Statement::Traverse(t) => {
                assert_eq!(t.direction.as_deref(), Some("both"));
                assert_eq!(t.rel_types.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("EXPLAIN SELECT 1"),
            Ok(Statement::Explain(_))
        ));
        assert!(matches!(
            parse("SEARCH 'x' resources"),
            Err(Error::SqlSyntax(_))
        ));
        assert!(matches!(
            parse("SEARCH 'x' IN resources MODE fuzzy"),
            Err(Error::SqlSyntax(_))
        ));
    }

    #[test]
    fn match_is_rewritten_to_its_function() {
        let Statement::Query(q) =
            parse("SELECT a FROM t WHERE t.content MATCH 'x y' AND NOT b MATCH $1").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            q.to_string(),
            "SELECT a FROM t WHERE fulltext_match(t.content, 'x y') AND NOT fulltext_match(b, $1)"
        );
        for bad in [
            "SELECT a FROM t WHERE content MATCH",
            "SELECT a FROM t WHERE content MATCH b",
        ] {
            assert!(matches!(parse(bad), Err(Error::SqlSyntax(_))), "{bad}");
        }
    }

    #[test]
    fn search_desugars_to_the_select_it_means() {
        let cases = [
            (
                "SEARCH 'cats' IN Resources WHERE category = 'x' OR n > 1 LIMIT $1",
                "SELECT * FROM Resources WHERE embedding.cosine('cats') AND (category = 'x' OR n > 1) LIMIT $1",
            ),
            (
                "SEARCH $1 IN \"My Table\"",
                "SELECT * FROM \"My Table\" WHERE embedding.cosine($1)",
            ),
            (
                "SEARCH 'cats' IN t MODE keyword LIMIT 2",
                "SELECT * FROM t WHERE fulltext_match(fulltext, 'cats') LIMIT 2",
            ),
            (
                "SEARCH 'cats' IN t MODE Hybrid WHERE n = 1",
                "SELECT * FROM t WHERE embedding.cosine('cats') AND fulltext_match(fulltext, 'cats') AND (n = 1)",
            ),
        ];
        for (search, select) in cases {
            let Statement::Search {
                text,
                table,
                mode,
                selection,
                limit,
            } = parse(search).unwrap()
            else {
                panic!("{search}")
            };
            let Statement::Query(expected) = parse(select).unwrap() else {
                panic!("{select}")
            };
            let desugared = search_query(&text, &table, mode, selection.as_ref(), limit.as_ref());
            assert_eq!(desugared, *expected, "{search}");
            assert_eq!(desugared.to_string(), select);
        }
    }
}
