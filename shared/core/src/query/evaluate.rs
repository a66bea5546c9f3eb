//! Answering a list query over records in memory, with json-server's semantics.

use std::cmp::Ordering;

use super::{Condition, ListQuery, Op, Operand, Order, Page, Record, record::FieldValue};

fn compare(value: FieldValue<'_>, operand: &Operand) -> Option<Ordering> {
    match (value, operand) {
        (FieldValue::Number(v), Operand::Number(o)) => Some(v.cmp(o)),
        (FieldValue::Text(v), Operand::Text(o)) => Some(v.cmp(o.as_str())),
        _ => None,
    }
}

impl Condition {
    fn matches<T: Record>(&self, record: &T) -> bool {
        let Some(value) = record.value(self.field.name) else {
            return false;
        };
        let each = |o: &Operand| match (self.op, o) {
            (Op::Like, Operand::Pattern(p)) => p.is_match(&value.as_text()),
            (Op::Eq, o) => compare(value, o) == Some(Ordering::Equal),
            (Op::Ne, o) => compare(value, o) != Some(Ordering::Equal),
            (Op::Gte, o) => compare(value, o).is_some_and(Ordering::is_ge),
            (Op::Lte, o) => compare(value, o).is_some_and(Ordering::is_le),
            _ => false,
        };
        if self.op == Op::Ne {
            self.operands.iter().all(each)
        } else {
            self.operands.iter().any(each)
        }
    }
}

impl ListQuery {
    /// Whether a record passes every filter and `q`.
    pub fn matches<T: Record>(&self, record: &T) -> bool {
        let found = match self.search.as_deref() {
            None | Some("") => true,
            Some(q) => T::FIELDS.iter().any(|f| {
                record
                    .value(f.name)
                    .is_some_and(|v| v.as_text().to_lowercase().contains(q))
            }),
        };
        found && self.conditions.iter().all(|c| c.matches(record))
    }

    fn order<T: Record>(&self, a: &T, b: &T) -> Ordering {
        for key in &self.sort {
            let ordering = a.value(key.field.name).cmp(&b.value(key.field.name));
            let ordering = match key.order {
                Order::Asc => ordering,
                Order::Desc => ordering.reverse(),
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    }

    /// Filters, sorts (stably, from id order) and slices `records`. `total` counts every
    /// match, before the slice.
    pub fn evaluate<T: Record>(&self, records: Vec<T>) -> Page<T> {
        let mut matching: Vec<T> = records.into_iter().filter(|r| self.matches(r)).collect();
        matching.sort_by_key(Record::id);
        matching.sort_by(|a, b| self.order(a, b));
        let total = matching.len() as u64;
        let (offset, limit) = self.slice.window();
        let items = matching
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)))
            .collect();
        Page {
            items,
            total,
            pagination: self.slice.pagination(),
        }
    }
}
