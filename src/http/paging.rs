//! One way to page a list. `?limit=` is 1..=500 (default 50); `?cursor=` is the key of
//! the last item of the previous page, written as the API writes that key (a row id,
//! or a blob id for `/v1/blobs`), and parsed by that key's one rule. `next_cursor` is
//! that key for the page's last item, or null on the last page.

use crate::error::Error;

/// Items per page when `?limit=` is not given.
pub const PAGE_LIMIT_DEFAULT: i64 = 50;
/// The largest `?limit=` accepted; a larger one is 400 INVALID_ARGUMENT.
pub const PAGE_LIMIT_MAX: i64 = 500;

/// A checked page request: its size and the key it continues after.
#[derive(Clone, Copy, Debug)]
pub struct Paging<K> {
    limit: i64,
    /// The `?cursor=`: the key of the previous page's last item; `None` for the first page.
    pub after: Option<K>,
}

impl<K> Paging<K> {
    /// Checks `?limit=` (1..=`PAGE_LIMIT_MAX`, default `PAGE_LIMIT_DEFAULT`; else 400
    /// INVALID_ARGUMENT) and keeps the parsed `?cursor=`, if any.
    pub fn new(limit: Option<i64>, cursor: Option<K>) -> Result<Paging<K>, Error> {
        let limit = limit.unwrap_or(PAGE_LIMIT_DEFAULT);
        if !(1..=PAGE_LIMIT_MAX).contains(&limit) {
            return Err(Error::InvalidArgument(format!(
                "limit must be 1..={PAGE_LIMIT_MAX}, got {limit}"
            )));
        }
        Ok(Paging {
            limit,
            after: cursor,
        })
    }

    /// Rows to fetch: one more than the page holds, which tells whether another
    /// page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    /// The page out of the rows fetched (at most `fetch_limit`), and the cursor of
    /// the next page: `key` of the page's last item, when more rows followed it.
    pub fn page<T>(
        &self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        let page_len = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let more = rows.len() > page_len;
        rows.truncate(page_len);
        let next_cursor = more.then(|| rows.last().map(key)).flatten();
        (rows, next_cursor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_limit_outside_1_to_500_is_refused() {
        for bad in [0, -1, 501] {
            assert!(Paging::<i64>::new(Some(bad), None).is_err(), "{bad}");
        }
        assert_eq!(Paging::<i64>::new(None, None).unwrap().fetch_limit(), 51);
    }

    proptest! {
        /// Walking the pages visits every row once, in order, and ends with a null cursor.
        #[test]
        fn pages_cover_every_row_once(rows in 0usize..60, limit in 1i64..20) {
            let all: Vec<usize> = (1..=rows).collect();
            let mut seen = Vec::new();
            let mut cursor: Option<usize> = None;
            loop {
                let paging = Paging::new(Some(limit), cursor).unwrap();
                let after = paging.after.unwrap_or(0);
                let fetched: Vec<usize> = all.iter().copied().filter(|r| *r > after)
                    .take(usize::try_from(paging.fetch_limit()).unwrap()).collect();
                let (page, next) = paging.page(fetched, |r| r.to_string());
                prop_assert!(page.len() as i64 <= limit);
                seen.extend(page);
                match next {
                    Some(next) => cursor = Some(next.parse().unwrap()),
                    None => break,
                }
            }
            prop_assert_eq!(seen, all);
        }
    }
}
