-- wirewatch store, schema v1 (PostgreSQL). The same tables and columns as the SQLite schema
-- (migrations/sqlite), so rows, queries and cursors are shared; full-text search is a stored,
-- weighted tsvector (title A, summary and content B) with a GIN index instead of FTS5.
--
-- Times are TEXT in RFC 3339, UTC, microseconds, `Z` suffix, as in SQLite: fixed width, so
-- they sort as strings. COLLATE "C" makes that byte order whatever the database's locale.
-- The 'simple' text search configuration lowercases without stemming or stop words (the
-- stories are in many languages), like FTS5's unicode61 tokenizer.

CREATE TABLE stories (
    seq           BIGSERIAL PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    cluster_id    TEXT NOT NULL,
    feed_id       TEXT NOT NULL,
    feed_url      TEXT NOT NULL,
    title         TEXT NOT NULL,
    link          TEXT,
    summary       TEXT,
    content       TEXT,
    language      TEXT,
    severity      SMALLINT,
    published     TEXT COLLATE "C",
    fetched_at    TEXT COLLATE "C" NOT NULL,
    classified_at TEXT COLLATE "C" NOT NULL,
    sort_at       TEXT COLLATE "C" NOT NULL,
    topics        TEXT NOT NULL,
    countries     TEXT NOT NULL,
    entities      TEXT NOT NULL,
    raw           TEXT NOT NULL,
    stored_at     TEXT COLLATE "C" NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A') ||
        setweight(to_tsvector('simple', coalesce(summary, '') || ' ' || coalesce(content, '')), 'B')
    ) STORED
);
CREATE INDEX stories_sort ON stories (sort_at DESC, fetched_at DESC, seq DESC);
CREATE INDEX stories_cluster ON stories (cluster_id);
CREATE INDEX stories_feed ON stories (feed_id, sort_at);
CREATE INDEX stories_severity ON stories (severity, sort_at);
CREATE INDEX stories_language ON stories (language, sort_at);
CREATE INDEX stories_tsv ON stories USING GIN (tsv);

CREATE TABLE story_topics (
    story_id TEXT NOT NULL,
    topic    TEXT NOT NULL,
    score    DOUBLE PRECISION,
    PRIMARY KEY (story_id, topic)
);
CREATE INDEX story_topics_topic ON story_topics (topic, story_id);

CREATE TABLE story_countries (
    story_id TEXT NOT NULL,
    country  TEXT NOT NULL,
    PRIMARY KEY (story_id, country)
);
CREATE INDEX story_countries_country ON story_countries (country, story_id);

CREATE TABLE story_entities (
    story_id TEXT NOT NULL,
    entity   TEXT NOT NULL,
    PRIMARY KEY (story_id, entity)
);
CREATE INDEX story_entities_entity ON story_entities (entity, story_id);

CREATE TABLE duplicates (
    id           TEXT PRIMARY KEY,
    story_id     TEXT NOT NULL,
    duplicate_of TEXT NOT NULL,
    cluster_id   TEXT NOT NULL,
    rule         TEXT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    link         TEXT,
    title        TEXT NOT NULL,
    feed_id      TEXT NOT NULL,
    raw          TEXT NOT NULL,
    deduped_at   TEXT COLLATE "C" NOT NULL
);
CREATE INDEX duplicates_of ON duplicates (duplicate_of, deduped_at);
CREATE INDEX duplicates_story ON duplicates (story_id);
CREATE INDEX duplicates_cluster ON duplicates (cluster_id, deduped_at);
CREATE INDEX duplicates_deduped ON duplicates (deduped_at);

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    story_id        TEXT NOT NULL,
    raw             TEXT NOT NULL,
    delivered_at    TEXT COLLATE "C" NOT NULL
);
CREATE INDEX alerts_story ON alerts (story_id, delivered_at);
CREATE INDEX alerts_subscription ON alerts (subscription_id, delivered_at);
CREATE INDEX alerts_delivered ON alerts (delivered_at);

CREATE TABLE feed_health (
    id          TEXT PRIMARY KEY,
    feed_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    raw         TEXT NOT NULL,
    observed_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX feed_health_feed ON feed_health (feed_id, observed_at);
CREATE INDEX feed_health_observed ON feed_health (observed_at);

CREATE TABLE dead_letters (
    id        TEXT PRIMARY KEY,
    stage     TEXT NOT NULL,
    topic     TEXT NOT NULL,
    reason    TEXT NOT NULL,
    raw       TEXT NOT NULL,
    failed_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX dead_letters_failed ON dead_letters (failed_at);
