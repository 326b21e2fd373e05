"""The SQL of PostgresStore: its schema, its statements, and the SQL read path.

All tables live in one PostgreSQL schema (``seamless`` by default), created
on first use in one transaction under an advisory lock, so many hosts may
start at once. ``meta`` holds the format version.

* ``series``: one row per ``(node_id, interval_s)`` with the interval's name;
  a write locks its series' row, which serialises writers of one series
  (their coverage read-modify-write) and nothing else;
* ``chunks``: one row per ``(node_id, interval_s, chunk_start)`` (epoch
  seconds of the chunk window, as in LocalStore); ``data`` holds the chunk's
  bars as raw little-endian column arrays (``_rawchunk``), stored
  uncompressed out of line (``STORAGE EXTERNAL``: reads skip decompression);
* ``coverage``: the normalised RangeSet of each series, one row per disjoint
  ``[range_start, range_end)``.

For SQL users, ``bars`` is a view with one row per bar (``ts timestamptz``,
``open`` ... ``flags``) and ``read_bars(node_id, interval, start, end)`` the
fast way to ask it for one range (it prunes chunks first); both unpack the
chunk bytes with the small functions below, exactly (every float64 bit
pattern the store can hold comes back identical).

Every value is a bound parameter; only the schema name (checked against
``SCHEMA_RE``) is put into the text, quoted as an identifier.
"""

from __future__ import annotations

import re

FORMAT_VERSION = 1
SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# A chunk window is at most a year (daily bars): 366 days back from a read's
# start is enough to find the chunk holding it.
_MAX_CHUNK_S = 366 * 86_400


# Unpacking chunks in SQL. get_byte and shifts (parenthesised: PostgreSQL gives
# | and << the same precedence), since PostgreSQL has no cast from bytea to a
# number. A float64 is rebuilt from its bits as sign * significand * 2^exponent,
# each step exact (the significand has 53 bits, powers of two are exact), so
# the SQL read returns the very values the SDK reads. The scalar functions are
# single expressions, which PostgreSQL inlines; chunk_rows copies the chunk out
# of TOAST once (OFFSET 0 keeps the copy from being inlined into every use: a
# toasted bytea would be fetched again by every get_byte) and walks its rows.
def _float(bits: str) -> str:
    """SQL for the float64 whose IEEE 754 bits are the bigint ``bits`` (a column:
    it appears five times, so it must be cheap to repeat)."""
    e, f = f"(({bits} >> 52) & 2047)", f"({bits} & 4503599627370495)"
    return (
        f"(CASE WHEN {e} = 0 THEN {f}::double precision * power(2::double precision, -1074)"
        f" ELSE ({f} + 4503599627370496)::double precision"
        f" * power(2::double precision, {e} - 1075) END"
        f" * CASE WHEN {bits} < 0 THEN -1::double precision ELSE 1::double precision END)"
    )


_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION {s}.le_int8(b bytea, o integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT get_byte(b, o)::bigint | (get_byte(b, o + 1)::bigint << 8)
         | (get_byte(b, o + 2)::bigint << 16) | (get_byte(b, o + 3)::bigint << 24)
         | (get_byte(b, o + 4)::bigint << 32) | (get_byte(b, o + 5)::bigint << 40)
         | (get_byte(b, o + 6)::bigint << 48) | (get_byte(b, o + 7)::bigint << 56) $$""",
    """CREATE OR REPLACE FUNCTION {s}.le_int4(b bytea, o integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT get_byte(b, o) | (get_byte(b, o + 1) << 8) | (get_byte(b, o + 2) << 16)
         | (get_byte(b, o + 3) << 24) $$""",
    """CREATE OR REPLACE FUNCTION {s}.float8_from_bits(bits bigint) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN (bits >> 52) & 2047 = 0
                THEN (bits & 4503599627370495)::double precision
                     * power(2::double precision, -1074)
                ELSE ((bits & 4503599627370495) + 4503599627370496)::double precision
                     * power(2::double precision, ((bits >> 52) & 2047) - 1075) END
         * CASE WHEN bits < 0 THEN -1::double precision ELSE 1::double precision END $$""",
    f"""CREATE OR REPLACE FUNCTION {{s}}.chunk_rows(data bytea, nrows integer)
    RETURNS TABLE (ts_ns bigint, open double precision, high double precision,
                   low double precision, close double precision, volume double precision,
                   flags integer)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT w.ts_ns, {_float("w.b1")}, {_float("w.b2")}, {_float("w.b3")},
           {_float("w.b4")}, {_float("w.b5")}, w.flags
    FROM (SELECT data || ''::bytea AS d, nrows AS n OFFSET 0) AS c,
         generate_series(0, c.n - 1) AS i,
         LATERAL (SELECT {{s}}.le_int8(c.d, 8 * i) AS ts_ns,
                         {{s}}.le_int8(c.d, 8 * (c.n + i)) AS b1,
                         {{s}}.le_int8(c.d, 8 * (2 * c.n + i)) AS b2,
                         {{s}}.le_int8(c.d, 8 * (3 * c.n + i)) AS b3,
                         {{s}}.le_int8(c.d, 8 * (4 * c.n + i)) AS b4,
                         {{s}}.le_int8(c.d, 8 * (5 * c.n + i)) AS b5,
                         {{s}}.le_int4(c.d, 48 * c.n + 4 * i) AS flags
                  OFFSET 0) AS w $$""",
)

SCHEMA_DDL = (
    "CREATE SCHEMA IF NOT EXISTS {s}",
    "CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL)",
    """CREATE TABLE {s}.series (
        node_id text NOT NULL,
        interval_s integer NOT NULL,
        interval text NOT NULL,
        PRIMARY KEY (node_id, interval_s)
    )""",
    """CREATE TABLE {s}.chunks (
        node_id text NOT NULL,
        interval_s integer NOT NULL,
        chunk_start bigint NOT NULL,
        nrows integer NOT NULL CHECK (nrows > 0),
        data bytea NOT NULL CHECK (length(data) = 52 * nrows),
        PRIMARY KEY (node_id, interval_s, chunk_start),
        FOREIGN KEY (node_id, interval_s) REFERENCES {s}.series
    )""",
    "ALTER TABLE {s}.chunks ALTER COLUMN data SET STORAGE EXTERNAL",
    """CREATE TABLE {s}.coverage (
        node_id text NOT NULL,
        interval_s integer NOT NULL,
        range_start bigint NOT NULL,
        range_end bigint NOT NULL CHECK (range_end > range_start),
        PRIMARY KEY (node_id, interval_s, range_start),
        FOREIGN KEY (node_id, interval_s) REFERENCES {s}.series
    )""",
    *_FUNCTIONS,
    """CREATE VIEW {s}.bars AS
    SELECT c.node_id, s.interval, c.interval_s, c.chunk_start,
           to_timestamp(r.ts_ns / 1000000000) AS ts,
           r.open, r.high, r.low, r.close, r.volume, r.flags
    FROM {s}.chunks AS c
    JOIN {s}.series AS s USING (node_id, interval_s)
    CROSS JOIN LATERAL {s}.chunk_rows(c.data, c.nrows) AS r""",
    f"""CREATE FUNCTION {{s}}.read_bars(
        p_node_id text, p_interval text, p_start timestamptz, p_end timestamptz)
    RETURNS TABLE (ts timestamptz, open double precision, high double precision,
                   low double precision, close double precision, volume double precision,
                   flags integer)
    LANGUAGE sql STABLE AS $$
    SELECT b.ts, b.open, b.high, b.low, b.close, b.volume, b.flags FROM {{s}}.bars AS b
    WHERE b.node_id = p_node_id AND b.interval = p_interval
      AND b.chunk_start > extract(epoch FROM p_start)::bigint - {_MAX_CHUNK_S}
      AND b.chunk_start < extract(epoch FROM p_end)::bigint
      AND b.ts >= p_start AND b.ts < p_end
    ORDER BY b.ts $$""",
    "INSERT INTO {s}.meta (key, value) VALUES ('format_version', %(version)s)",
)

SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(%(key)s)"
SCHEMA_EXISTS = "SELECT count(*) FROM pg_namespace WHERE nspname = %(schema)s"
# What a schema holds that a store would clash with or be mistaken for:
# relations, functions, and types of their own (not the row and array types
# PostgreSQL makes for every table and type).
SCHEMA_OBJECTS = """SELECT
    (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid)
    + (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = n.oid)
    + (SELECT count(*) FROM pg_type t
       WHERE t.typnamespace = n.oid AND t.typrelid = 0 AND t.typelem = 0)
    FROM pg_namespace n WHERE n.nspname = %(schema)s"""
META_EXISTS = "SELECT to_regclass(%(meta)s) IS NOT NULL"
META_COLUMNS = """SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
    WHERE a.attrelid = to_regclass(%(meta)s) AND a.attnum > 0 AND NOT a.attisdropped"""
STORE_TABLES = ("meta", "series", "chunks", "coverage")
"""The tables of a store (``SCHEMA_DDL``): a schema whose ``meta`` says it
holds a store but that lacks one of them is damaged."""
TABLES_PRESENT = """SELECT c.relname::text FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relkind = 'r' AND c.relname = ANY(%(names)s)"""
VERSION = "SELECT value FROM {s}.meta WHERE key = 'format_version'"

READ = """SELECT chunk_start, nrows, data FROM {s}.chunks
    WHERE node_id = %s AND interval_s = %s AND chunk_start >= %s AND chunk_start < %s
    ORDER BY chunk_start"""
# Batch reads (``read_many``): every node in one statement, its ids one array
# parameter; the primary key serves ``node_id = ANY(...)`` as it serves ``=``.
READ_MANY = """SELECT node_id, chunk_start, nrows, data FROM {s}.chunks
    WHERE node_id = ANY(%s) AND interval_s = %s AND chunk_start >= %s AND chunk_start < %s
    ORDER BY node_id, chunk_start"""
COVERAGE_MANY = """SELECT node_id, range_start, range_end FROM {s}.coverage
    WHERE node_id = ANY(%s) AND interval_s = %s AND range_start < %s AND range_end > %s
    ORDER BY node_id, range_start"""
# Coverage and chunks of several series in one statement, so from one snapshot
# (``read_covered_many``): kind 0 rows are chunks (chunk_start, nrows, data),
# kind 1 rows coverage (range_start, range_end, NULL).
READ_COVERED_MANY = """SELECT node_id, 0 AS kind, chunk_start AS a, nrows::bigint AS b, data
    FROM {s}.chunks
    WHERE node_id = ANY(%s) AND interval_s = %s AND chunk_start >= %s AND chunk_start < %s
    UNION ALL
    SELECT node_id, 1, range_start, range_end, NULL FROM {s}.coverage
    WHERE node_id = ANY(%s) AND interval_s = %s AND range_start < %s AND range_end > %s
    ORDER BY 1, 2, 3"""
CHUNK = """SELECT nrows, data FROM {s}.chunks
    WHERE node_id = %s AND interval_s = %s AND chunk_start = %s"""
CHUNK_STARTS = """SELECT chunk_start FROM {s}.chunks
    WHERE node_id = %s AND interval_s = %s AND chunk_start >= %s AND chunk_start < %s"""
COVERAGE = """SELECT range_start, range_end FROM {s}.coverage
    WHERE node_id = %s AND interval_s = %s ORDER BY range_start"""
SERIES = """SELECT s.node_id, s.interval FROM {s}.series AS s
    WHERE EXISTS (SELECT 1 FROM {s}.coverage AS c
                  WHERE c.node_id = s.node_id AND c.interval_s = s.interval_s)
    ORDER BY s.node_id, s.interval_s"""
# The upsert takes the row lock of the series (a no-op update still locks), so
# writers of one series queue here and each one's read-modify-write is alone.
LOCK_SERIES = """INSERT INTO {s}.series (node_id, interval_s, interval) VALUES (%s, %s, %s)
    ON CONFLICT (node_id, interval_s) DO UPDATE SET interval = EXCLUDED.interval"""
LOCK_SERIES_IF_EXISTS = """SELECT 1 FROM {s}.series WHERE node_id = %s AND interval_s = %s
    FOR UPDATE"""
UPSERT_CHUNK = """INSERT INTO {s}.chunks (node_id, interval_s, chunk_start, nrows, data)
    VALUES (%s, %s, %s, %s, %b)
    ON CONFLICT (node_id, interval_s, chunk_start)
    DO UPDATE SET nrows = EXCLUDED.nrows, data = EXCLUDED.data"""
DELETE_CHUNK = "DELETE FROM {s}.chunks WHERE node_id = %s AND interval_s = %s AND chunk_start = %s"
DELETE_RANGE = """DELETE FROM {s}.coverage
    WHERE node_id = %s AND interval_s = %s AND range_start = %s"""
INSERT_RANGE = """INSERT INTO {s}.coverage (node_id, interval_s, range_start, range_end)
    VALUES (%s, %s, %s, %s)"""
LOCK = "SELECT pg_advisory_lock(%s)"
TRY_LOCK = "SELECT pg_try_advisory_lock(%s)"
UNLOCK = "SELECT pg_advisory_unlock(%s)"
SET_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', %s, false)"


def render(statement: str, schema: str) -> bytes:
    """``statement`` with ``{s}`` replaced by the quoted schema name, as bytes
    (psycopg takes them as they are; rendered once per store)."""
    if not SCHEMA_RE.fullmatch(schema):
        raise ValueError(f"schema name {schema!r} does not match {SCHEMA_RE.pattern}")
    return statement.replace("{s}", f'"{schema}"').encode()


class Statements:
    """Every statement of one store, rendered once for its schema."""

    __slots__ = (
        "chunk",
        "chunk_starts",
        "coverage",
        "coverage_many",
        "ddl",
        "delete_chunk",
        "delete_range",
        "insert_range",
        "lock_series",
        "lock_series_if_exists",
        "read",
        "read_covered_many",
        "read_many",
        "series",
        "upsert_chunk",
        "version",
    )

    def __init__(self, schema: str) -> None:
        self.ddl = tuple(render(ddl, schema) for ddl in SCHEMA_DDL)
        self.version = render(VERSION, schema)
        self.read = render(READ, schema)
        self.read_many = render(READ_MANY, schema)
        self.read_covered_many = render(READ_COVERED_MANY, schema)
        self.coverage_many = render(COVERAGE_MANY, schema)
        self.chunk = render(CHUNK, schema)
        self.chunk_starts = render(CHUNK_STARTS, schema)
        self.coverage = render(COVERAGE, schema)
        self.series = render(SERIES, schema)
        self.lock_series = render(LOCK_SERIES, schema)
        self.lock_series_if_exists = render(LOCK_SERIES_IF_EXISTS, schema)
        self.upsert_chunk = render(UPSERT_CHUNK, schema)
        self.delete_chunk = render(DELETE_CHUNK, schema)
        self.delete_range = render(DELETE_RANGE, schema)
        self.insert_range = render(INSERT_RANGE, schema)
