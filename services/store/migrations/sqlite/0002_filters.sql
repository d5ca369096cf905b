-- wirewatch store, schema v2 (SQLite): severity, entity and language filters, and the
-- indexes that keyset pagination, retention and the cluster/feed endpoints use.

ALTER TABLE stories ADD COLUMN severity INTEGER;
UPDATE stories SET severity = json_extract(raw, '$.severity');
CREATE INDEX stories_severity ON stories (severity, sort_at);
CREATE INDEX stories_language ON stories (language, sort_at);

-- Entity ids (alpha-2 for countries, list ids otherwise), rewritten with their story.
CREATE TABLE story_entities (
    story_id TEXT NOT NULL,
    entity   TEXT NOT NULL,
    PRIMARY KEY (story_id, entity)
) WITHOUT ROWID;
CREATE INDEX story_entities_entity ON story_entities (entity, story_id);
INSERT OR IGNORE INTO story_entities (story_id, entity)
    SELECT s.id, json_extract(e.value, '$.id') FROM stories s, json_each(s.entities) e
    WHERE json_extract(e.value, '$.id') IS NOT NULL AND json_extract(e.value, '$.id') <> '';

CREATE INDEX duplicates_cluster ON duplicates (cluster_id, deduped_at);
CREATE INDEX duplicates_deduped ON duplicates (deduped_at);
CREATE INDEX alerts_delivered ON alerts (delivered_at);
CREATE INDEX feed_health_observed ON feed_health (observed_at);
