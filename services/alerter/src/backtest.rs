//! Backtests: run a query over stories already stored and say what it would have alerted —
//! the logic behind `wirewatch subs test "<query>" --since 7d`. Stories are fed oldest first,
//! as the stream saw them: `cluster_size` counts the cluster's stories seen so far, and with
//! the cluster mode (`once` by default) later stories of an alerted cluster are reported as
//! suppressed, or as "+N sources" updates.

use std::collections::{HashMap, HashSet};

use wirewatch_proto::v1::EnrichedStory;

use crate::query::{self, ParseError, Query, StoryIndex};
use crate::subscription::ClusterMode;

/// What a story did in the backtest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Would alert.
    Alert,
    /// Would send a "+N sources" update (cluster mode `update`); `.0` = cluster size.
    Update(u64),
    /// Matched, but its cluster was alerted already (cluster mode `once`).
    SuppressedCluster,
}

/// A query run over stories in time order.
#[derive(Debug)]
pub struct Backtest {
    query: Query,
    mode: ClusterMode,
    cluster_sizes: HashMap<String, u64>,
    alerted_clusters: HashSet<String>,
    /// Stories seen.
    pub seen: u64,
    /// Stories that matched.
    pub matched: u64,
    /// Matches that would alert (stories and updates).
    pub alerts: u64,
    /// Matches suppressed by the cluster mode.
    pub suppressed: u64,
}

impl Backtest {
    /// Parse `q`; `mode` is the cluster mode to simulate.
    pub fn new(q: &str, mode: ClusterMode) -> Result<Self, ParseError> {
        Ok(Self {
            query: query::parse(q)?,
            mode,
            cluster_sizes: HashMap::new(),
            alerted_clusters: HashSet::new(),
            seen: 0,
            matched: 0,
            alerts: 0,
            suppressed: 0,
        })
    }

    /// Feed the next story (oldest first); `None` when it does not match.
    pub fn feed(&mut self, s: &EnrichedStory) -> Option<Outcome> {
        self.seen += 1;
        let size = {
            let n = self.cluster_sizes.entry(s.cluster_id.clone()).or_insert(0);
            *n += 1;
            *n
        };
        if !self
            .query
            .matches_index(&StoryIndex::with_cluster_size(s, size))
        {
            return None;
        }
        self.matched += 1;
        let first = self.alerted_clusters.insert(s.cluster_id.clone());
        let outcome = match (first, self.mode) {
            (true, _) | (false, ClusterMode::Every) => Outcome::Alert,
            (false, ClusterMode::Update) => Outcome::Update(size),
            (false, ClusterMode::Once) => Outcome::SuppressedCluster,
        };
        match outcome {
            Outcome::SuppressedCluster => self.suppressed += 1,
            _ => self.alerts += 1,
        }
        Some(outcome)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::Utc;
    use wirewatch_proto::v1::{FeedRef, RawStory};

    fn story(id: &str, cluster: &str, title: &str) -> EnrichedStory {
        EnrichedStory {
            story: RawStory {
                id: id.into(),
                feed: FeedRef {
                    id: "f".into(),
                    url: "http://f/".into(),
                    title: None,
                },
                guid: None,
                link: None,
                title: title.into(),
                summary: None,
                content: None,
                authors: vec![],
                categories: vec![],
                language: None,
                published: None,
                updated: None,
                fetched_at: Utc::now(),
                fetcher_version: "t".into(),
                published_is_fetch_time: false,
            },
            cluster_id: cluster.into(),
            topics: vec![],
            countries: vec![],
            entities: vec![],
            detected_language: None,
            language_confidence: None,
            regions: vec![],
            severity: None,
            classified_at: Utc::now(),
            classifier_version: "t".into(),
        }
    }

    #[test]
    fn counts_alerts_and_cluster_suppression() {
        let mut b = Backtest::new("talks", ClusterMode::Once).unwrap();
        assert_eq!(
            b.feed(&story("1", "c1", "Peace talks")),
            Some(Outcome::Alert)
        );
        assert_eq!(
            b.feed(&story("2", "c1", "Talks again")),
            Some(Outcome::SuppressedCluster)
        );
        assert_eq!(b.feed(&story("3", "c2", "Weather")), None);
        assert_eq!(b.feed(&story("4", "c2", "talks")), Some(Outcome::Alert));
        assert_eq!((b.seen, b.matched, b.alerts, b.suppressed), (4, 3, 2, 1));

        let mut u = Backtest::new("talks", ClusterMode::Update).unwrap();
        u.feed(&story("1", "c1", "talks"));
        assert_eq!(u.feed(&story("2", "c1", "talks")), Some(Outcome::Update(2)));

        let mut sized = Backtest::new("cluster_size>=2", ClusterMode::Once).unwrap();
        assert_eq!(sized.feed(&story("1", "c1", "x")), None);
        assert_eq!(sized.feed(&story("2", "c1", "y")), Some(Outcome::Alert));
        assert!(Backtest::new("(", ClusterMode::Once).is_err());
    }
}
