//! List queries as JSONPlaceholder (json-server 0.17) takes them: filters on every field
//! (a repeated parameter means OR), the operators `_gte`, `_lte`, `_ne` and `_like`, `q`,
//! `_sort`/`_order`, `_start`/`_end`/`_limit` slices and `_page` pages, `_embed`/`_expand`.
//!
//! Parsing is strict where json-server is lax: an unknown parameter, a value of the wrong
//! kind or a repeated `_sort` is a 400 naming what is supported, since a typo that silently
//! returned everything would be worse. What a query reads is decided by [`ListQuery::plan`];
//! what it answers by [`ListQuery::evaluate`], so the two paths cannot disagree.

mod evaluate;
mod record;

pub use record::{Field, FieldKind, FieldValue, Record, Relation};

use regex::{Regex, RegexBuilder};

use crate::error::ServiceError;

/// json-server's page size when `_page` comes without `_limit`.
pub const DEFAULT_PAGE_SIZE: u64 = 10;
/// The most records one list may read. Queries the index cannot answer (sort by text, `q`,
/// `_like`, other filters) read the whole collection or the whole partition of one user or
/// post; beyond this many they are refused with a 400 instead of running long.
pub const READ_CAP: u64 = 5_000;
/// The longest `_like` pattern, and the compiled size it may take: the regex engine runs in
/// linear time, and these bound the constant.
pub const LIKE_PATTERN_MAX: usize = 256;
const LIKE_COMPILED_MAX: usize = 256 * 1024;
/// The most ids one `id=..&id=..` list may name (react-admin's `getMany` sends one a record).
pub const MANY_IDS_MAX: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gte,
    Lte,
    Like,
}

impl Op {
    const SUFFIXES: [(&'static str, Op); 4] = [
        ("_gte", Op::Gte),
        ("_lte", Op::Lte),
        ("_ne", Op::Ne),
        ("_like", Op::Like),
    ];
}

#[derive(Debug, Clone)]
pub enum Operand {
    Number(u64),
    Text(String),
    Pattern(Regex),
}

/// One field's filter: all of a parameter's values. They are ORed, except `_ne`'s (ANDed:
/// "none of these"), as in json-server.
#[derive(Debug, Clone)]
pub struct Condition {
    pub field: &'static Field,
    pub op: Op,
    pub operands: Vec<Operand>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: &'static Field,
    pub order: Order,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    /// 1-based.
    pub page: u64,
    pub limit: u64,
}

/// Which part of the matching list is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slice {
    All,
    /// `_page` (and `_limit`): answered with `Link` relations.
    Page(Pagination),
    /// `_start`, `_end` or `_limit` without `_page`: the half-open range `[start, end)`.
    Range {
        start: u64,
        end: Option<u64>,
    },
}

impl Slice {
    /// How many to skip and how many to keep.
    pub fn window(&self) -> (u64, Option<u64>) {
        match *self {
            Slice::All => (0, None),
            Slice::Page(Pagination { page, limit }) => {
                ((page - 1).saturating_mul(limit), Some(limit))
            }
            Slice::Range { start, end } => (start, end.map(|e| e.saturating_sub(start))),
        }
    }

    pub fn pagination(&self) -> Option<Pagination> {
        match self {
            Slice::Page(p) => Some(*p),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub conditions: Vec<Condition>,
    /// `q`, lower-cased.
    pub search: Option<String>,
    /// Empty means by id, ascending.
    pub sort: Vec<SortKey>,
    pub slice: Slice,
    /// `_embed=comments` on posts, `_expand=post` on comments.
    pub include_related: bool,
}

/// How a list is read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The id-ordered index answers it alone: only the window is read, and the total comes
    /// from a counter. No filter but the scope, no `q`, ordered by id.
    Window {
        scope: Option<u64>,
        descending: bool,
        offset: u64,
        limit: Option<u64>,
    },
    /// `id=1&id=2…`: those records, then everything else in memory.
    Ids(Vec<u64>),
    /// The whole collection, or one scope's partition, then everything else in memory.
    Partition { scope: Option<u64> },
}

/// One page of a list, with the size of the whole matching list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub pagination: Option<Pagination>,
}

impl<T> Page<T> {
    /// The same page of the same list, its items in another form (`_embed`ded, say).
    pub fn with_items<U>(&self, items: Vec<U>) -> Page<U> {
        Page {
            items,
            total: self.total,
            pagination: self.pagination,
        }
    }
}

fn bad(message: String) -> ServiceError {
    ServiceError::BadRequest(message)
}

fn supported<T: Record>() -> String {
    let fields: Vec<&str> = T::FIELDS.iter().map(|f| f.name).collect();
    format!(
        "supported: the fields {} (each also with _gte, _lte, _ne, _like), q, _sort, _order, \
         _page, _limit, _start, _end, {}={}",
        fields.join(", "),
        T::RELATION.parameter,
        T::RELATION.name
    )
}

fn integer(key: &str, value: &str, min: u64) -> Result<u64, ServiceError> {
    match value.parse::<u64>() {
        Ok(v) if v >= min => Ok(v),
        _ => Err(bad(format!(
            "{key} must be an integer of at least {min}, got {value:?}"
        ))),
    }
}

fn operand(key: &str, field: &Field, op: Op, value: &str) -> Result<Operand, ServiceError> {
    if op == Op::Like {
        if value.len() > LIKE_PATTERN_MAX {
            return Err(bad(format!(
                "{key} is longer than {LIKE_PATTERN_MAX} bytes"
            )));
        }
        return RegexBuilder::new(value)
            .case_insensitive(true)
            .size_limit(LIKE_COMPILED_MAX)
            .dfa_size_limit(LIKE_COMPILED_MAX)
            .build()
            .map(Operand::Pattern)
            .map_err(|e| bad(format!("{key} is not a valid regular expression: {e}")));
    }
    Ok(match field.kind {
        FieldKind::Number => Operand::Number(value.parse().map_err(|_| {
            bad(format!(
                "{key} must be a non-negative integer, got {value:?}"
            ))
        })?),
        FieldKind::Text => Operand::Text(value.to_owned()),
    })
}

/// Parameters that take one value.
#[derive(Default)]
struct Singles<'a> {
    q: Option<&'a str>,
    sort: Option<&'a str>,
    order: Option<&'a str>,
    page: Option<&'a str>,
    limit: Option<&'a str>,
    start: Option<&'a str>,
    end: Option<&'a str>,
    related: Option<&'a str>,
}

impl ListQuery {
    /// Parses a list's query parameters for records of type `T`.
    pub fn parse<T: Record>(params: &[(String, String)]) -> Result<ListQuery, ServiceError> {
        let mut singles = Singles::default();
        let mut conditions: Vec<Condition> = Vec::new();
        for (key, value) in params {
            let slot = match key.as_str() {
                "q" => &mut singles.q,
                "_sort" => &mut singles.sort,
                "_order" => &mut singles.order,
                "_page" => &mut singles.page,
                "_limit" => &mut singles.limit,
                "_start" => &mut singles.start,
                "_end" => &mut singles.end,
                // jQuery's `cache: false` and other cache busters; json-server ignores it too.
                "_" => continue,
                k if k == T::RELATION.parameter => &mut singles.related,
                _ => {
                    let (name, op) = Op::SUFFIXES
                        .iter()
                        .find_map(|(suffix, op)| key.strip_suffix(suffix).map(|n| (n, *op)))
                        .unwrap_or((key.as_str(), Op::Eq));
                    let field = T::field(name).ok_or_else(|| {
                        bad(format!(
                            "unknown query parameter {key}; {}",
                            supported::<T>()
                        ))
                    })?;
                    let operand = operand(key, field, op, value)?;
                    match conditions
                        .iter_mut()
                        .find(|c| c.field.name == field.name && c.op == op)
                    {
                        Some(c) => c.operands.push(operand),
                        None => conditions.push(Condition {
                            field,
                            op,
                            operands: vec![operand],
                        }),
                    }
                    continue;
                }
            };
            if slot.replace(value).is_some() {
                return Err(bad(format!("query parameter {key} given more than once")));
            }
        }
        Self::assemble::<T>(conditions, singles)
    }

    fn assemble<T: Record>(
        conditions: Vec<Condition>,
        s: Singles<'_>,
    ) -> Result<ListQuery, ServiceError> {
        let include_related = match s.related {
            None => false,
            Some(v) if v == T::RELATION.name => true,
            Some(v) => {
                return Err(bad(format!(
                    "{} must be {}, got {v:?}",
                    T::RELATION.parameter,
                    T::RELATION.name
                )));
            }
        };
        let sort = Self::sort::<T>(s.sort, s.order)?;
        let limit = s.limit.map(|l| integer("_limit", l, 1)).transpose()?;
        let start = s.start.map(|v| integer("_start", v, 0)).transpose()?;
        let end = s.end.map(|v| integer("_end", v, 0)).transpose()?;
        let slice = match s.page.map(|p| integer("_page", p, 1)).transpose()? {
            Some(_) if start.is_some() || end.is_some() => {
                return Err(bad(
                    "_page cannot be combined with _start or _end: page, or give a range".into(),
                ));
            }
            Some(page) => Slice::Page(Pagination {
                page,
                limit: limit.unwrap_or(DEFAULT_PAGE_SIZE),
            }),
            None => match (start, end, limit) {
                (None, None, None) => Slice::All,
                (start, Some(end), _) => Slice::Range {
                    start: start.unwrap_or(0),
                    end: Some(end),
                },
                (start, None, limit) => {
                    let start = start.unwrap_or(0);
                    Slice::Range {
                        start,
                        end: limit.map(|l| start.saturating_add(l)),
                    }
                }
            },
        };
        Ok(ListQuery {
            conditions,
            search: s.q.map(str::to_lowercase),
            sort,
            slice,
            include_related,
        })
    }

    fn sort<T: Record>(
        sort: Option<&str>,
        order: Option<&str>,
    ) -> Result<Vec<SortKey>, ServiceError> {
        let orders: Vec<Order> = match order {
            None => Vec::new(),
            Some(o) => o
                .split(',')
                .map(|o| match o.trim().to_ascii_lowercase().as_str() {
                    "asc" => Ok(Order::Asc),
                    "desc" => Ok(Order::Desc),
                    _ => Err(bad(format!("_order must be asc or desc, got {o:?}"))),
                })
                .collect::<Result<_, _>>()?,
        };
        // `_order` alone orders by id, the list's natural order.
        let fields: Vec<&str> = match sort {
            Some(s) => s.split(',').map(str::trim).collect(),
            None if orders.is_empty() => return Ok(Vec::new()),
            None => vec!["id"],
        };
        if orders.len() > fields.len() {
            return Err(bad(format!(
                "_order has {} values but _sort names {} fields",
                orders.len(),
                fields.len()
            )));
        }
        fields
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let field = T::field(name).ok_or_else(|| {
                    let all: Vec<&str> = T::FIELDS.iter().map(|f| f.name).collect();
                    bad(format!(
                        "cannot sort by {name:?}; fields are {}",
                        all.join(", ")
                    ))
                })?;
                Ok(SortKey {
                    field,
                    order: orders.get(i).copied().unwrap_or(Order::Asc),
                })
            })
            .collect()
    }

    /// The scope (`userId=`/`postId=` with one value) the query is confined to, if any.
    fn scope<T: Record>(&self) -> Option<u64> {
        self.conditions
            .iter()
            .find_map(|c| match c.operands.as_slice() {
                [Operand::Number(n)] if c.field.name == T::SCOPE && c.op == Op::Eq => Some(*n),
                _ => None,
            })
    }

    /// How to read this list; see [`Plan`].
    pub fn plan<T: Record>(&self) -> Plan {
        let scope = self.scope::<T>();
        let only_scope = self
            .conditions
            .iter()
            .all(|c| c.field.name == T::SCOPE && c.op == Op::Eq && scope.is_some());
        let by_id = match self.sort.as_slice() {
            [] => Some(false),
            [SortKey { field, order }] if field.name == "id" => Some(*order == Order::Desc),
            _ => None,
        };
        if let (true, None, Some(descending)) = (only_scope, &self.search, by_id) {
            let (offset, limit) = self.slice.window();
            return Plan::Window {
                scope,
                descending,
                offset,
                limit,
            };
        }
        let ids = self.conditions.iter().find_map(|c| {
            (c.field.name == "id" && c.op == Op::Eq && c.operands.len() <= MANY_IDS_MAX).then(
                || {
                    c.operands
                        .iter()
                        .filter_map(|o| match o {
                            Operand::Number(n) => Some(*n),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                },
            )
        });
        match ids {
            Some(mut ids) => {
                ids.sort_unstable();
                ids.dedup();
                Plan::Ids(ids)
            }
            None => Plan::Partition { scope },
        }
    }
}

/// `_embed`/`_expand` on a single read; any other parameter is a 400.
pub fn parse_read<T: Record>(params: &[(String, String)]) -> Result<bool, ServiceError> {
    let mut include = None;
    for (key, value) in params {
        if key == "_" {
            continue;
        }
        if key != T::RELATION.parameter {
            return Err(bad(format!(
                "unknown query parameter {key}; a single {} takes only {}={}",
                T::NAME,
                T::RELATION.parameter,
                T::RELATION.name
            )));
        }
        if value != T::RELATION.name {
            return Err(bad(format!(
                "{key} must be {}, got {value:?}",
                T::RELATION.name
            )));
        }
        if include.replace(true).is_some() {
            return Err(bad(format!("query parameter {key} given more than once")));
        }
    }
    Ok(include.unwrap_or(false))
}

#[cfg(test)]
mod tests;
