-- Distribution by site with Citus (issue 19, docs/scaling.md), ONLY where the citus extension
-- is installed in this database (CREATE EXTENSION citus by the operator, before the portal
-- migrates); everywhere else this migration does nothing. Raw readings and the rollups are
-- distributed by site_id (co-located: one site's rows live on one worker); every other table
-- becomes a reference table (a copy on each worker), so the joins of readings and rollups
-- with channels, sites and retention policies stay local to a worker.
-- Not exercised by the test suite (no Citus here); written after Citus' documented calls
-- create_distributed_table(table, column, colocate_with) and create_reference_table(table).
DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE NOTICE 'citus is not installed: tables stay local (docs/scaling.md)';
        RETURN;
    END IF;
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND c.relname NOT IN ('readings', 'rollup_5m', 'rollup_1h', 'rollup_1d', 'schema_migrations')
        ORDER BY c.relname
    LOOP
        PERFORM create_reference_table(t);
    END LOOP;
    PERFORM create_distributed_table('readings', 'site_id');
    PERFORM create_distributed_table('rollup_5m', 'site_id', colocate_with => 'readings');
    PERFORM create_distributed_table('rollup_1h', 'site_id', colocate_with => 'readings');
    PERFORM create_distributed_table('rollup_1d', 'site_id', colocate_with => 'readings');
END $$;
