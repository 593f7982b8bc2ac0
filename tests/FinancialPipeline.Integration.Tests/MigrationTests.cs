using FinancialPipeline.ControlDb;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace FinancialPipeline.Integration.Tests;

/// <summary>The control DB migrations as function instances apply them: many at once, on a database of their own.</summary>
[Collection(nameof(StackFixture))]
public sealed class MigrationTests(StackFixture stack)
{
    [Fact]
    public async Task EightInstancesMigratingAFreshDatabaseAtOnce_ApplyEachScriptOnce_AndLeaveOneSchema()
    {
        var database = "fp_migrate_" + Guid.NewGuid().ToString("N")[..12];
        await ExecuteAsync(stack.DataSource, $"CREATE DATABASE \"{database}\"");
        try
        {
            var connection = new NpgsqlConnectionStringBuilder(stack.Infrastructure.PostgresConnection) { Database = database }.ConnectionString;
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var instances = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                await go.Task;
                await new ControlDbMigrator(connection, NullLogger<ControlDbMigrator>.Instance).MigrateAsync();
            })).ToList();
            go.SetResult();
            await Task.WhenAll(instances);

            await using var db = ControlDbDataSource.Create(connection);
            var journal = await QueryAsync(db, "SELECT scriptname || ' ' || count(*) FROM schemaversions GROUP BY scriptname ORDER BY scriptname");
            Assert.Equal(ControlDbMigrator.ScriptNames.Select(n => n + " 1"), journal);

            // Every index is there once: two with one definition would double the cost of each ledger write.
            var duplicated = await QueryAsync(db, """
                SELECT string_agg(indexname, ', ' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'
                GROUP BY tablename, regexp_replace(indexdef, '^CREATE (UNIQUE )?INDEX \S+ ON ', '') HAVING count(*) > 1
                """);
            Assert.Empty(duplicated);
            Assert.Contains("ix_ingestion_job_execution_job_stage_end", await QueryAsync(db, "SELECT indexname FROM pg_indexes WHERE tablename = 'ingestion_job_execution'"));

            // A later start finds the database up to date and changes nothing.
            await new ControlDbMigrator(connection, NullLogger<ControlDbMigrator>.Instance, db).MigrateAsync();
            Assert.Equal(journal, await QueryAsync(db, "SELECT scriptname || ' ' || count(*) FROM schemaversions GROUP BY scriptname ORDER BY scriptname"));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync(stack.DataSource, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
        }
    }

    /// <summary>
    /// 0012 on a database in use: its SUCCESS rows (and kept successes) predate the record of publishes and are taken
    /// as published, so none of them alerts; other rows stay without one.
    /// </summary>
    [Fact]
    public async Task CompletionPublished_AppliedToALedgerInUse_TakesItsSuccessesAsPublished()
    {
        await using var scratch = await stack.CreateDatabaseAsync("fp_migrate_");
        var migrator = new ControlDbMigrator(scratch.ConnectionString, NullLogger<ControlDbMigrator>.Instance);
        await migrator.MigrateAsync();
        await using var db = ControlDbDataSource.Create(scratch.ConnectionString);
        // The database as 0011 left it: without the columns, holding rows.
        await ExecuteAsync(db, """
            DELETE FROM schemaversions WHERE scriptname = 'migrations.0012_completion_published.sql';
            ALTER TABLE ingestion_job_execution DROP COLUMN completion_published_at;
            ALTER TABLE ingestion_job_attempt DROP COLUMN completion_published_at;
            INSERT INTO ingestion_job_execution (execution_id, stage, job_name, status, owner_token, heartbeat_at, started_at, finished_at, completion, updated_at)
            VALUES ('00000000-0000-0000-0000-000000000001', 'bronze', 'j', 'SUCCESS', gen_random_uuid(), '2026-11-20T10:00:00Z', '2026-11-20T10:00:00Z', '2026-11-20T10:01:00Z', '{}', '2026-11-20T10:05:00Z'),
                   ('00000000-0000-0000-0000-000000000001', 'silver', 'j', 'FAILED', gen_random_uuid(), '2026-11-20T10:02:00Z', '2026-11-20T10:02:00Z', '2026-11-20T10:03:00Z', NULL, '2026-11-20T10:03:00Z');
            INSERT INTO ingestion_job_attempt (execution_id, stage, attempt, status, claim_reason, started_at, heartbeat_at, finished_at, replaced_by, replaced_at)
            VALUES ('00000000-0000-0000-0000-000000000001', 'silver', 1, 'SUCCESS', 'new', '2026-11-20T09:00:00Z', '2026-11-20T09:01:00Z', '2026-11-20T09:01:00Z', 'replay', '2026-11-20T10:00:00Z');
            """);

        await migrator.MigrateAsync();

        Assert.Equal(
            ["bronze SUCCESS 2026-11-20 10:01:00", "silver FAILED -"],
            await QueryAsync(db, "SELECT stage || ' ' || status || ' ' || COALESCE(to_char(completion_published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '-') FROM ingestion_job_execution ORDER BY stage"));
        Assert.Equal(["2026-11-20 09:01:00"], await QueryAsync(db, "SELECT to_char(completion_published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM ingestion_job_attempt"));
        Assert.Equal(ControlDbMigrator.ScriptNames, await QueryAsync(db, "SELECT scriptname FROM schemaversions ORDER BY scriptname"));
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<List<string>> QueryAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }
}
