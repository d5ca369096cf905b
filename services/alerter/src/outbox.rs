//! The outbox: what happens to a match is decided in one ledger transaction, before the
//! story's offset is stored, and deliveries happen afterwards from the durable `outbox`
//! table ([`crate::worker`]). A crash (even `kill -9`) between the match and the delivery
//! loses nothing: the row is still there at restart, and the pair is still recorded, so a
//! redelivered story decides nothing twice.
//!
//! [`Ledger::decide`] for one (subscription, story) pair, in order:
//! 1. pair known (`delivered` table) → [`Decision::Known`], nothing written;
//! 2. story of a cluster already alerted for the subscription → by its cluster mode:
//!    `once` → [`Decision::Suppressed`]; `update` → the alert becomes a "+N sources"
//!    update; `every` → alerted as usual;
//! 3. digest subscription → the story is held for the digest of the current period;
//! 4. rate-limited subscription whose window is full → held for the window's summary;
//! 5. otherwise queued in the outbox.
//!
//! Held matches become one digest / summary alert in the outbox when their window ends
//! ([`Ledger::flush_held`]).

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row;
use wirewatch_proto::v1::{Alert, AlertItem, AlertKind};

use crate::error::AlerterError;
use crate::ledger::Ledger;
use crate::subscription::{ClusterMode, Compiled};

/// Most stories listed in one digest or summary message (the count says how many more).
pub const MAX_BATCH_ITEMS: usize = 50;

/// What [`Ledger::decide`] did with a match.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Decided before (a redelivered story): the stored status (`pending`, `delivered`,
    /// `held`, `failed`) and alert.
    Known {
        /// Stored status.
        status: String,
        /// The alert, when it still decodes.
        alert: Option<Box<Alert>>,
    },
    /// Not alerted on purpose; the reason label (`cluster`).
    Suppressed(&'static str),
    /// Held for a digest (`digest`) or a rate-limit summary (`rate_limit`).
    Held(&'static str),
    /// Queued in the outbox (a story or an update alert).
    Queued(AlertKind),
}

/// One alert waiting in the outbox.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Outbox position (per-subscription order).
    pub seq: i64,
    /// The alert (`channels` and `delivered_at` are filled in on delivery).
    pub alert: Alert,
    /// The story's severity, for message formatting.
    pub severity: Option<u8>,
}

/// A window of held matches that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldWindow {
    /// Subscription id.
    pub subscription_id: String,
    /// `digest` or `summary`.
    pub kind: AlertKind,
    /// Window start, Unix seconds.
    pub window_start: i64,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn kind_of(s: &str) -> AlertKind {
    match s {
        "digest" => AlertKind::Digest,
        "update" => AlertKind::Update,
        "story" => AlertKind::Story,
        _ => AlertKind::Summary,
    }
}

/// Start of the window of length `len` seconds holding `now`.
pub fn window_start(now: i64, len: i64) -> i64 {
    now - now.rem_euclid(len.max(1))
}

impl Ledger {
    fn err(op: &'static str, sub: &str, story: &str) -> impl Fn(sqlx::Error) -> AlerterError {
        let sub = sub.to_string();
        let story = story.to_string();
        move |source| AlerterError::Ledger {
            op,
            subscription: sub.clone(),
            story_id: story.clone(),
            source,
        }
    }

    /// Decide what happens to `alert` (a story alert built for `c` and the story), in one
    /// transaction; see the module docs. `cluster_size` is the story's cluster size, `now`
    /// the decision time.
    pub async fn decide(
        &self,
        c: &Compiled,
        mut alert: Alert,
        severity: Option<u8>,
        cluster_size: u64,
        now: DateTime<Utc>,
    ) -> Result<Decision, AlerterError> {
        let sub = c.sub.id.as_str();
        let err = Self::err("decide", sub, &alert.story_id);
        let encode = |a: &Alert| {
            serde_json::to_string(a).map_err(|e| AlerterError::Encode {
                alert_id: a.id.clone(),
                reason: e.to_string(),
            })
        };
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await.map_err(&err)?;
        if let Some(row) = sqlx::query(
            "SELECT status, alert_json FROM delivered WHERE subscription_id = ?1 AND story_id = ?2",
        )
        .bind(sub)
        .bind(&alert.story_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(&err)?
        {
            let status: String = row.try_get(0).map_err(&err)?;
            let json: String = row.try_get(1).map_err(&err)?;
            return Ok(Decision::Known {
                status,
                alert: serde_json::from_str(&json).ok().map(Box::new),
            });
        }
        let first: Option<String> = sqlx::query_scalar(
            "SELECT story_id FROM cluster_alerts WHERE subscription_id = ?1 AND cluster_id = ?2",
        )
        .bind(sub)
        .bind(&alert.cluster_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(&err)?;
        if first.is_some() {
            match c.sub.cluster_mode() {
                ClusterMode::Once => return Ok(Decision::Suppressed("cluster")),
                ClusterMode::Update => {
                    alert.kind = AlertKind::Update;
                    alert.id = Alert::make_update_id(sub, &alert.story_id);
                    alert.sources = Some(cluster_size);
                }
                ClusterMode::Every => {}
            }
        }
        let secs = now.timestamp();
        let held = if let Some(p) = c.flood.digest_secs {
            Some((AlertKind::Digest, window_start(secs, p), "digest"))
        } else if let Some((max, len)) = c.flood.rate {
            let ws = window_start(secs, len);
            let sent: i64 = sqlx::query_scalar(
                "SELECT sent FROM rate_windows WHERE subscription_id = ?1 AND window_start = ?2",
            )
            .bind(sub)
            .bind(ws)
            .fetch_optional(&mut *tx)
            .await
            .map_err(&err)?
            .unwrap_or(0);
            if sent >= i64::from(max) {
                Some((AlertKind::Summary, ws, "rate_limit"))
            } else {
                sqlx::query(
                    "INSERT INTO rate_windows (subscription_id, window_start, sent) VALUES (?1, ?2, 1)
                     ON CONFLICT (subscription_id, window_start) DO UPDATE SET sent = sent + 1",
                )
                .bind(sub)
                .bind(ws)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
                None
            }
        } else {
            None
        };
        let json = encode(&alert)?;
        let status = match held {
            Some((kind, ws, _)) => {
                let item = AlertItem {
                    story_id: alert.story_id.clone(),
                    cluster_id: alert.cluster_id.clone(),
                    title: alert.title.clone(),
                    link: alert.link.clone(),
                    feed_id: alert.feed.id.clone(),
                    published: alert.published,
                };
                let item_json = serde_json::to_string(&item).map_err(|e| AlerterError::Encode {
                    alert_id: alert.id.clone(),
                    reason: e.to_string(),
                })?;
                sqlx::query(
                    "INSERT INTO held (subscription_id, kind, window_start, story_id, item_json)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )
                .bind(sub)
                .bind(kind.as_str())
                .bind(ws)
                .bind(&alert.story_id)
                .bind(item_json)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
                "held"
            }
            None => {
                sqlx::query(
                    "INSERT INTO outbox (alert_id, subscription_id, story_id, severity, alert_json, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (alert_id) DO NOTHING",
                )
                .bind(&alert.id)
                .bind(sub)
                .bind(&alert.story_id)
                .bind(severity.map(i64::from))
                .bind(&json)
                .bind(ts(now))
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
                "pending"
            }
        };
        sqlx::query(
            "INSERT INTO delivered (subscription_id, story_id, alert_id, delivered_at, alert_json, status)
             VALUES (?1, ?2, ?3, '', ?4, ?5)",
        )
        .bind(sub)
        .bind(&alert.story_id)
        .bind(&alert.id)
        .bind(&json)
        .bind(status)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        sqlx::query(
            "INSERT INTO cluster_alerts (subscription_id, cluster_id, story_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (subscription_id, cluster_id) DO NOTHING",
        )
        .bind(sub)
        .bind(&alert.cluster_id)
        .bind(&alert.story_id)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(match held {
            Some((_, _, reason)) => Decision::Held(reason),
            None => Decision::Queued(alert.kind),
        })
    }

    /// The oldest outbox row of each subscription (deliveries of one subscription go in
    /// order, one at a time), oldest first, at most `limit`.
    pub async fn outbox_heads(&self, limit: usize) -> Result<Vec<Pending>, AlerterError> {
        let err = Self::err("outbox", "", "");
        let rows = sqlx::query(
            "SELECT seq, alert_id, alert_json, severity FROM outbox
             WHERE seq IN (SELECT MIN(seq) FROM outbox GROUP BY subscription_id)
             ORDER BY seq LIMIT ?1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let seq: i64 = r.try_get(0).map_err(&err)?;
            let id: String = r.try_get(1).map_err(&err)?;
            let json: String = r.try_get(2).map_err(&err)?;
            let severity: Option<i64> = r.try_get(3).map_err(&err)?;
            match serde_json::from_str::<Alert>(&json) {
                Ok(alert) => out.push(Pending {
                    seq,
                    alert,
                    severity: severity.and_then(|s| u8::try_from(s).ok()),
                }),
                Err(e) => {
                    // Written by this code, so only a damaged file gets here: drop the row
                    // rather than stall the subscription's queue forever.
                    tracing::error!(alert_id = %id, error = %e, "outbox row does not decode, dropping it");
                    sqlx::query("DELETE FROM outbox WHERE seq = ?1")
                        .bind(seq)
                        .execute(&self.pool)
                        .await
                        .map_err(&err)?;
                }
            }
        }
        Ok(out)
    }

    /// Rows waiting in the outbox.
    pub async fn outbox_len(&self) -> Result<u64, AlerterError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.pool)
            .await
            .map_err(Self::err("outbox", "", ""))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Matches held for digests and summaries.
    pub async fn held_len(&self) -> Result<u64, AlerterError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM held")
            .fetch_one(&self.pool)
            .await
            .map_err(Self::err("held", "", ""))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The delivery of outbox row `seq` is over: `alert` as delivered (channels that
    /// worked, delivery time), `status` `delivered` or `failed`. Removes the row and records
    /// the outcome for the pair (and, for digests and summaries, for the stories listed).
    pub async fn finish(&self, seq: i64, alert: &Alert, status: &str) -> Result<(), AlerterError> {
        let err = Self::err("finish", &alert.subscription_id, &alert.story_id);
        let json = serde_json::to_string(alert).map_err(|e| AlerterError::Encode {
            alert_id: alert.id.clone(),
            reason: e.to_string(),
        })?;
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await.map_err(&err)?;
        sqlx::query("DELETE FROM outbox WHERE seq = ?1")
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        let mut stories = vec![alert.story_id.as_str()];
        if matches!(alert.kind, AlertKind::Digest | AlertKind::Summary) {
            stories = alert.items.iter().map(|i| i.story_id.as_str()).collect();
        }
        for story in stories {
            sqlx::query(
                "UPDATE delivered SET status = ?3, delivered_at = ?4,
                   alert_json = CASE WHEN alert_id = ?5 THEN ?6 ELSE alert_json END
                 WHERE subscription_id = ?1 AND story_id = ?2",
            )
            .bind(&alert.subscription_id)
            .bind(story)
            .bind(status)
            .bind(ts(alert.delivered_at))
            .bind(&alert.id)
            .bind(&json)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        Ok(())
    }

    /// Windows of held matches, oldest first.
    pub async fn held_windows(&self) -> Result<Vec<HeldWindow>, AlerterError> {
        let err = Self::err("held", "", "");
        let rows = sqlx::query(
            "SELECT DISTINCT subscription_id, kind, window_start FROM held ORDER BY window_start",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(&err)?;
        rows.into_iter()
            .map(|r| {
                Ok(HeldWindow {
                    subscription_id: r.try_get(0).map_err(&err)?,
                    kind: kind_of(&r.try_get::<String, _>(1).map_err(&err)?),
                    window_start: r.try_get(2).map_err(&err)?,
                })
            })
            .collect()
    }

    /// Turn the held matches of window `w` into one alert built by `build` from its items
    /// (oldest publication first, at most [`MAX_BATCH_ITEMS`]) and their total count, queued
    /// in the outbox; the held rows go in the same transaction. `build` returning `None`
    /// (subscription gone) just drops them.
    pub async fn flush_held(
        &self,
        w: &HeldWindow,
        now: DateTime<Utc>,
        build: impl FnOnce(Vec<AlertItem>, usize) -> Option<Alert>,
    ) -> Result<Option<Alert>, AlerterError> {
        let err = Self::err("flush", &w.subscription_id, "");
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await.map_err(&err)?;
        let jsons: Vec<String> = sqlx::query_scalar(
            "SELECT item_json FROM held WHERE subscription_id = ?1 AND kind = ?2 AND window_start = ?3",
        )
        .bind(&w.subscription_id)
        .bind(w.kind.as_str())
        .bind(w.window_start)
        .fetch_all(&mut *tx)
        .await
        .map_err(&err)?;
        let total = jsons.len();
        let mut items: Vec<AlertItem> = jsons
            .iter()
            .filter_map(|j| serde_json::from_str(j).ok())
            .collect();
        items.sort_by(|a, b| {
            a.published
                .cmp(&b.published)
                .then(a.story_id.cmp(&b.story_id))
        });
        items.truncate(MAX_BATCH_ITEMS);
        sqlx::query(
            "DELETE FROM held WHERE subscription_id = ?1 AND kind = ?2 AND window_start = ?3",
        )
        .bind(&w.subscription_id)
        .bind(w.kind.as_str())
        .bind(w.window_start)
        .execute(&mut *tx)
        .await
        .map_err(&err)?;
        let alert = if items.is_empty() {
            None
        } else {
            build(items, total)
        };
        if let Some(a) = &alert {
            let json = serde_json::to_string(a).map_err(|e| AlerterError::Encode {
                alert_id: a.id.clone(),
                reason: e.to_string(),
            })?;
            sqlx::query(
                "INSERT INTO outbox (alert_id, subscription_id, story_id, severity, alert_json, created_at)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?5) ON CONFLICT (alert_id) DO NOTHING",
            )
            .bind(&a.id)
            .bind(&a.subscription_id)
            .bind(&a.story_id)
            .bind(json)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        }
        // Rate windows long over are of no more use.
        sqlx::query("DELETE FROM rate_windows WHERE window_start < ?1")
            .bind(now.timestamp() - 400 * 86_400)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align() {
        assert_eq!(window_start(3_661, 3_600), 3_600);
        assert_eq!(window_start(3_600, 3_600), 3_600);
        assert_eq!(window_start(59, 60), 0);
        assert_eq!(kind_of(AlertKind::Digest.as_str()), AlertKind::Digest);
        assert_eq!(kind_of(AlertKind::Summary.as_str()), AlertKind::Summary);
    }
}
