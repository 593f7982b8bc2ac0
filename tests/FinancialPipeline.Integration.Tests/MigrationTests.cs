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
