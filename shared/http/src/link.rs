//! The `Link` header of a paged list (RFC 8288): first, prev, next and last, relative to the
//! list's path, keeping the request's other parameters.

use ps_core::query::{Page, Pagination};

/// `None` when the list was not paged.
pub fn header<T>(page: &Page<T>, path: &str, params: &[(String, String)]) -> Option<String> {
    let Pagination {
        page: current,
        limit,
    } = page.pagination?;
    let last = page.total.div_ceil(limit).max(1);
    let url = |p: u64| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.iter().filter(|(k, _)| k != "_page" && k != "_limit") {
            query.append_pair(k, v);
        }
        query.append_pair("_page", &p.to_string());
        query.append_pair("_limit", &limit.to_string());
        format!("<{path}?{}>", query.finish())
    };
    let mut links = vec![format!("{}; rel=\"first\"", url(1))];
    if current > 1 {
        links.push(format!("{}; rel=\"prev\"", url((current - 1).min(last))));
    }
    if current < last {
        links.push(format!("{}; rel=\"next\"", url(current + 1)));
    }
    links.push(format!("{}; rel=\"last\"", url(last)));
    Some(links.join(", "))
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

    fn page(total: u64, page: u64, limit: u64) -> Page<()> {
        Page {
            items: Vec::new(),
            total,
            pagination: Some(Pagination { page, limit }),
        }
    }

    #[test]
    fn names_all_relations_and_keeps_filters() {
        let link = header(
            &page(25, 2, 10),
            "/posts",
            &params(&[("userId", "1"), ("_page", "2")]),
        )
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
        #[test]
        fn next_is_offered_exactly_when_more_remain(n in 0u64..200, limit in 1u64..40, p in 1u64..30) {
            let link = header(&page(n, p, limit), "/posts", &[]).unwrap();
            prop_assert_eq!(link.contains("rel=\"next\""), p * limit < n);
            prop_assert_eq!(link.contains("rel=\"prev\""), p > 1);
        }

        #[test]
        fn filter_values_survive_the_link_round_trip(title in "\\PC{0,20}") {
            let link = header(&page(3, 1, 1), "/posts", &[("title".into(), title.clone())]).unwrap();
            let first = link.split(", ").next().unwrap();
            let query = first.trim_start_matches("</posts?").split('>').next().unwrap();
            // Nothing in a URL may end the <...> or split the header's list.
            prop_assert!(!query.contains(['>', ',', ' ', ';']));
            let back: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            prop_assert_eq!(&back[0], &("title".to_string(), title));
        }
    }
}
