-- wirewatch store, schema v3 (SQLite): a full-text index whose rowid follows time, and that
-- carries each story's countries as tags.
--
-- Why: "newest first" is the default order. With rowid = seq, FTS5 had to produce every
-- match of a query (walking whole doclists, ~20 % of a million stories for a common word)
-- before the country filter and the time order could cut anything: 148 ms p95 at 1M stories.
-- Now the rowid is
--
--     bucket << 37 | seq     bucket = whole minutes of sort_at since 2000-01-01,
--                                     clamped to 0 .. 2^26 - 1 (earlier times share 0)
--
-- so `ORDER BY rowid DESC LIMIT n` walks the doclists newest first and stops after n matches;
-- the query then completes the last minute exactly (src/db.rs, `search_time_fts`).
-- `seq` is `rowid & (2^37 - 1)`. The rowid is the virtual (computed, not stored) column
-- `stories.fts_rowid`; the same function is `rows::fts_rowid` in Rust (a test checks that
-- the two agree). The `tags` column holds `c<hex of the country code>` for each
-- country, so a country filter is one more doclist in the same intersection, and a count
-- needs no table lookups. User queries search only title, summary and content.
--
-- The index is contentless (content = ''): the text lives once, in `stories`, and the
-- triggers pass the old values to FTS5's 'delete' command, as before.

DROP TRIGGER stories_fts_ai;
DROP TRIGGER stories_fts_ad;
DROP TRIGGER stories_fts_au;
DROP TABLE stories_fts;

ALTER TABLE stories ADD COLUMN fts_rowid INTEGER GENERATED ALWAYS AS (
    (max(0, min(67108863,
        (coalesce(unixepoch(substr(sort_at, 1, 19)), 946684800) - 946684800) / 60)) << 37)
    | (seq & 137438953471)
) VIRTUAL;

CREATE VIRTUAL TABLE stories_fts USING fts5 (
    title, summary, content, tags,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Tags: `c` + hex of each country code in the `countries` JSON array.
CREATE TRIGGER stories_fts_ai AFTER INSERT ON stories BEGIN
    INSERT INTO stories_fts (rowid, title, summary, content, tags)
    SELECT new.fts_rowid, new.title, new.summary, new.content, group_concat('c' || hex(value), ' ')
    FROM json_each(CASE WHEN json_valid(new.countries) THEN new.countries ELSE '[]' END);
END;

CREATE TRIGGER stories_fts_ad AFTER DELETE ON stories BEGIN
    INSERT INTO stories_fts (stories_fts, rowid, title, summary, content, tags)
    SELECT 'delete', old.fts_rowid, old.title, old.summary, old.content, group_concat('c' || hex(value), ' ')
    FROM json_each(CASE WHEN json_valid(old.countries) THEN old.countries ELSE '[]' END);
END;

CREATE TRIGGER stories_fts_au AFTER UPDATE OF title, summary, content, sort_at, countries ON stories
BEGIN
    INSERT INTO stories_fts (stories_fts, rowid, title, summary, content, tags)
    SELECT 'delete', old.fts_rowid, old.title, old.summary, old.content, group_concat('c' || hex(value), ' ')
    FROM json_each(CASE WHEN json_valid(old.countries) THEN old.countries ELSE '[]' END);
    INSERT INTO stories_fts (rowid, title, summary, content, tags)
    SELECT new.fts_rowid, new.title, new.summary, new.content, group_concat('c' || hex(value), ' ')
    FROM json_each(CASE WHEN json_valid(new.countries) THEN new.countries ELSE '[]' END);
END;

-- Index the stored stories in rowid order: FTS5 flushes its pending terms whenever a rowid
-- is lower than the previous one, so feeding it in order builds few, large segments. Only the
-- keys are sorted; the text is read by seq.
WITH k AS MATERIALIZED (SELECT seq, fts_rowid FROM stories ORDER BY fts_rowid)
INSERT INTO stories_fts (rowid, title, summary, content, tags)
SELECT k.fts_rowid, s.title, s.summary, s.content,
    (SELECT group_concat('c' || hex(value), ' ')
     FROM json_each(CASE WHEN json_valid(s.countries) THEN s.countries ELSE '[]' END))
FROM k CROSS JOIN stories s ON s.seq = k.seq;
