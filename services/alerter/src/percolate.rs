//! The percolator: subscriptions indexed by a term every match must have, so that each story
//! is evaluated only against the subscriptions that can match it (as Elasticsearch's
//! percolator does for saved searches).
//!
//! [`Query::required_keys`] gives, for each query, a set of [`IndexKey`]s of which every
//! matching story has at least one (`topic:conflict AND country:RU` → `{topic:conflict}` or
//! `{country:ru}`, the smaller set; `a OR b` → `{a, b}`; `NOT a` → none). Queries with a set
//! are filed under each of its keys; the others (pure negations, comparisons, `feed:`) are
//! always evaluated. For a story, the candidates are the queries filed under any of the
//! story's keys ([`StoryIndex::keys`]) plus the always-evaluated ones; each candidate is then
//! evaluated in full, so the result equals evaluating every query.

use std::collections::HashMap;

use crate::query::{IndexKey, Query, StoryIndex};

/// An index over queries, each with a caller-chosen id (its position in the caller's list).
#[derive(Debug, Default)]
pub struct Percolator {
    by_key: HashMap<IndexKey, Vec<usize>>,
    always: Vec<usize>,
    queries: usize,
}

impl Percolator {
    /// Index `queries` (id, query).
    pub fn new<'a>(queries: impl IntoIterator<Item = (usize, &'a Query)>) -> Self {
        let mut p = Percolator::default();
        for (id, q) in queries {
            p.queries += 1;
            match q.required_keys() {
                Some(keys) if !keys.is_empty() => {
                    for k in keys {
                        p.by_key.entry(k).or_default().push(id);
                    }
                }
                _ => p.always.push(id),
            }
        }
        p
    }

    /// Queries indexed.
    pub fn len(&self) -> usize {
        self.queries
    }

    /// Whether no query is indexed.
    pub fn is_empty(&self) -> bool {
        self.queries == 0
    }

    /// Queries evaluated for every story (no required term).
    pub fn unindexed(&self) -> usize {
        self.always.len()
    }

    /// Ids of the queries that may match the story, ascending, without repeats.
    pub fn candidates(&self, story: &StoryIndex<'_>) -> Vec<usize> {
        let mut out = self.always.clone();
        for k in story.keys() {
            if let Some(ids) = self.by_key.get(&k) {
                out.extend_from_slice(ids);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Ids of the queries that match the story, ascending. `query(id)` returns the query
    /// indexed under `id`.
    pub fn matching<'q>(
        &self,
        story: &StoryIndex<'_>,
        query: impl Fn(usize) -> Option<&'q Query>,
    ) -> Vec<usize> {
        self.candidates(story)
            .into_iter()
            .filter(|&id| query(id).is_some_and(|q| q.matches_index(story)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::query::parse;
    use chrono::Utc;
    use proptest::prelude::*;
    use wirewatch_proto::v1::{EnrichedStory, Entity, EntityKind, FeedRef, RawStory, TopicMatch};

    fn story(title: &str, topic: &str, country: &str, org: &str, lang: &str) -> EnrichedStory {
        EnrichedStory {
            story: RawStory {
                id: title.into(),
                feed: FeedRef {
                    id: "feed-a".into(),
                    url: "https://a.example/rss".into(),
                    title: None,
                },
                guid: None,
                link: None,
                title: title.into(),
                summary: None,
                content: None,
                authors: vec![],
                categories: vec![],
                language: Some(format!("{lang}-XX")),
                published: None,
                updated: None,
                fetched_at: Utc::now(),
                fetcher_version: "t".into(),
                published_is_fetch_time: false,
            },
            cluster_id: "c".into(),
            topics: vec![TopicMatch {
                id: topic.into(),
                label: topic.into(),
                score: 1.0,
                iptc: "x".into(),
                iptc_top: "x".into(),
                evidence: vec![],
            }],
            countries: vec![country.into()],
            entities: vec![Entity {
                kind: EntityKind::Organisation,
                id: org.into(),
                name: org.to_uppercase(),
                mentions: 1,
                matched: vec![],
                salience: None,
            }],
            detected_language: None,
            language_confidence: None,
            regions: vec!["europe".into()],
            severity: Some(2),
            classified_at: Utc::now(),
            classifier_version: "t".into(),
        }
    }

    #[test]
    fn required_keys_pick_a_conjunct_and_union_disjuncts() {
        let k = |q: &str| parse(q).unwrap().required_keys();
        assert_eq!(
            k("topic:conflict AND country:RU"),
            Some(vec![IndexKey::Topic("conflict".into())])
        );
        assert_eq!(
            k("\"peace talks\" OR ceasefire"),
            Some(vec![
                IndexKey::Word("talks".into()),
                IndexKey::Word("ceasefire".into())
            ])
        );
        assert_eq!(
            k("severity>=3 AND region:europe"),
            Some(vec![IndexKey::Region("europe".into())])
        );
        assert_eq!(k("NOT a"), None);
        assert_eq!(k("a OR NOT b"), None);
        assert_eq!(k("feed:bbc"), None);
        assert_eq!(k("severity>=3"), None);
    }

    #[test]
    fn candidates_skip_subscriptions_without_the_term() {
        let qs: Vec<Query> = [
            "topic:sport",
            "topic:conflict AND country:ru",
            "NOT topic:sport",
        ]
        .iter()
        .map(|q| parse(q).unwrap())
        .collect();
        let p = Percolator::new(qs.iter().enumerate());
        assert_eq!(p.len(), 3);
        assert_eq!(p.unindexed(), 1);
        let s = story("Clashes", "conflict", "RU", "nato", "en");
        let ix = StoryIndex::new(&s);
        assert_eq!(p.candidates(&ix), [1, 2]);
        assert_eq!(p.matching(&ix, |i| qs.get(i)), [1, 2]);
    }

    fn stories() -> Vec<EnrichedStory> {
        vec![
            story("Peace talks in Istanbul", "conflict", "RU", "nato", "en"),
            story("Markets rally", "economy", "US", "fed", "fr"),
            story("Ceasefire holds", "armed-conflict", "ua", "un", "de"),
        ]
    }

    proptest! {
        /// The percolator finds exactly what evaluating every query finds.
        #[test]
        fn percolator_equals_brute_force(
            qs in prop::collection::vec(
                "(peace|talks|markets|ceasefire|rally|x|topic:conflict|topic:economy|country:ru|country:US|org:nato|org:FED|entity:un|person:un|region:europe|region:asia|source:feed-a|lang:en|lang:fr|lang:fr-xx|feed:example|severity>=2|severity<2|cluster_size>1|AND|OR|NOT|-|\\(|\\)| ){1,14}",
                1..40,
            )
        ) {
            let parsed: Vec<Query> = qs.iter().filter_map(|q| parse(q).ok()).collect();
            let p = Percolator::new(parsed.iter().enumerate());
            for s in stories() {
                let ix = StoryIndex::new(&s);
                let brute: Vec<usize> = parsed
                    .iter()
                    .enumerate()
                    .filter(|(_, q)| q.matches_index(&ix))
                    .map(|(i, _)| i)
                    .collect();
                prop_assert_eq!(p.matching(&ix, |i| parsed.get(i)), brute);
            }
        }
    }
}
