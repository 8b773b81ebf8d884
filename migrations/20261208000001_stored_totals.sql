-- /v1/stats (and the explorer's front page, on every view) counted the stored blobs by
-- reading every certified contract: 0.45 s at 1M contracts, on an endpoint anyone may
-- call. The totals are now kept as the contracts change, by triggers, so every writer
-- of contracts keeps them:
--   stored_blob_ends: each blob with a certified, undeleted contract, and the latest
--     end_epoch of those (the blob is stored while the current epoch is before it);
--   stored_blob_changes: how the totals change, by that end epoch (a blob moving from
--     one end epoch to another is -1 at the first and +1 at the second). The totals in
--     epoch e are the sums over end epochs after e; `stored_blob_changes_fold` sums the
--     rows of each end epoch into one now and then.

CREATE TABLE stored_blob_ends (
    blob_id      text PRIMARY KEY,
    size         bigint NOT NULL,
    encoded_size bigint NOT NULL,
    -- NULL only inside `stored_blob_ends_follow` (a row made to be locked)
    end_epoch    bigint
);

CREATE TABLE stored_blob_changes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    end_epoch     bigint NOT NULL,
    blobs         bigint NOT NULL,
    bytes         bigint NOT NULL,
    encoded_bytes bigint NOT NULL
);
CREATE INDEX stored_blob_changes_by_end ON stored_blob_changes (end_epoch);

-- Brings the rows of `p_blobs` up to date with their contracts.
CREATE FUNCTION stored_blob_ends_follow(p_blobs text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(p_blobs), 0) = 0 THEN
        RETURN;
    END IF;
    -- Each blob's row locked in blob order (made if missing): transactions changing the
    -- same blob's contracts take turns, and the next statement's snapshot, taken after
    -- the lock, sees what the one before committed.
    INSERT INTO stored_blob_ends AS s (blob_id, size, encoded_size, end_epoch)
    SELECT b, 0, 0, NULL FROM (SELECT DISTINCT unnest(p_blobs) AS b) AS u ORDER BY b COLLATE "C"
    ON CONFLICT (blob_id) DO UPDATE SET blob_id = s.blob_id;
    -- Joins, not `= ANY (p_blobs)`: a statement that changes many contracts brings a
    -- long array, and ANY compares every row with every element.
    WITH blobs AS (SELECT DISTINCT unnest(p_blobs) AS blob_id),
         now_stored AS (
             SELECT c.blob_id, max(c.end_epoch) AS end_epoch, max(c.size) AS size,
                    max(c.encoded_size) AS encoded_size
             FROM blobs b JOIN contracts c ON c.blob_id = b.blob_id
             WHERE c.certified_epoch IS NOT NULL AND c.deleted_epoch IS NULL
             GROUP BY c.blob_id),
         moved AS (
             SELECT s.end_epoch AS old_end, s.size AS old_size, s.encoded_size AS old_encoded,
                    n.end_epoch AS new_end, n.size AS new_size, n.encoded_size AS new_encoded
             FROM blobs b JOIN stored_blob_ends s ON s.blob_id = b.blob_id
             LEFT JOIN now_stored n ON n.blob_id = s.blob_id
             WHERE (s.end_epoch, s.size, s.encoded_size)
                   IS DISTINCT FROM (n.end_epoch, n.size, n.encoded_size)),
         changes AS (
             INSERT INTO stored_blob_changes (end_epoch, blobs, bytes, encoded_bytes)
             SELECT old_end, -1, -old_size, -old_encoded FROM moved WHERE old_end IS NOT NULL
             UNION ALL
             SELECT new_end, 1, new_size, new_encoded FROM moved WHERE new_end IS NOT NULL),
         kept AS (
             UPDATE stored_blob_ends s
             SET end_epoch = n.end_epoch, size = n.size, encoded_size = n.encoded_size
             FROM now_stored n WHERE s.blob_id = n.blob_id
               AND (s.end_epoch, s.size, s.encoded_size)
                   IS DISTINCT FROM (n.end_epoch, n.size, n.encoded_size))
    DELETE FROM stored_blob_ends s USING blobs b
    WHERE s.blob_id = b.blob_id
      AND NOT EXISTS (SELECT 1 FROM now_stored n WHERE n.blob_id = s.blob_id);
END $$;

-- Transition tables cannot go with a column list, so the update trigger sees every
-- update of contracts and picks the ones that change what is stored.
CREATE FUNCTION contracts_inserted_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stored_blob_ends_follow(ARRAY(
        SELECT DISTINCT n.blob_id FROM new_rows n WHERE n.certified_epoch IS NOT NULL));
    RETURN NULL;
END $$;

CREATE FUNCTION contracts_updated_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The rows whose stored part changed, before and after (set operations, not a join
    -- on id: the transition tables have no statistics, and a nested loop over a large
    -- update took minutes).
    PERFORM stored_blob_ends_follow(ARRAY(
        SELECT blob_id FROM (
            (SELECT id, blob_id, size, encoded_size, end_epoch, certified_epoch, deleted_epoch
             FROM new_rows
             EXCEPT
             SELECT id, blob_id, size, encoded_size, end_epoch, certified_epoch, deleted_epoch
             FROM old_rows)
            UNION ALL
            (SELECT id, blob_id, size, encoded_size, end_epoch, certified_epoch, deleted_epoch
             FROM old_rows
             EXCEPT
             SELECT id, blob_id, size, encoded_size, end_epoch, certified_epoch, deleted_epoch
             FROM new_rows)) AS changed));
    RETURN NULL;
END $$;

CREATE FUNCTION contracts_deleted_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stored_blob_ends_follow(ARRAY(SELECT DISTINCT o.blob_id FROM old_rows o));
    RETURN NULL;
END $$;

CREATE TRIGGER contracts_inserted_follow AFTER INSERT ON contracts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION contracts_inserted_follow();
CREATE TRIGGER contracts_updated_follow AFTER UPDATE ON contracts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION contracts_updated_follow();
CREATE TRIGGER contracts_deleted_follow AFTER DELETE ON contracts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION contracts_deleted_follow();

-- Sums each end epoch's rows into one (rows another transaction has not committed yet
-- stay as they are), so the totals read a row or so per end epoch.
CREATE FUNCTION stored_blob_changes_fold() RETURNS void
LANGUAGE sql AS $$
    WITH gone AS (DELETE FROM stored_blob_changes
                  RETURNING end_epoch, blobs, bytes, encoded_bytes)
    INSERT INTO stored_blob_changes (end_epoch, blobs, bytes, encoded_bytes)
    SELECT end_epoch, sum(blobs), sum(bytes), sum(encoded_bytes) FROM gone
    GROUP BY end_epoch
    HAVING sum(blobs) <> 0 OR sum(bytes) <> 0 OR sum(encoded_bytes) <> 0;
$$;

-- What the contracts already hold.
INSERT INTO stored_blob_ends (blob_id, size, encoded_size, end_epoch)
SELECT blob_id, max(size), max(encoded_size), max(end_epoch) FROM contracts
WHERE certified_epoch IS NOT NULL AND deleted_epoch IS NULL
GROUP BY blob_id;
INSERT INTO stored_blob_changes (end_epoch, blobs, bytes, encoded_bytes)
SELECT end_epoch, count(*), sum(size), sum(encoded_size) FROM stored_blob_ends
GROUP BY end_epoch;
