"""Every SQL statement the pipelines run: plain PostgreSQL (runs unchanged on TimescaleDB), bound parameters only."""

from __future__ import annotations

SCHEMA = "vast_pipelines"

# The guide's columns; agent-router writes this table in production, the pipelines only read it.
COST_TABLE = "vast_ai_costs"
COST_COLUMNS = {
    "timestamp": "timestamp with time zone",
    "model": "text",
    "cost": "numeric",
    "duration": "double precision",
    "cold_start": "boolean",
}
# The types each column may have (information_schema's data_type): a cost must be a number, a timestamp must
# carry its time zone (a naive one is a different instant in every zone), cold_start must be true/false.
COST_COLUMN_TYPES = {
    "timestamp": ("timestamp with time zone",),
    "model": ("text", "character varying", "character"),
    "cost": ("numeric", "double precision", "real"),
    "duration": ("double precision", "real", "numeric", "integer", "bigint", "smallint"),
    "cold_start": ("boolean",),
}
# What each reader needs: a sensor only needs the columns it reads.
SPEND_COLUMNS = ("timestamp", "cost")

# --- What counts as money -------------------------------------------------------------------------------
# A cost is money only when it is a finite amount. NaN sorts above every number in PostgreSQL and +-Infinity lies
# outside any range, so one range test excludes them from a numeric or a double precision column alike (and
# amounts beyond what a float holds to the cent: no request costs a trillion dollars).
# Spend is what was charged: costs of 0 or more. A negative cost (a credit, a refund, or a bug) is counted and
# totalled apart, never subtracted: one row of -100 must not hide $60 of real spend from the runaway check.
CHARGED = "(cost >= 0 AND cost <= 1e12)"
CREDIT = "(cost < 0 AND cost >= -1e12)"
# Not NULL and not money: NaN, Infinity, -Infinity, or beyond +-1e12.
INVALID_COST = "(cost IS NOT NULL AND NOT (cost BETWEEN -1e12 AND 1e12))"
# Durations (seconds) that are numbers: NaN or Infinity would break every average, percentile and JSON document.
FINITE_DURATION = "(duration BETWEEN -1e12 AND 1e12)"
# A model name as stored, grouped and shown: long names (a 10 MB bug) become a short, still unique label.
MODEL_LABEL = (
    "COALESCE(CASE WHEN octet_length(model) <= 200 THEN model ELSE left(model, 64) || '… (' || length(model) "
    "|| ' characters, md5 ' || left(md5(model), 12) || ')' END, :no_model)"
)

# Serialises concurrent migrations (two code servers starting at once).
MIGRATION_LOCK_KEY = 0x7A57_0001

MIGRATIONS: tuple[str, ...] = (
    "CREATE SCHEMA IF NOT EXISTS vast_pipelines",
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.health_checks (
        id bigserial PRIMARY KEY,
        run_id text NOT NULL UNIQUE,
        started_at timestamptz NOT NULL DEFAULT now(),
        database_label text NOT NULL,
        endpoints jsonb,
        endpoints_text text,
        spend jsonb,
        spend_text text,
        report_markdown text,
        all_online boolean
    )
    """,
    "CREATE INDEX IF NOT EXISTS health_checks_started_at ON vast_pipelines.health_checks (started_at)",
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.notification_outbox (
        id bigserial PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        transport text NOT NULL CHECK (transport IN ('slack', 'email')),
        destination text NOT NULL,
        kind text NOT NULL,
        subject text,
        body text NOT NULL,
        attachment_name text,
        attachment bytea,
        dedupe_key text UNIQUE,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'delivered', 'failed', 'not_configured')),
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        last_attempt_at timestamptz,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        delivery_ref text
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS notification_outbox_undelivered
        ON vast_pipelines.notification_outbox (next_attempt_at) WHERE status <> 'delivered'
    """,
    # Issue 12: 'expired' (old news, summarised in one digest) and 'demo' (queued by the embedded demo database:
    # kept, never posted). Widened once, by name, so a restart does not re-validate the table.
    """
    DO $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'notification_outbox_status_v2') THEN
            ALTER TABLE vast_pipelines.notification_outbox DROP CONSTRAINT IF EXISTS notification_outbox_status_check;
            ALTER TABLE vast_pipelines.notification_outbox ADD CONSTRAINT notification_outbox_status_v2
                CHECK (status IN ('pending', 'delivered', 'failed', 'not_configured', 'expired', 'demo'));
        END IF;
    END
    $$
    """,
    # The digest that reported an expired message (NULL: not reported yet).
    "ALTER TABLE vast_pipelines.notification_outbox ADD COLUMN IF NOT EXISTS digested_in bigint",
    # --- deploy_model / update_worker (issue 5): every change to Vast.ai or the router, before and after.
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.worker_changes (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        run_id text NOT NULL,
        job text NOT NULL,
        step text NOT NULL,
        target text NOT NULL,
        before jsonb,
        after jsonb,
        outcome text NOT NULL CHECK (outcome IN ('applied', 'failed')),
        detail text
    )
    """,
    "CREATE INDEX IF NOT EXISTS worker_changes_at ON vast_pipelines.worker_changes (at)",
    # --- Budget alerts, emergencies and outages (issue 4) ------------------------------------------
    # One row per (month, level) ever crossed: the claim that makes an alert go out exactly once,
    # whichever code server or tick gets there first. Levels skipped over are claimed unnotified.
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.alert_state (
        month date NOT NULL,
        level text NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        month_to_date double precision NOT NULL,
        notified boolean NOT NULL,
        PRIMARY KEY (month, level)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.incidents (
        id bigserial PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('runaway', 'hard_cap', 'manual', 'service_down')),
        subject text NOT NULL,
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
        mode text,
        opened_at timestamptz NOT NULL DEFAULT now(),
        closed_at timestamptz,
        run_id text UNIQUE,
        restore_run_id text,
        summary text NOT NULL,
        figures jsonb,
        before_state jsonb,
        after_state jsonb,
        restored_state jsonb,
        failures jsonb
    )
    """,
    # At most one open outage per endpoint: the claim that opens (and announces) it once.
    """
    CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_open_outage
        ON vast_pipelines.incidents (subject) WHERE kind = 'service_down' AND status = 'open'
    """,
    "CREATE INDEX IF NOT EXISTS incidents_open ON vast_pipelines.incidents (opened_at) WHERE status = 'open'",
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.endpoint_probes (
        id bigserial PRIMARY KEY,
        checked_at timestamptz NOT NULL DEFAULT now(),
        endpoint text NOT NULL,
        online boolean NOT NULL,
        attempts integer NOT NULL,
        failure text,
        detail text
    )
    """,
    # Issue 12: each successful restart of agent-router by the emergency/restore jobs, with the USE_VASTAI it
    # was restarted with: the goal state is confirmed only here, never inferred from the .env alone.
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.router_confirmations (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        run_id text NOT NULL,
        use_vastai text NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS endpoint_probes_recent ON vast_pipelines.endpoint_probes (endpoint, id DESC)",
    # --- Cost history and the weekly/monthly reviews ---------------------------------------------
    # The rollup: one row per local day and model; the reports read this, never the raw table.
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.daily_cost_history (
        day date NOT NULL,
        model text NOT NULL,
        requests bigint NOT NULL,
        cost numeric,
        cold_start_requests bigint NOT NULL,
        cold_start_cost numeric,
        cold_start_costed_requests bigint NOT NULL,
        duration_sum double precision,
        duration_count bigint NOT NULL,
        cold_duration_sum double precision,
        cold_duration_count bigint NOT NULL,
        null_cost_requests bigint NOT NULL,
        null_duration_requests bigint NOT NULL,
        negative_cost_requests bigint NOT NULL,
        PRIMARY KEY (day, model)
    )
    """,
    # Rows whose cost is not a finite number, and the credits (negative costs) summed apart (issue 11).
    """
    ALTER TABLE vast_pipelines.daily_cost_history
        ADD COLUMN IF NOT EXISTS invalid_cost_requests bigint NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS credit_cost numeric
    """,
    # Which days were rolled up (an empty day is a row here and none above), in which time zone.
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.daily_cost_history_days (
        day date PRIMARY KEY,
        timezone text NOT NULL,
        window_start timestamptz NOT NULL,
        window_end timestamptz NOT NULL,
        requests bigint NOT NULL,
        refreshed_at timestamptz NOT NULL DEFAULT now(),
        run_id text
    )
    """,
    # Days rolled up before costs were checked for being finite (a NaN stored) or credits kept apart (net of a
    # negative cost, no credit_cost): forgotten, so the spend statement reads them raw and the reports roll
    # them up again. A day rolled up since has credit_cost set whenever it had a negative cost: done once.
    """
    DELETE FROM vast_pipelines.daily_cost_history_days d
    WHERE EXISTS (
        SELECT 1 FROM vast_pipelines.daily_cost_history h
        WHERE h.day = d.day AND (
            NOT (h.cost BETWEEN -1e12 AND 1e12)
            OR NOT (h.cold_start_cost BETWEEN -1e12 AND 1e12)
            OR 'NaN' IN (h.duration_sum, h.cold_duration_sum)
            OR (h.negative_cost_requests > 0 AND h.credit_cost IS NULL)
        )
    )
    """,
    # --- Incremental spend (issue 14): today's (and yesterday's) spend pre-summed per UTC minute and model, so a
    # sensor tick reads a few thousand small rows plus the last minute of raw rows instead of every row of the day.
    # Each minute lies within one local day in every zone whose offset is whole minutes (all of today's zones).
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.spend_minutes (
        minute timestamptz NOT NULL,
        model text NOT NULL,
        requests bigint NOT NULL,
        charged numeric,
        costed_requests bigint NOT NULL,
        credit numeric,
        credit_requests bigint NOT NULL,
        invalid_requests bigint NOT NULL,
        null_requests bigint NOT NULL,
        PRIMARY KEY (minute, model)
    )
    """,
    # What spend_minutes holds: every row of [covered_from, summed_through) as of the last refresh; the sweep
    # re-sums it from summed_through downwards, swept_down_to being how far down this pass got.
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.spend_minutes_state (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        covered_from timestamptz NOT NULL,
        summed_through timestamptz NOT NULL,
        swept_down_to timestamptz NOT NULL,
        refreshed_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # Every report's figures and text, one row per report and period (re-runs replace it).
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.cost_reports (
        report text NOT NULL,
        period_start date NOT NULL,
        period_end date NOT NULL,
        timezone text NOT NULL,
        generated_at timestamptz NOT NULL DEFAULT now(),
        run_id text,
        cost numeric,
        requests bigint NOT NULL,
        cost_per_request numeric,
        verdict text NOT NULL,
        figures jsonb NOT NULL,
        report_markdown text NOT NULL,
        PRIMARY KEY (report, period_start)
    )
    """,
    # The Weekly Review's table, in the guide's columns.
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.weekly_cost_report (
        week_start date NOT NULL,
        day date NOT NULL,
        daily_cost numeric,
        requests bigint NOT NULL,
        cost_per_request numeric,
        rolled_up boolean NOT NULL,
        PRIMARY KEY (week_start, day)
    )
    """,
    # --- Insights beyond the runbook (issue 7): alert episodes, billing reconciliation, idle-timeout
    # what-if, alert-rule backtests -------------------------------------------------------------------
    # A condition that alerts once while it lasts (stale cost data, a cost anomaly): at most one open
    # episode per kind and subject, the claim that sends its alert once.
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.alert_episodes (
        id bigserial PRIMARY KEY,
        kind text NOT NULL,
        subject text NOT NULL,
        opened_at timestamptz NOT NULL DEFAULT now(),
        closed_at timestamptz,
        summary text NOT NULL,
        figures jsonb
    )
    """,
    """
    CREATE UNIQUE INDEX IF NOT EXISTS alert_episodes_one_open
        ON vast_pipelines.alert_episodes (kind, subject) WHERE closed_at IS NULL
    """,
    "CREATE INDEX IF NOT EXISTS alert_episodes_opened_at ON vast_pipelines.alert_episodes (opened_at)",
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.billing_reconciliation (
        day date PRIMARY KEY,
        logged numeric,
        requests bigint NOT NULL,
        null_cost_requests bigint NOT NULL,
        billed numeric,
        difference numeric,
        share double precision,
        diverged boolean NOT NULL,
        checked_at timestamptz NOT NULL DEFAULT now(),
        run_id text
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.idle_timeout_what_if (
        model text NOT NULL,
        idle_timeout integer NOT NULL,
        min_workers integer NOT NULL,
        judged_requests bigint NOT NULL,
        cold_starts bigint NOT NULL,
        cold_start_rate double precision,
        warm_gpu_hours double precision NOT NULL,
        cost_usd double precision,
        recommended boolean NOT NULL,
        window_start timestamptz NOT NULL,
        window_end timestamptz NOT NULL,
        computed_at timestamptz NOT NULL DEFAULT now(),
        run_id text,
        PRIMARY KEY (model, idle_timeout, min_workers)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.alert_backtests (
        run_id text PRIMARY KEY,
        ran_at timestamptz NOT NULL DEFAULT now(),
        first_day date NOT NULL,
        end_day date NOT NULL,
        thresholds jsonb NOT NULL,
        firings jsonb NOT NULL,
        report_markdown text NOT NULL
    )
    """,
)

EMBEDDED_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS public.vast_ai_costs (
        "timestamp" timestamptz NOT NULL,
        model text,
        cost numeric,
        duration double precision,
        cold_start boolean
    )
    """,
    'CREATE INDEX IF NOT EXISTS vast_ai_costs_timestamp ON public.vast_ai_costs ("timestamp")',
    """
    CREATE TABLE IF NOT EXISTS vast_pipelines.demo_traffic (
        generated_at timestamptz NOT NULL DEFAULT now(),
        first_request timestamptz NOT NULL,
        last_request timestamptz NOT NULL,
        requests bigint NOT NULL,
        seed integer NOT NULL,
        note text NOT NULL
    )
    """,
)

# A sensor tick's limits, for its transaction only (SET LOCAL takes no bound parameters; set_config does).
SET_TICK_TIMEOUTS = """
SELECT set_config('statement_timeout', :statement, true), set_config('lock_timeout', :lock, true)
"""

COST_TABLE_COLUMNS = """
SELECT column_name, data_type
FROM information_schema.columns
WHERE table_name = :table AND table_schema = ANY (current_schemas(false))
"""

# The minutes of spend_minutes are UTC minutes (date_bin from this origin), the same in every time zone.
MINUTE_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
# One raw row's share of the spend columns, as the first branch of SPEND_SUMMARY's raw rows lists them.
CHARGED_COLUMNS = f"""CASE WHEN {CHARGED} THEN cost END,
        CASE WHEN {CHARGED} OR {CREDIT} THEN 1 ELSE 0 END,
        CASE WHEN {CREDIT} THEN cost END,
        CASE WHEN {CREDIT} THEN 1 ELSE 0 END,
        CASE WHEN {INVALID_COST} THEN 1 ELSE 0 END,
        CASE WHEN cost IS NULL THEN 1 ELSE 0 END"""

# Every spend window of the health check and the budget sensors in one statement that stays cheap at any
# volume: whole local days come from the rollup (daily_cost_history, rolled up in this time zone) up to the
# first day it lacks; raw rows are read (an index range on "timestamp") only from that day, or from the start
# of the rolling 24 h, whichever is earlier: normally yesterday and today. Callers that do not need the rolling
# 24 h (the per-minute sensors) pass with_rolling = false and read only from the first gap: normally today.
# Within [covered_from, summed_through) those rows are read pre-summed from spend_minutes (issue 14; see
# policy/spend_minutes.py), so "raw" is normally the last minute or two; spend_parameters alone reads all raw.
SPEND_SUMMARY = f"""
WITH needed AS (
    SELECT CAST(d AS date) AS day
    FROM generate_series(CAST(:history_first AS date), CAST(:today AS date) - 1, interval '1 day') AS d
),
first_gap AS (
    SELECT COALESCE(MIN(n.day), CAST(:today AS date)) AS day
    FROM needed n
    LEFT JOIN vast_pipelines.daily_cost_history_days h ON h.day = n.day AND h.timezone = :tz
    WHERE h.day IS NULL
),
history AS (
    SELECT
        SUM(h.cost) FILTER (WHERE h.day = :previous_day) AS previous_day_cost,
        SUM(h.requests) FILTER (WHERE h.day = :previous_day) AS previous_day_requests,
        SUM(h.requests - h.null_cost_requests - h.invalid_cost_requests) FILTER (WHERE h.day = :previous_day)
            AS previous_day_costed,
        SUM(h.cost) FILTER (WHERE h.day >= :month_first) AS month_cost,
        SUM(h.requests) FILTER (WHERE h.day >= :month_first) AS month_requests,
        SUM(h.requests - h.null_cost_requests - h.invalid_cost_requests) FILTER (WHERE h.day >= :month_first)
            AS month_costed,
        SUM(h.null_cost_requests) FILTER (WHERE h.day >= :month_first) AS month_null,
        SUM(h.negative_cost_requests) FILTER (WHERE h.day >= :month_first) AS month_negative,
        SUM(h.credit_cost) FILTER (WHERE h.day >= :month_first) AS month_credit,
        SUM(h.invalid_cost_requests) FILTER (WHERE h.day >= :month_first) AS month_invalid,
        SUM(h.cost) FILTER (WHERE h.day >= :week_first) AS week_cost
    FROM vast_pipelines.daily_cost_history h
    WHERE h.day >= :history_first AND h.day < (SELECT day FROM first_gap)
),
raw_from AS (
    SELECT CASE
        WHEN :with_rolling THEN LEAST(
            CAST(:rolling_start AS timestamptz), (SELECT CAST(day AS timestamp) AT TIME ZONE :tz FROM first_gap)
        )
        ELSE (SELECT CAST(day AS timestamp) AT TIME ZONE :tz FROM first_gap)
    END AS at
),
raw AS (
    -- Each row's cost is classified once (OFFSET 0 keeps the planner from repeating the tests in every sum).
    -- Raw rows are read before spend_minutes' coverage and after its watermark (normally the last minute only).
    SELECT
        "timestamp" AS at,
        false AS rolling_only,
        CASE WHEN {CHARGED} THEN cost END AS charged,
        CASE WHEN {CHARGED} OR {CREDIT} THEN 1 ELSE 0 END AS costed,
        CASE WHEN {CREDIT} THEN cost END AS credit,
        CASE WHEN {CREDIT} THEN 1 ELSE 0 END AS credit_requests,
        CASE WHEN {INVALID_COST} THEN 1 ELSE 0 END AS invalid,
        CASE WHEN cost IS NULL THEN 1 ELSE 0 END AS missing
    FROM vast_ai_costs
    -- The one-time test skips this scan when nothing lies before the coverage (the usual case); the constant
    -- bounds keep the planner on the index whatever the first gap turns out to be.
    WHERE (SELECT at FROM raw_from) < CAST(:covered_from AS timestamptz)
        AND "timestamp" >= (SELECT at FROM raw_from) AND "timestamp" < :covered_from AND "timestamp" <= :now
    UNION ALL
    SELECT "timestamp", false, {CHARGED_COLUMNS}
    FROM vast_ai_costs
    WHERE "timestamp" >= :summed_through AND "timestamp" >= (SELECT at FROM raw_from) AND "timestamp" <= :now
    UNION ALL
    -- The rolling 24 h starts inside a pre-summed minute: that minute's rows from the start, for the 24 h only.
    SELECT "timestamp", true, {CHARGED_COLUMNS}
    FROM vast_ai_costs
    WHERE :with_rolling AND "timestamp" >= :head_from AND "timestamp" < :head_until
    OFFSET 0
),
source AS (
    SELECT at, CAST((at AT TIME ZONE :tz) AS date) AS day, rolling_only, 1 AS requests, charged, costed, credit,
        credit_requests, invalid, missing
    FROM raw
    UNION ALL
    SELECT m.minute, CAST((m.minute AT TIME ZONE :tz) AS date), false, m.requests, m.charged, m.costed_requests,
        m.credit, m.credit_requests, m.invalid_requests, m.null_requests
    FROM vast_pipelines.spend_minutes m
    WHERE m.minute >= GREATEST(
            CAST(:covered_from AS timestamptz), date_bin('1 minute', (SELECT at FROM raw_from), {MINUTE_ORIGIN})
        )
        AND m.minute < :summed_through
),
recent AS (
    SELECT
        SUM(r.charged) FILTER (WHERE r.at >= :rolling_start) AS rolling_24h_cost,
        COALESCE(SUM(r.requests) FILTER (WHERE r.at >= :rolling_start), 0) AS rolling_24h_requests,
        COALESCE(SUM(r.costed) FILTER (WHERE r.at >= :rolling_start), 0) AS rolling_24h_costed,
        SUM(r.charged) FILTER (WHERE r.day = :today AND d) AS today_cost,
        COALESCE(SUM(r.requests) FILTER (WHERE r.day = :today AND d), 0) AS today_requests,
        COALESCE(SUM(r.costed) FILTER (WHERE r.day = :today AND d), 0) AS today_costed,
        COALESCE(SUM(r.missing) FILTER (WHERE r.day = :today AND d), 0) AS today_null,
        COALESCE(SUM(r.invalid) FILTER (WHERE r.day = :today AND d), 0) AS today_invalid,
        COALESCE(SUM(r.credit_requests) FILTER (WHERE r.day = :today AND d), 0) AS today_negative,
        -- Days the rollup did not answer (on or after the first gap) only, so nothing is counted twice.
        SUM(r.charged) FILTER (WHERE r.day = :previous_day AND r.day >= g.day AND d) AS previous_day_cost,
        COALESCE(SUM(r.requests) FILTER (WHERE r.day = :previous_day AND r.day >= g.day AND d), 0)
            AS previous_day_requests,
        COALESCE(SUM(r.costed) FILTER (WHERE r.day = :previous_day AND r.day >= g.day AND d), 0)
            AS previous_day_costed,
        SUM(r.charged) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d) AS month_cost,
        COALESCE(SUM(r.requests) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d), 0)
            AS month_requests,
        COALESCE(SUM(r.costed) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d), 0) AS month_costed,
        COALESCE(SUM(r.missing) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d), 0) AS month_null,
        COALESCE(SUM(r.credit_requests) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d), 0)
            AS month_negative,
        SUM(r.credit) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d) AS month_credit,
        COALESCE(SUM(r.invalid) FILTER (WHERE r.day >= :month_first AND r.day >= g.day AND d), 0) AS month_invalid,
        SUM(r.charged) FILTER (WHERE r.day >= :week_first AND r.day < :today AND r.day >= g.day AND d) AS week_cost
    FROM (SELECT *, NOT rolling_only AS d FROM source) r CROSS JOIN first_gap g
)
SELECT
    CASE WHEN :with_rolling THEN r.rolling_24h_cost END AS rolling_24h_cost,
    CASE WHEN :with_rolling THEN r.rolling_24h_requests ELSE 0 END AS rolling_24h_requests,
    CASE WHEN :with_rolling THEN r.rolling_24h_costed ELSE 0 END AS rolling_24h_costed_requests,
    COALESCE(h.previous_day_cost, 0) + COALESCE(r.previous_day_cost, 0) AS previous_day_cost,
    COALESCE(h.previous_day_requests, 0) + r.previous_day_requests AS previous_day_requests,
    COALESCE(h.previous_day_costed, 0) + r.previous_day_costed AS previous_day_costed_requests,
    r.today_cost,
    r.today_requests,
    r.today_costed AS today_costed_requests,
    r.today_null AS today_null_cost_rows,
    r.today_invalid AS today_invalid_cost_rows,
    r.today_negative AS today_negative_cost_rows,
    COALESCE(h.month_cost, 0) + COALESCE(r.month_cost, 0) AS month_to_date,
    COALESCE(h.month_requests, 0) + r.month_requests AS month_requests,
    COALESCE(h.month_costed, 0) + r.month_costed AS month_costed_requests,
    COALESCE(h.week_cost, 0) + COALESCE(r.week_cost, 0) AS last_7_days_cost,
    COALESCE(h.month_null, 0) + r.month_null AS month_null_cost_rows,
    COALESCE(h.month_negative, 0) + r.month_negative AS month_negative_cost_rows,
    COALESCE(h.month_credit, 0) + COALESCE(r.month_credit, 0) AS month_credit,
    COALESCE(h.month_invalid, 0) + r.month_invalid AS month_invalid_cost_rows,
    (SELECT COUNT(*) FROM vast_ai_costs WHERE "timestamp" > :now) AS future_rows,
    (SELECT MAX("timestamp") FROM vast_ai_costs WHERE "timestamp" <= :now) AS latest_request,
    (SELECT day FROM first_gap) AS raw_from_day
FROM recent r CROSS JOIN history h
"""

# --- Keeping spend_minutes current (issue 14) -----------------------------------------------------------

# One refresher at a time (a second tick or process reads what the first committed instead of waiting).
SPEND_MINUTES_LOCK_KEY = 0x7A57_0014

TRY_LOCK_SPEND_MINUTES = "SELECT pg_try_advisory_xact_lock(:lock_key)"

SPEND_MINUTES_STATE = """
SELECT covered_from, summed_through, swept_down_to FROM vast_pipelines.spend_minutes_state WHERE id
"""

SAVE_SPEND_MINUTES_STATE = """
INSERT INTO vast_pipelines.spend_minutes_state (id, covered_from, summed_through, swept_down_to)
VALUES (true, :covered_from, :summed_through, :swept_down_to)
ON CONFLICT (id) DO UPDATE
SET covered_from = EXCLUDED.covered_from, summed_through = EXCLUDED.summed_through,
    swept_down_to = EXCLUDED.swept_down_to, refreshed_at = now()
"""

# Minutes before what is kept (yesterday and today) or all of them (a reset).
PRUNE_SPEND_MINUTES = "DELETE FROM vast_pipelines.spend_minutes WHERE minute < :keep_from OR :reset"

DELETE_SPEND_MINUTES = "DELETE FROM vast_pipelines.spend_minutes WHERE minute >= :start AND minute < :end"

# Re-sums the whole minutes of [start, end) from the raw rows (one index range scan), replacing what was there:
# summing a range twice (two refreshers, or a sweep after an advance) never counts a row twice.
SUM_SPEND_MINUTES = f"""
INSERT INTO vast_pipelines.spend_minutes (
    minute, model, requests, charged, costed_requests, credit, credit_requests, invalid_requests, null_requests
)
SELECT
    date_bin('1 minute', "timestamp", {MINUTE_ORIGIN}),
    {MODEL_LABEL},
    COUNT(*),
    SUM(cost) FILTER (WHERE {CHARGED}),
    COUNT(*) FILTER (WHERE {CHARGED} OR {CREDIT}),
    SUM(cost) FILTER (WHERE {CREDIT}),
    COUNT(*) FILTER (WHERE {CREDIT}),
    COUNT(*) FILTER (WHERE {INVALID_COST}),
    COUNT(*) FILTER (WHERE cost IS NULL)
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" < :end
GROUP BY 1, 2
ON CONFLICT (minute, model) DO UPDATE
SET requests = EXCLUDED.requests, charged = EXCLUDED.charged, costed_requests = EXCLUDED.costed_requests,
    credit = EXCLUDED.credit, credit_requests = EXCLUDED.credit_requests,
    invalid_requests = EXCLUDED.invalid_requests, null_requests = EXCLUDED.null_requests
"""

# The sweep's first, cheaper check of [start, end): whether the rows there still number what was summed (one
# COUNT over the "timestamp" index, no grouping). Only when they do not are the minutes compared one by one.
SPEND_MINUTES_UNCHANGED = """
SELECT (SELECT COUNT(*) FROM vast_ai_costs WHERE "timestamp" >= :start AND "timestamp" < :end)
    = (SELECT COALESCE(SUM(requests), 0) FROM vast_pipelines.spend_minutes WHERE minute >= :start AND minute < :end)
"""

# The sweep's check of [start, end): the minutes whose row count differs from what was summed (a row logged late,
# or deleted). Counting reads the "timestamp" index only (no cost, no model), several times cheaper than summing;
# only the minutes found are summed again. A cost changed in place (an UPDATE: agent-router only appends) is not
# seen here; the daily rollup of that day reads it.
CHANGED_SPEND_MINUTES = f"""
WITH counted AS (
    SELECT date_bin('1 minute', "timestamp", {MINUTE_ORIGIN}) AS minute, COUNT(*) AS requests
    FROM vast_ai_costs
    WHERE "timestamp" >= :start AND "timestamp" < :end
    GROUP BY 1
),
summed AS (
    SELECT minute, SUM(requests) AS requests
    FROM vast_pipelines.spend_minutes
    WHERE minute >= :start AND minute < :end
    GROUP BY 1
)
SELECT COALESCE(c.minute, s.minute) AS minute
FROM counted c FULL JOIN summed s ON s.minute = c.minute
WHERE c.requests IS DISTINCT FROM s.requests
ORDER BY 1
"""

# The sweep's next slice below :below: the newest minute at which the rows already summed from there up to
# :below exceed :budget (NULL: everything down to :floor fits). Reads the small table only, newest first.
SWEEP_SLICE_START = """
SELECT minute FROM (
    SELECT minute, SUM(requests) OVER (ORDER BY minute DESC ROWS UNBOUNDED PRECEDING) AS rows_down_to
    FROM (
        SELECT minute, SUM(requests) AS requests
        FROM vast_pipelines.spend_minutes
        WHERE minute >= :floor AND minute < :below
        GROUP BY minute
    ) per_minute
) s
WHERE rows_down_to > :budget
ORDER BY minute DESC
LIMIT 1
"""

# The health check's assets each fill their part of the run's row.
UPSERT_HEALTH_ENDPOINTS = """
INSERT INTO vast_pipelines.health_checks (run_id, started_at, database_label, endpoints, endpoints_text, all_online)
VALUES (:run_id, :at, :database_label, CAST(:data AS jsonb), :text, :all_online)
ON CONFLICT (run_id) DO UPDATE
SET endpoints = EXCLUDED.endpoints, endpoints_text = EXCLUDED.endpoints_text, all_online = EXCLUDED.all_online
"""

UPSERT_HEALTH_SPEND = """
INSERT INTO vast_pipelines.health_checks (run_id, started_at, database_label, spend, spend_text)
VALUES (:run_id, :at, :database_label, CAST(:data AS jsonb), :text)
ON CONFLICT (run_id) DO UPDATE SET spend = EXCLUDED.spend, spend_text = EXCLUDED.spend_text
"""

SET_HEALTH_REPORT = """
UPDATE vast_pipelines.health_checks SET report_markdown = :report WHERE run_id = :run_id
"""

# This run's parts, or the latest of each part from any run when one was not materialized now.
HEALTH_CHECK_PARTS = """
SELECT
    COALESCE(
        (SELECT endpoints_text FROM vast_pipelines.health_checks WHERE run_id = :run_id),
        (SELECT endpoints_text FROM vast_pipelines.health_checks
         WHERE endpoints_text IS NOT NULL ORDER BY started_at DESC LIMIT 1)
    ) AS endpoints_text,
    COALESCE(
        (SELECT spend_text FROM vast_pipelines.health_checks WHERE run_id = :run_id),
        (SELECT spend_text FROM vast_pipelines.health_checks
         WHERE spend_text IS NOT NULL ORDER BY started_at DESC LIMIT 1)
    ) AS spend_text
"""

OUTBOX_INSERT = """
INSERT INTO vast_pipelines.notification_outbox
    (transport, destination, kind, subject, body, attachment_name, attachment, dedupe_key, next_attempt_at)
VALUES (:transport, :destination, :kind, :subject, :body, :attachment_name, :attachment, :dedupe_key,
        now() + make_interval(secs => :lease_seconds))
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""

# A message sent directly while the outbox could not be written, stored once the database is back with what the
# attempt did; if the same message was queued meanwhile (same dedupe key), a delivery is recorded on that row.
OUTBOX_INSERT_ATTEMPTED = """
INSERT INTO vast_pipelines.notification_outbox AS o
    (transport, destination, kind, subject, body, attachment_name, attachment, dedupe_key, status, attempts,
     last_error, last_attempt_at, next_attempt_at, delivered_at, delivery_ref)
VALUES (:transport, :destination, :kind, :subject, :body, :attachment_name, :attachment, :dedupe_key, :status, 1,
        :error, now(), now() + make_interval(secs => :retry_in_seconds),
        CASE WHEN :status = 'delivered' THEN now() END, :ref)
ON CONFLICT (dedupe_key) DO UPDATE
SET status = 'delivered', attempts = o.attempts + 1, last_error = NULL, last_attempt_at = now(), delivered_at = now(),
    delivery_ref = EXCLUDED.delivery_ref
WHERE EXCLUDED.status = 'delivered' AND o.status <> 'delivered'
RETURNING id
"""

OUTBOX_MARK = """
UPDATE vast_pipelines.notification_outbox
SET status = :status,
    attempts = attempts + 1,
    last_error = :error,
    last_attempt_at = now(),
    next_attempt_at = now() + make_interval(secs => :retry_in_seconds),
    delivered_at = CASE WHEN :status = 'delivered' THEN now() END,
    delivery_ref = :ref
WHERE id = :id
"""

OUTBOX_DUE = """
SELECT id, transport, destination, kind, subject, body, attachment_name, attachment, attempts
FROM vast_pipelines.notification_outbox
WHERE status NOT IN ('delivered', 'expired', 'demo') AND next_attempt_at <= now()
ORDER BY id
LIMIT :limit
FOR UPDATE SKIP LOCKED
"""

OUTBOX_BY_ID = """
SELECT id, transport, destination, kind, subject, body, status, attempts, last_error, delivery_ref
FROM vast_pipelines.notification_outbox WHERE id = :id
"""

WORKER_CHANGE_INSERT = """
INSERT INTO vast_pipelines.worker_changes (run_id, job, step, target, before, after, outcome, detail)
VALUES (:run_id, :job, :step, :target, CAST(:before AS jsonb), CAST(:after AS jsonb), :outcome, :detail)
"""

WORKER_CHANGES_OF_RUN = """
SELECT step, target, before, after, outcome, detail
FROM vast_pipelines.worker_changes WHERE run_id = :run_id ORDER BY id
"""

# --- Budget alerts, emergencies and outages (issue 4) ----------------------------------------------

# Claims every level crossed this month in one statement; RETURNING says which this caller won.
CLAIM_ALERT_LEVELS = """
INSERT INTO vast_pipelines.alert_state (month, level, month_to_date, notified)
SELECT :month, level, :month_to_date, level = ANY (CAST(:notify AS text[]))
FROM unnest(CAST(:levels AS text[])) WITH ORDINALITY AS claimed(level, position)
ORDER BY position
ON CONFLICT (month, level) DO NOTHING
RETURNING level
"""

# Leases due messages (pushes their next attempt past the lease) so two sensors never send one twice.
OUTBOX_LEASE = """
UPDATE vast_pipelines.notification_outbox
SET next_attempt_at = now() + make_interval(secs => :lease_seconds)
WHERE id = ANY (CAST(:ids AS bigint[]))
"""

OUTBOX_BACKLOG = """
SELECT
    COUNT(*) AS undelivered,
    COUNT(*) FILTER (WHERE status = 'pending') AS pending,
    COUNT(*) FILTER (WHERE status = 'failed') AS failed,
    COUNT(*) FILTER (WHERE status = 'not_configured') AS not_configured,
    MIN(created_at) AS oldest
FROM vast_pipelines.notification_outbox
WHERE status NOT IN ('delivered', 'expired', 'demo')
"""

# Old news: due, undelivered messages past their kind's maximum age are marked expired (never posted alone).
OUTBOX_EXPIRE = """
UPDATE vast_pipelines.notification_outbox
SET status = 'expired', last_error = 'expired undelivered after ' || ROUND(
        EXTRACT(EPOCH FROM now() - created_at) / 3600.0) || ' h'
WHERE id IN (
    SELECT id FROM vast_pipelines.notification_outbox
    WHERE status NOT IN ('delivered', 'expired', 'demo') AND next_attempt_at <= now() AND kind <> :digest_kind
      AND created_at < now() - make_interval(secs => CASE WHEN kind = ANY (CAST(:report_kinds AS text[]))
                                                         THEN :report_seconds ELSE :alert_seconds END)
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""

# At most one digest waits at a time: an older digest whose delivery failed is superseded by the new one, and
# what it reported is reported again (a digest on its first attempt, still 'pending', is left alone).
OUTBOX_SUPERSEDE_DIGESTS = """
WITH superseded AS (
    UPDATE vast_pipelines.notification_outbox
    SET status = 'expired', last_error = 'superseded by a newer digest'
    WHERE kind = :digest_kind AND status IN ('failed', 'not_configured')
    RETURNING id
)
UPDATE vast_pipelines.notification_outbox SET digested_in = NULL
WHERE digested_in IN (SELECT id FROM superseded)
"""

OUTBOX_UNREPORTED_EXPIRED = """
SELECT id, kind, transport, EXTRACT(EPOCH FROM now() - created_at) AS age_seconds
FROM vast_pipelines.notification_outbox
WHERE status = 'expired' AND kind <> :digest_kind AND digested_in IS NULL
ORDER BY id
FOR UPDATE SKIP LOCKED
"""

OUTBOX_MARK_DIGESTED = """
UPDATE vast_pipelines.notification_outbox SET digested_in = :digest_id WHERE id = ANY (CAST(:ids AS bigint[]))
"""

INSERT_INCIDENT = """
INSERT INTO vast_pipelines.incidents
    (kind, subject, status, mode, run_id, summary, figures, before_state, after_state, failures)
VALUES (:kind, :subject, 'open', :mode, :run_id, :summary, CAST(:figures AS jsonb), CAST(:before AS jsonb),
        CAST(:after AS jsonb), CAST(:failures AS jsonb))
ON CONFLICT (run_id) DO UPDATE
SET summary = EXCLUDED.summary, figures = EXCLUDED.figures, before_state = EXCLUDED.before_state,
    after_state = EXCLUDED.after_state, failures = EXCLUDED.failures
RETURNING id
"""

OPEN_EMERGENCY_INCIDENTS = """
SELECT id, kind, mode, opened_at, summary, figures, before_state, after_state, failures
FROM vast_pipelines.incidents
WHERE status = 'open' AND kind <> 'service_down' AND (CAST(:id AS bigint) IS NULL OR id = :id)
ORDER BY id
"""

CLOSE_INCIDENTS = """
UPDATE vast_pipelines.incidents
SET status = 'resolved', closed_at = now(), restore_run_id = :run_id, restored_state = CAST(:restored AS jsonb)
WHERE id = ANY (CAST(:ids AS bigint[])) AND status = 'open'
RETURNING id
"""

# One probe of an endpoint, then its latest probes (newest first) and its open outage, if any.
INSERT_PROBE = """
INSERT INTO vast_pipelines.endpoint_probes (checked_at, endpoint, online, attempts, failure, detail)
VALUES (:checked_at, :endpoint, :online, :attempts, :failure, :detail)
"""

RECENT_PROBES = """
SELECT online, checked_at FROM vast_pipelines.endpoint_probes WHERE endpoint = :endpoint ORDER BY id DESC LIMIT :limit
"""

OPEN_OUTAGE = """
SELECT id, opened_at FROM vast_pipelines.incidents
WHERE kind = 'service_down' AND subject = :endpoint AND status = 'open'
"""

OPEN_OUTAGE_INSERT = """
INSERT INTO vast_pipelines.incidents (kind, subject, status, summary, figures, before_state)
VALUES ('service_down', :endpoint, 'open', :summary, CAST(:figures AS jsonb), CAST(:context AS jsonb))
ON CONFLICT (subject) WHERE kind = 'service_down' AND status = 'open' DO NOTHING
RETURNING id
"""

CLOSE_OUTAGE = """
UPDATE vast_pipelines.incidents
SET status = 'resolved', closed_at = now(), after_state = CAST(:state AS jsonb)
WHERE kind = 'service_down' AND subject = :endpoint AND status = 'open'
RETURNING id, opened_at, figures
"""

# --- Cost history and the weekly/monthly reviews ---------------------------------------------------

# Requests with no model are kept under this name in the rollup (its key cannot be NULL).
NO_MODEL = "(no model)"

# Serialises concurrent rollups of the same day (a schedule tick and a manual re-run); second key: the day.
COST_HISTORY_LOCK_KEY = 0x7A57_0003

LOCK_COST_HISTORY_DAY = "SELECT pg_advisory_xact_lock(:lock_key, :day_number)"

DELETE_COST_HISTORY_DAY = "DELETE FROM vast_pipelines.daily_cost_history WHERE day = :day"

# The day's totals per model over the local day [window_start, window_end), read with a plain SELECT so that
# PostgreSQL may split the scan across parallel workers (an INSERT ... SELECT never runs in parallel: this took
# twice as long as the SELECT alone); the few rows are then written by INSERT_COST_HISTORY_ROW.
COST_HISTORY_DAY_TOTALS = f"""
SELECT
    model,
    COUNT(*) AS requests,
    SUM(charged) AS cost,
    COUNT(*) FILTER (WHERE cold_start) AS cold_start_requests,
    SUM(charged) FILTER (WHERE cold_start) AS cold_start_cost,
    COUNT(costed) FILTER (WHERE cold_start) AS cold_start_costed_requests,
    SUM(timed) AS duration_sum,
    COUNT(timed) AS duration_count,
    SUM(timed) FILTER (WHERE cold_start) AS cold_duration_sum,
    COUNT(timed) FILTER (WHERE cold_start) AS cold_duration_count,
    COUNT(missing) AS null_cost_requests,
    COUNT(*) - COUNT(timed) AS null_duration_requests,
    COUNT(credit) AS negative_cost_requests,
    COUNT(invalid) AS invalid_cost_requests,
    SUM(credit) AS credit_cost
FROM (
    SELECT
        {MODEL_LABEL} AS model,
        cold_start,
        CASE WHEN {CHARGED} THEN cost END AS charged,
        CASE WHEN {CHARGED} OR {CREDIT} THEN 1 END AS costed,
        CASE WHEN {CREDIT} THEN cost END AS credit,
        CASE WHEN {INVALID_COST} THEN 1 END AS invalid,
        CASE WHEN cost IS NULL THEN 1 END AS missing,
        CASE WHEN {FINITE_DURATION} THEN duration END AS timed
    FROM vast_ai_costs
    WHERE "timestamp" >= :window_start AND "timestamp" < :window_end
) c
GROUP BY model
"""

INSERT_COST_HISTORY_ROW = """
INSERT INTO vast_pipelines.daily_cost_history (
    day, model, requests, cost, cold_start_requests, cold_start_cost, cold_start_costed_requests,
    duration_sum, duration_count, cold_duration_sum, cold_duration_count,
    null_cost_requests, null_duration_requests, negative_cost_requests, invalid_cost_requests, credit_cost
)
VALUES (
    :day, :model, :requests, :cost, :cold_start_requests, :cold_start_cost, :cold_start_costed_requests,
    :duration_sum, :duration_count, :cold_duration_sum, :cold_duration_count,
    :null_cost_requests, :null_duration_requests, :negative_cost_requests, :invalid_cost_requests, :credit_cost
)
"""

UPSERT_COST_HISTORY_DAY = """
INSERT INTO vast_pipelines.daily_cost_history_days (day, timezone, window_start, window_end, requests, run_id)
VALUES (:day, :timezone, :window_start, :window_end, :requests, :run_id)
ON CONFLICT (day) DO UPDATE
SET timezone = EXCLUDED.timezone, window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,
    requests = EXCLUDED.requests, refreshed_at = now(), run_id = EXCLUDED.run_id
"""

COST_HISTORY_ROWS = """
SELECT day, model, requests, cost, cold_start_requests, cold_start_cost, cold_start_costed_requests,
       duration_sum, duration_count, cold_duration_sum, cold_duration_count,
       null_cost_requests, null_duration_requests, negative_cost_requests, invalid_cost_requests, credit_cost
FROM vast_pipelines.daily_cost_history
WHERE day >= :first AND day < :end
ORDER BY day, model
"""

COST_HISTORY_DAYS = """
SELECT day, timezone, requests, refreshed_at
FROM vast_pipelines.daily_cost_history_days
WHERE day >= :first AND day < :end
ORDER BY day
"""

UPSERT_COST_REPORT = """
INSERT INTO vast_pipelines.cost_reports (
    report, period_start, period_end, timezone, run_id, cost, requests, cost_per_request, verdict, figures,
    report_markdown
)
VALUES (
    :report, :period_start, :period_end, :timezone, :run_id, :cost, :requests, :cost_per_request, :verdict,
    CAST(:figures AS jsonb), :report_markdown
)
ON CONFLICT (report, period_start) DO UPDATE
SET period_end = EXCLUDED.period_end, timezone = EXCLUDED.timezone, generated_at = now(),
    run_id = EXCLUDED.run_id, cost = EXCLUDED.cost, requests = EXCLUDED.requests,
    cost_per_request = EXCLUDED.cost_per_request, verdict = EXCLUDED.verdict, figures = EXCLUDED.figures,
    report_markdown = EXCLUDED.report_markdown
"""

DELETE_WEEKLY_COST_REPORT = "DELETE FROM vast_pipelines.weekly_cost_report WHERE week_start = :week_start"

INSERT_WEEKLY_COST_REPORT = """
INSERT INTO vast_pipelines.weekly_cost_report (week_start, day, daily_cost, requests, cost_per_request, rolled_up)
VALUES (:week_start, :day, :daily_cost, :requests, :cost_per_request, :rolled_up)
"""

# The guide's "Top cost drivers today", split warm/cold; models without a cost sort last, not first.
TOP_COST_DRIVERS = f"""
SELECT
    {MODEL_LABEL} AS model,
    COUNT(*) AS requests,
    SUM(cost) FILTER (WHERE {CHARGED}) AS total_cost,
    AVG(duration) FILTER (WHERE {FINITE_DURATION}) AS avg_duration_sec,
    COUNT(*) FILTER (WHERE cold_start) AS cold_start_requests,
    SUM(cost) FILTER (WHERE cold_start AND {CHARGED}) AS cold_start_cost,
    AVG(duration) FILTER (WHERE cold_start IS NOT TRUE AND {FINITE_DURATION}) AS warm_avg_duration_sec,
    AVG(duration) FILTER (WHERE cold_start AND {FINITE_DURATION}) AS cold_avg_duration_sec,
    COUNT(*) FILTER (WHERE cost IS NULL OR {INVALID_COST}) AS null_cost_requests
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" <= :now
GROUP BY 1
ORDER BY total_cost DESC NULLS LAST, requests DESC
"""

# The guide's "Latency percentiles" over the last 24 h, plus the same for warm and for cold requests
# (one sort each: the array form of percentile_cont). Durations that are not numbers are left out.
LATENCY_PERCENTILES = f"""
SELECT
    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration) FILTER (WHERE {FINITE_DURATION}) AS p50_sec,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) FILTER (WHERE {FINITE_DURATION}) AS p95_sec,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY duration) FILTER (WHERE {FINITE_DURATION}) AS p99_sec,
    AVG(CASE WHEN cold_start THEN 1 ELSE 0 END) AS cold_start_rate,
    percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration)
        FILTER (WHERE cold_start IS NOT TRUE AND {FINITE_DURATION}) AS warm,
    percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration)
        FILTER (WHERE cold_start AND {FINITE_DURATION}) AS cold,
    COUNT(*) AS requests,
    COUNT(*) FILTER (WHERE {FINITE_DURATION}) AS timed_requests,
    COUNT(*) FILTER (WHERE cold_start) AS cold_start_requests
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" <= :now
"""

# The demo replaces its synthetic traffic: the history and reports of the old traffic go with it.
RESET_DEMO_COST_HISTORY = """
TRUNCATE vast_pipelines.daily_cost_history, vast_pipelines.daily_cost_history_days,
    vast_pipelines.weekly_cost_report, vast_pipelines.cost_reports
"""

COST_REPORT_TEXT = """
SELECT report_markdown FROM vast_pipelines.cost_reports WHERE report = :report AND period_start = :period_start
"""

# The operations guide's queries exactly as it writes them (the benchmark and the tests compare our figures
# with what these return on the same data).
GUIDE_QUERIES: dict[str, str] = {
    "yesterdays_spend": (
        "SELECT '$' || ROUND(COALESCE(SUM(cost), 0)::numeric, 2) FROM vast_ai_costs "
        "WHERE timestamp >= NOW() - INTERVAL '1 day'"
    ),
    "current_month": (
        "SELECT DATE_TRUNC('day', timestamp)::date as day, ROUND(SUM(cost)::numeric, 2) as daily_cost, "
        "COUNT(*) as requests FROM vast_ai_costs WHERE timestamp >= DATE_TRUNC('month', NOW()) "
        "GROUP BY day ORDER BY day DESC"
    ),
    "top_cost_drivers": (
        "SELECT model, COUNT(*) as requests, ROUND(SUM(cost)::numeric, 2) as total_cost, "
        "ROUND(AVG(duration)::numeric, 2) as avg_duration_sec FROM vast_ai_costs "
        "WHERE timestamp >= CURRENT_DATE GROUP BY model ORDER BY total_cost DESC"
    ),
    "latency_percentiles": (
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration) as p50_sec, "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) as p95_sec, "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY duration) as p99_sec, "
        "ROUND(AVG(CASE WHEN cold_start THEN 1 ELSE 0 END)::numeric, 2) as cold_start_rate "
        "FROM vast_ai_costs WHERE timestamp >= NOW() - INTERVAL '24 hours'"
    ),
    "weekly_review": (
        "SELECT DATE_TRUNC('day', timestamp)::date as day, ROUND(SUM(cost)::numeric, 2) as daily_cost, "
        "COUNT(*) as requests, ROUND((SUM(cost) / COUNT(*))::numeric, 5) as cost_per_request "
        "FROM vast_ai_costs WHERE timestamp >= NOW() - INTERVAL '7 days' GROUP BY day ORDER BY day DESC"
    ),
    "monthly_review": (
        "SELECT ROUND(SUM(cost)::numeric, 2) as monthly_cost, COUNT(*) as total_requests, "
        "ROUND((SUM(cost) / COUNT(*))::numeric, 5) as avg_cost_per_request FROM vast_ai_costs "
        "WHERE timestamp >= DATE_TRUNC('month', NOW())"
    ),
    "runaway_check": "SELECT ROUND(SUM(cost)::numeric, 2) FROM vast_ai_costs WHERE timestamp >= CURRENT_DATE",
}


def guide_query_between(name: str) -> str:
    """The guide's query with its rolling window pinned to ``[:start, :end)``: same SELECT, same GROUP BY."""
    head, _, tail = GUIDE_QUERIES[name].partition(" WHERE ")
    _, grouped, rest = tail.partition(" GROUP BY ")
    return f"{head} WHERE timestamp >= :start AND timestamp < :end" + (f" GROUP BY {rest}" if grouped else "")


def guide_query_at(name: str) -> str:
    """The guide's query as written, with ``NOW()`` and ``CURRENT_DATE`` bound to ``:now`` and ``:today``."""
    return (
        GUIDE_QUERIES[name]
        .replace("NOW()", "CAST(:now AS timestamptz)")
        .replace("CURRENT_DATE", "CAST(:today AS date)")
    )


# --- Insights beyond the runbook (issue 7) ---------------------------------------------------------

# The newest request up to now: a backward index scan, however old it is.
LATEST_REQUEST = 'SELECT MAX("timestamp") FROM vast_ai_costs WHERE "timestamp" <= :now'

# Requests in each window [start, end): one index range count per window.
WINDOW_REQUEST_COUNTS = """
SELECT w.position, (
    SELECT COUNT(*) FROM vast_ai_costs c WHERE c."timestamp" >= w.start_at AND c."timestamp" < w.end_at
) AS requests
FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) WITH ORDINALITY
    AS w(start_at, end_at, position)
ORDER BY w.position
"""

# Spend and requests per model in each window [start, end): one index range scan per window.
WINDOW_MODEL_SPEND = f"""
SELECT w.position, {MODEL_LABEL} AS model,
    SUM(c.cost) FILTER (WHERE {CHARGED}) AS cost, COUNT(*) AS requests
FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) WITH ORDINALITY
    AS w(start_at, end_at, position)
JOIN vast_ai_costs c ON c."timestamp" >= w.start_at AND c."timestamp" < w.end_at
GROUP BY 1, 2
"""

# Every request of [start, end) per model in time order, for the idle-timeout replay (streamed).
REQUEST_TRACE = f"""
SELECT
    {MODEL_LABEL} AS model,
    EXTRACT(EPOCH FROM "timestamp") AS start_seconds,
    CASE WHEN {FINITE_DURATION} THEN GREATEST(duration, 0) ELSE 0 END AS duration,
    cold_start,
    CASE WHEN {CHARGED} THEN cost END AS cost
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" < :end
ORDER BY 1, "timestamp"
"""

# Logged cost per UTC day (Vast.ai bills by UTC day) over [start, end).
LOGGED_BY_UTC_DAY = f"""
SELECT
    CAST(("timestamp" AT TIME ZONE 'UTC') AS date) AS day,
    SUM(cost) FILTER (WHERE {CHARGED}) AS logged,
    COUNT(*) AS requests,
    COUNT(*) FILTER (WHERE cost IS NULL OR {INVALID_COST}) AS null_cost_requests
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" < :end
GROUP BY 1
ORDER BY 1
"""

# One day's spend per minute, for the backtest's candidate days.
MINUTE_SPEND = f"""
SELECT date_trunc('minute', "timestamp") AS at, SUM(cost) AS cost
FROM vast_ai_costs
WHERE "timestamp" >= :start AND "timestamp" < :end AND {CHARGED}
GROUP BY 1
ORDER BY 1
"""

OPEN_EPISODE = """
INSERT INTO vast_pipelines.alert_episodes (kind, subject, summary, figures)
VALUES (:kind, :subject, :summary, CAST(:figures AS jsonb))
ON CONFLICT (kind, subject) WHERE closed_at IS NULL DO NOTHING
RETURNING id
"""

# Closes the open episodes of a kind whose subject is no longer flagged.
CLOSE_EPISODES = """
UPDATE vast_pipelines.alert_episodes
SET closed_at = now()
WHERE kind = :kind AND closed_at IS NULL AND NOT (subject = ANY (CAST(:still_open AS text[])))
RETURNING id, subject, opened_at
"""

EPISODES_BETWEEN = """
SELECT id, kind, subject, opened_at, closed_at, summary
FROM vast_pipelines.alert_episodes
WHERE opened_at < :end AND (closed_at IS NULL OR closed_at >= :start)
ORDER BY opened_at
"""

UPSERT_RECONCILIATION = """
INSERT INTO vast_pipelines.billing_reconciliation
    (day, logged, requests, null_cost_requests, billed, difference, share, diverged, run_id)
VALUES (:day, :logged, :requests, :null_cost_requests, :billed, :difference, :share, :diverged, :run_id)
ON CONFLICT (day) DO UPDATE
SET logged = EXCLUDED.logged, requests = EXCLUDED.requests, null_cost_requests = EXCLUDED.null_cost_requests,
    billed = EXCLUDED.billed, difference = EXCLUDED.difference, share = EXCLUDED.share,
    diverged = EXCLUDED.diverged, checked_at = now(), run_id = EXCLUDED.run_id
"""

RECONCILIATION_BETWEEN = """
SELECT day, logged, requests, null_cost_requests, billed, difference, share, diverged
FROM vast_pipelines.billing_reconciliation
WHERE day >= :first AND day < :end
ORDER BY day
"""

DELETE_WHAT_IF = "DELETE FROM vast_pipelines.idle_timeout_what_if"

INSERT_WHAT_IF = """
INSERT INTO vast_pipelines.idle_timeout_what_if (
    model, idle_timeout, min_workers, judged_requests, cold_starts, cold_start_rate, warm_gpu_hours, cost_usd,
    recommended, window_start, window_end, run_id
)
VALUES (
    :model, :idle_timeout, :min_workers, :judged_requests, :cold_starts, :cold_start_rate, :warm_gpu_hours,
    :cost_usd, :recommended, :window_start, :window_end, :run_id
)
"""

WHAT_IF_RECOMMENDED = """
SELECT model, idle_timeout, min_workers, cold_start_rate, warm_gpu_hours, cost_usd, window_start, window_end
FROM vast_pipelines.idle_timeout_what_if
WHERE recommended
ORDER BY model
"""

INSERT_BACKTEST = """
INSERT INTO vast_pipelines.alert_backtests (run_id, first_day, end_day, thresholds, firings, report_markdown)
VALUES (:run_id, :first_day, :end_day, CAST(:thresholds AS jsonb), CAST(:firings AS jsonb), :report)
ON CONFLICT (run_id) DO UPDATE
SET ran_at = now(), firings = EXCLUDED.firings, report_markdown = EXCLUDED.report_markdown
"""

ROUTER_CONFIRM = """
INSERT INTO vast_pipelines.router_confirmations (run_id, use_vastai) VALUES (:run_id, :use_vastai)
"""

ROUTER_LAST_CONFIRMED = """
SELECT run_id, use_vastai, at FROM vast_pipelines.router_confirmations ORDER BY id DESC LIMIT 1
"""

# The delivery job takes the messages a sensor tick queued (leased to that tick) for their first attempt; a
# message already tried (by the outbox sensor after the lease ran out, or an earlier try of this job) is not.
OUTBOX_CLAIM_QUEUED = """
UPDATE vast_pipelines.notification_outbox
SET next_attempt_at = now() + make_interval(secs => :lease_seconds)
WHERE id IN (
    SELECT id FROM vast_pipelines.notification_outbox
    WHERE id = ANY (CAST(:ids AS bigint[])) AND status = 'pending' AND attempts = 0
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
RETURNING id, transport, destination, kind, subject, body, attachment_name, attachment, attempts
"""

# What the outbox sensor reads each tick: how many messages a delivery run would try now.
OUTBOX_DUE_COUNT = """
SELECT COUNT(*) FROM vast_pipelines.notification_outbox
WHERE status NOT IN ('delivered', 'expired', 'demo') AND next_attempt_at <= now()
"""
