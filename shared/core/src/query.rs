//! List queries as JSONPlaceholder takes them: field filters, `_page`/`_limit` pagination,
//! a total count and RFC 8288 `Link` relations.

use crate::error::ServiceError;
use crate::model::{Comment, Post};

/// json-server's default page size when `_page` comes without `_limit`.
pub const DEFAULT_PAGE_SIZE: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    /// 1-based.
    pub page: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostFilter {
    pub user_id: Option<u64>,
    pub title: Option<String>,
    /// Case-insensitive substring of the title.
    pub title_like: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommentFilter {
    pub post_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery<F> {
    pub filter: F,
    pub pagination: Option<Pagination>,
}

impl PostFilter {
    pub fn matches(&self, post: &Post) -> bool {
        self.user_id.is_none_or(|u| post.user_id == u)
            && self.title.as_ref().is_none_or(|t| post.title == *t)
            && self
                .title_like
                .as_ref()
                .is_none_or(|needle| post.title.to_lowercase().contains(&needle.to_lowercase()))
    }
}

impl CommentFilter {
    pub fn matches(&self, comment: &Comment) -> bool {
        self.post_id.is_none_or(|p| comment.post_id == p)
    }
}

/// Parses `/posts` query parameters. Unknown or repeated parameters are errors: a typo'd
/// filter that silently returned everything would be worse than a 400.
pub fn post_query(params: &[(String, String)]) -> Result<ListQuery<PostFilter>, ServiceError> {
    let mut filter = PostFilter::default();
    let pagination = parse(params, &["userId", "title", "title_like"], |key, value| {
        match key {
            "userId" => filter.user_id = Some(positive(key, value)?),
            "title" => filter.title = Some(value.to_owned()),
            "title_like" => filter.title_like = Some(value.to_owned()),
            _ => unreachable!("parse only passes known keys"),
        }
        Ok(())
    })?;
    Ok(ListQuery { filter, pagination })
}

/// Parses `/comments` query parameters (see [`post_query`]).
pub fn comment_query(
    params: &[(String, String)],
) -> Result<ListQuery<CommentFilter>, ServiceError> {
    let mut filter = CommentFilter::default();
    let pagination = parse(params, &["postId"], |key, value| {
        filter.post_id = Some(positive(key, value)?);
        Ok(())
    })?;
    Ok(ListQuery { filter, pagination })
}

fn parse(
    params: &[(String, String)],
    filters: &[&str],
    mut on_filter: impl FnMut(&str, &str) -> Result<(), ServiceError>,
) -> Result<Option<Pagination>, ServiceError> {
    let mut seen: Vec<&str> = Vec::new();
    let (mut page, mut limit) = (None, None);
    for (key, value) in params {
        if seen.contains(&key.as_str()) {
            return Err(ServiceError::BadRequest(format!(
                "query parameter {key} given more than once"
            )));
        }
        seen.push(key);
        match key.as_str() {
            "_page" => page = Some(positive(key, value)?),
            "_limit" => limit = Some(positive(key, value)?),
            k if filters.contains(&k) => on_filter(k, value)?,
            _ => {
                return Err(ServiceError::BadRequest(format!(
                    "unknown query parameter {key}; supported: _page, _limit, {}",
                    filters.join(", ")
                )));
            }
        }
    }
    Ok(match (page, limit) {
        (None, None) => None,
        (page, limit) => Some(Pagination {
            page: page.unwrap_or(1),
            limit: limit.unwrap_or(DEFAULT_PAGE_SIZE),
        }),
    })
}

fn positive(key: &str, value: &str) -> Result<u64, ServiceError> {
    match value.parse::<u64>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(ServiceError::BadRequest(format!(
            "{key} must be a positive integer, got {value:?}"
        ))),
    }
}

/// One page of a list, with the size of the whole filtered list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub pagination: Option<Pagination>,
}

/// Cuts a page from a list already in id order. Without pagination the page is everything.
pub fn paginate<T>(items: Vec<T>, pagination: Option<Pagination>) -> Page<T> {
    let total = items.len() as u64;
    let items = match pagination {
        None => items,
        Some(Pagination { page, limit }) => {
            let start = (page - 1).saturating_mul(limit);
            items
                .into_iter()
                .skip(usize::try_from(start).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .collect()
        }
    };
    Page {
        items,
        total,
        pagination,
    }
}

impl<T> Page<T> {
    /// The `Link` header value (first, prev, next, last), relative to `path`, keeping the
    /// request's other parameters. `None` when the list was not paginated.
    pub fn link_header(&self, path: &str, other_params: &[(String, String)]) -> Option<String> {
        let Pagination { page, limit } = self.pagination?;
        let last = self.total.div_ceil(limit).max(1);
        let url = |p: u64| {
            let mut pairs: Vec<(String, String)> = other_params
                .iter()
                .filter(|(k, _)| k != "_page" && k != "_limit")
                .cloned()
                .collect();
            pairs.push(("_page".into(), p.to_string()));
            pairs.push(("_limit".into(), limit.to_string()));
            let query = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            format!("<{path}?{query}>")
        };
        let mut links = vec![format!("{}; rel=\"first\"", url(1))];
        if page > 1 {
            links.push(format!("{}; rel=\"prev\"", url((page - 1).min(last))));
        }
        if page < last {
            links.push(format!("{}; rel=\"next\"", url(page + 1)));
        }
        links.push(format!("{}; rel=\"last\"", url(last)));
        Some(links.join(", "))
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn page_without_limit_uses_ten() {
        let q = post_query(&params(&[("_page", "2")])).unwrap();
        assert_eq!(q.pagination, Some(Pagination { page: 2, limit: 10 }));
    }

    #[test]
    fn bad_parameters_are_rejected() {
        for bad in [
            vec![("userId", "x")],
            vec![("_page", "0")],
            vec![("_limit", "-3")],
            vec![("userid", "1")],
            vec![("userId", "1"), ("userId", "2")],
        ] {
            assert!(
                matches!(post_query(&params(&bad)), Err(ServiceError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn title_like_ignores_case() {
        let p = Post {
            user_id: 1,
            id: 1,
            title: "Hello World".into(),
            body: "b".into(),
        };
        let f = PostFilter {
            title_like: Some("o WO".into()),
            ..Default::default()
        };
        assert!(f.matches(&p));
    }

    #[test]
    fn link_header_names_all_relations_and_keeps_filters() {
        let page = paginate(
            (1..=25).collect::<Vec<u32>>(),
            Some(Pagination { page: 2, limit: 10 }),
        );
        let link = page
            .link_header("/posts", &params(&[("userId", "1"), ("_page", "2")]))
            .unwrap();
        assert_eq!(
            link,
            "</posts?userId=1&_page=1&_limit=10>; rel=\"first\", \
             </posts?userId=1&_page=1&_limit=10>; rel=\"prev\", \
             </posts?userId=1&_page=3&_limit=10>; rel=\"next\", \
             </posts?userId=1&_page=3&_limit=10>; rel=\"last\""
        );
    }

    proptest! {
        /// Walking every page gives back the whole list, in order, exactly once.
        #[test]
        fn pages_partition_the_list(n in 0usize..200, limit in 1u64..40) {
            let items: Vec<usize> = (0..n).collect();
            let pages = (n as u64).div_ceil(limit).max(1);
            let mut walked = Vec::new();
            for page in 1..=pages {
                let p = paginate(items.clone(), Some(Pagination { page, limit }));
                prop_assert_eq!(p.total, n as u64);
                prop_assert!(p.items.len() as u64 <= limit);
                walked.extend(p.items);
            }
            prop_assert_eq!(walked, items.clone());
            let beyond = paginate(items, Some(Pagination { page: pages + 1, limit }));
            prop_assert!(beyond.items.is_empty());
        }

        #[test]
        fn next_is_offered_exactly_when_more_remain(n in 0u64..200, limit in 1u64..40, page in 1u64..30) {
            let p = paginate((0..n).collect::<Vec<_>>(), Some(Pagination { page, limit }));
            let link = p.link_header("/posts", &[]).unwrap();
            prop_assert_eq!(link.contains("rel=\"next\""), page * limit < n);
            prop_assert_eq!(link.contains("rel=\"prev\""), page > 1);
        }

        #[test]
        fn filter_values_survive_the_link_round_trip(title in "\\PC{0,20}") {
            let p = paginate(vec![1, 2, 3], Some(Pagination { page: 1, limit: 1 }));
            let link = p.link_header("/posts", &[("title".into(), title.clone())]).unwrap();
            let encoded = encode(&title);
            let expected = format!("title={encoded}&");
            prop_assert!(link.contains(&expected));
            // Nothing in a URL may end the <...> or split the header's list.
            prop_assert!(!encoded.contains(['>', ',', ' ', ';', '&', '=']));
        }
    }
}
