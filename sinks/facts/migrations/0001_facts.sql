-- The facts plane: one row per event in proof_facts, typed tables per event family.
-- Every table is a ReplacingMergeTree whose sorting key ends in event_id (every other
-- key column is a function of the event), so a re-delivered event collapses into one
-- row on merge and under FINAL; ingest_version decides which copy survives.
-- non_replicated_deduplication_window makes insert_deduplication_token effective on
-- single-node tables (its default 0 disables insert deduplication).

CREATE TABLE IF NOT EXISTS proof_facts
(
    event_id         String,
    event_type       LowCardinality(String),
    occurred_at      DateTime64(6, 'UTC'),
    producer_service LowCardinality(String),
    producer_version LowCardinality(String),
    workload_id      LowCardinality(String),
    actor_kind       LowCardinality(String),
    actor_id         String,
    actor_role       LowCardinality(String),
    team_type        LowCardinality(Nullable(String)),
    project          LowCardinality(String),
    repository       LowCardinality(Nullable(String)),
    run_id           Nullable(String),
    attempt          UInt32,
    generation       UInt64,
    causation_id     Nullable(String),
    correlation_id   Nullable(String),
    trace_id         Nullable(String),
    attributes       Map(String, String),
    payload          String CODEC(ZSTD(3)),
    log_topic        LowCardinality(String),
    log_partition    UInt32,
    log_offset       UInt64,
    ingest_version   UInt32
)
ENGINE = ReplacingMergeTree(ingest_version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (event_type, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS runs
(
    event_id       String,
    event_type     LowCardinality(String),
    occurred_at    DateTime64(6, 'UTC'),
    project        LowCardinality(String),
    repository     LowCardinality(Nullable(String)),
    run_id         String,
    attempt        UInt32,
    actor_id       String,
    actor_role     LowCardinality(String),
    team_type      LowCardinality(Nullable(String)),
    parent_run_id  Nullable(String),
    outcome        LowCardinality(Nullable(String)),
    duration_ms    Nullable(UInt64),
    ingest_version UInt32
)
ENGINE = ReplacingMergeTree(ingest_version)
ORDER BY (project, run_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS tool_calls
(
    event_id       String,
    occurred_at    DateTime64(6, 'UTC'),
    project        LowCardinality(String),
    run_id         Nullable(String),
    actor_id       String,
    team_type      LowCardinality(Nullable(String)),
    mcp_server     LowCardinality(String),
    tool           LowCardinality(String),
    input_digest   FixedString(64),
    output_digest  Nullable(FixedString(64)),
    duration_ms    UInt64,
    outcome        LowCardinality(String),
    retries        UInt32,
    ingest_version UInt32
)
ENGINE = ReplacingMergeTree(ingest_version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (mcp_server, tool, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS deliveries
(
    event_id          String,
    event_type        LowCardinality(String),
    occurred_at       DateTime64(6, 'UTC'),
    kind              LowCardinality(String),
    state             LowCardinality(String),
    project           LowCardinality(String),
    repository        String,
    ref               String,
    number            Nullable(UInt64),
    installation_id   Nullable(UInt64),
    delivery_identity String,
    review_state      LowCardinality(Nullable(String)),
    sha               Nullable(String),
    merged_at         Nullable(DateTime64(6, 'UTC')),
    closes_issue_ref  Nullable(String),
    ingest_version    UInt32
)
ENGINE = ReplacingMergeTree(ingest_version)
ORDER BY (repository, ref, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- leaf_index, tree_size and ledger_root stay NULL until the Chronicle ledger
-- projection re-inserts the row with a higher ingest_version.
CREATE TABLE IF NOT EXISTS evidence
(
    event_id       String,
    occurred_at    DateTime64(6, 'UTC'),
    project        LowCardinality(String),
    repository     LowCardinality(Nullable(String)),
    run_id         Nullable(String),
    sha256         FixedString(64),
    media_type     LowCardinality(String),
    size_bytes     UInt64,
    kind           LowCardinality(String),
    proves         String,
    uri            Nullable(String),
    leaf_index     Nullable(UInt64),
    tree_size      Nullable(UInt64),
    ledger_root    Nullable(String),
    ingest_version UInt32
)
ENGINE = ReplacingMergeTree(ingest_version)
ORDER BY (proves, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS handoffs
(
    event_id       String,
    occurred_at    DateTime64(6, 'UTC'),
    project        LowCardinality(String),
    run_id         Nullable(String),
    actor_id       String,
    team_type      LowCardinality(Nullable(String)),
    from_role      LowCardinality(String),
    to_role        LowCardinality(String),
    ingest_version UInt32
)
ENGINE = ReplacingMergeTree(ingest_version)
ORDER BY (from_role, to_role, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per (projection, partition) and flush; the max offset is the watermark,
-- so the table can only move forward.
CREATE TABLE IF NOT EXISTS watermarks
(
    projection_name LowCardinality(String),
    topic      LowCardinality(String),
    partition  UInt32,
    offset     Int64,
    flushed_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(offset)
ORDER BY (projection_name, topic, partition);
