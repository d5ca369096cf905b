-- wirewatch store, schema v1.
--
-- The connection sets page_size = 16384, journal_mode = WAL, synchronous = NORMAL and a
-- busy_timeout before this runs (page_size only takes effect before the first table exists).
-- Times are TEXT in RFC 3339, UTC, microseconds, `Z` suffix: fixed width, so they sort and
-- compare as strings. JSON columns hold serde_json output.

-- One row per enriched story. `seq` is an explicit INTEGER PRIMARY KEY (a rowid alias) so the
-- rowid the FTS index refers to never changes, not even on VACUUM; `id` is the story id and
-- the key every upsert conflicts on.
CREATE TABLE stories (
    seq           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    cluster_id    TEXT    NOT NULL,
    feed_id       TEXT    NOT NULL,
    feed_url      TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    link          TEXT,
    summary       TEXT,
    content       TEXT,
    language      TEXT,
    published     TEXT,
    fetched_at    TEXT    NOT NULL,
    classified_at TEXT    NOT NULL,
    -- published, or fetched_at when the feed gave no date: the "newest first" order and `since`.
    sort_at       TEXT    NOT NULL,
    topics        TEXT    NOT NULL,
    countries     TEXT    NOT NULL,
    entities      TEXT    NOT NULL,
    raw           TEXT    NOT NULL,
    stored_at     TEXT    NOT NULL
);
CREATE INDEX stories_sort ON stories (sort_at DESC, fetched_at DESC);
CREATE INDEX stories_cluster ON stories (cluster_id);
CREATE INDEX stories_feed ON stories (feed_id);

-- Filter side tables, rewritten with their story in the same transaction.
CREATE TABLE story_topics (
    story_id TEXT NOT NULL,
    topic    TEXT NOT NULL,
    score    REAL,
    PRIMARY KEY (story_id, topic)
) WITHOUT ROWID;
CREATE INDEX story_topics_topic ON story_topics (topic, story_id);

CREATE TABLE story_countries (
    story_id TEXT NOT NULL,
    country  TEXT NOT NULL,
    PRIMARY KEY (story_id, country)
) WITHOUT ROWID;
CREATE INDEX story_countries_country ON story_countries (country, story_id);

-- Full-text index over title, summary and content; external content (the text lives once, in
-- `stories`). The triggers keep it in step: an upsert that updates a story is an UPDATE, which
-- removes the old terms before adding the new ones, so a re-upsert never duplicates a row.
CREATE VIRTUAL TABLE stories_fts USING fts5 (
    title, summary, content,
    content = 'stories',
    content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER stories_fts_ai AFTER INSERT ON stories BEGIN
    INSERT INTO stories_fts (rowid, title, summary, content)
    VALUES (new.seq, new.title, new.summary, new.content);
END;
CREATE TRIGGER stories_fts_ad AFTER DELETE ON stories BEGIN
    INSERT INTO stories_fts (stories_fts, rowid, title, summary, content)
    VALUES ('delete', old.seq, old.title, old.summary, old.content);
END;
CREATE TRIGGER stories_fts_au AFTER UPDATE OF title, summary, content ON stories BEGIN
    INSERT INTO stories_fts (stories_fts, rowid, title, summary, content)
    VALUES ('delete', old.seq, old.title, old.summary, old.content);
    INSERT INTO stories_fts (rowid, title, summary, content)
    VALUES (new.seq, new.title, new.summary, new.content);
END;

-- Duplicate links. No foreign key: a link may arrive before or after its original story;
-- they are joined at query time on duplicate_of.
CREATE TABLE duplicates (
    id           TEXT PRIMARY KEY,
    story_id     TEXT NOT NULL,
    duplicate_of TEXT NOT NULL,
    cluster_id   TEXT NOT NULL,
    rule         TEXT NOT NULL,
    score        REAL NOT NULL,
    link         TEXT,
    title        TEXT NOT NULL,
    feed_id      TEXT NOT NULL,
    raw          TEXT NOT NULL,
    deduped_at   TEXT NOT NULL
);
CREATE INDEX duplicates_of ON duplicates (duplicate_of, deduped_at);
CREATE INDEX duplicates_story ON duplicates (story_id);

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    story_id        TEXT NOT NULL,
    raw             TEXT NOT NULL,
    delivered_at    TEXT NOT NULL
);
CREATE INDEX alerts_story ON alerts (story_id, delivered_at);
CREATE INDEX alerts_subscription ON alerts (subscription_id, delivered_at);

CREATE TABLE feed_health (
    id          TEXT PRIMARY KEY,
    feed_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    raw         TEXT NOT NULL,
    observed_at TEXT NOT NULL
);
CREATE INDEX feed_health_feed ON feed_health (feed_id, observed_at);

CREATE TABLE dead_letters (
    id        TEXT PRIMARY KEY,
    stage     TEXT NOT NULL,
    topic     TEXT NOT NULL,
    reason    TEXT NOT NULL,
    raw       TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE INDEX dead_letters_failed ON dead_letters (failed_at);
