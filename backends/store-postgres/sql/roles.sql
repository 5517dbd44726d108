-- DiskTracker on PostgreSQL: the roles a fleet needs, with least privilege.
--
-- Run as a superuser (or a role with CREATEROLE that owns the database),
-- connected to the DiskTracker database:
--     psql -d disktracker -f roles.sql
-- It is idempotent, and may run before or after the tables exist: the
-- schema migrations grant these roles their privileges on every table they
-- create, and the block at the end grants them on tables already there.
--
-- 1. The owner runs the migrations: the first `disktracker scan` against an
--    empty database (and the first open after an upgrade) creates the
--    tables as this role. Create it and the database, e.g.:
--        CREATE ROLE disktracker_owner LOGIN PASSWORD '…';
--        CREATE DATABASE disktracker OWNER disktracker_owner;
--    (PostgreSQL 15 and later let only the database owner create tables in
--    its public schema.)
--
-- 2. Hosts log in as their own roles, members of disktracker_host:
--        CREATE ROLE host_web1 LOGIN PASSWORD '…' IN ROLE disktracker_host;
--    They need no DDL privilege: once the schema is current, opening the
--    store only reads disktracker_schema.
--
-- 3. People and dashboards that only read log in as members of
--    disktracker_reader.

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'disktracker_host') THEN
        CREATE ROLE disktracker_host NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'disktracker_reader') THEN
        CREATE ROLE disktracker_reader NOLOGIN;
    END IF;
END
$roles$;

GRANT USAGE ON SCHEMA public TO disktracker_host, disktracker_reader;

-- Grants on the tables, when they exist (the migrations repeat these).
-- disktracker_host: SELECT and INSERT everywhere; DELETE for retention
-- (snapshots and their rows) and for pruning the live tables; UPDATE only
-- where rows are replaced in place (the watch state, the index provenance,
-- the last mutation id per host); the sequences for new ids. No CREATE,
-- ALTER, TRUNCATE or ownership.
DO $grants$
BEGIN
    IF to_regclass('disktracker_schema') IS NULL THEN
        RAISE NOTICE 'no DiskTracker tables yet: the first migration will grant them';
        RETURN;
    END IF;
    GRANT SELECT ON disktracker_schema TO disktracker_host;
    GRANT SELECT, INSERT, DELETE ON snapshots, dir_blocks, diff_cache_sets, diff_cache,
        dir_deltas, mutation_log, mutation_heads, fs_events, watch_state, index_provenance,
        index_provenance_roots TO disktracker_host;
    GRANT UPDATE ON watch_state, index_provenance, mutation_heads TO disktracker_host;
    GRANT USAGE, SELECT ON SEQUENCE snapshots_id_seq, dir_deltas_id_seq, mutation_log_id_seq,
        fs_events_id_seq TO disktracker_host;
    GRANT SELECT ON disktracker_schema, snapshots, dir_blocks, diff_cache_sets, diff_cache,
        dir_deltas, mutation_log, mutation_heads, fs_events, watch_state, index_provenance,
        index_provenance_roots TO disktracker_reader;
END
$grants$;

-- Not enabled: row-level security confining each host to its own
-- snapshots. Retention runs per host and root in DiskTracker, so a host
-- deletes only its own; a compromised host's credentials could still
-- delete others'. Where that matters, name each host's role after its
-- host name and enable a policy like this one (and the same for the live
-- tables' `host` column). Reads stay open to every host (fleet reports).
--
--   ALTER TABLE snapshots ENABLE ROW LEVEL SECURITY;
--   CREATE POLICY host_reads ON snapshots FOR SELECT TO disktracker_host USING (true);
--   CREATE POLICY host_writes ON snapshots FOR INSERT TO disktracker_host
--       WITH CHECK (host = current_user);
--   CREATE POLICY host_deletes ON snapshots FOR DELETE TO disktracker_host
--       USING (host = current_user);
