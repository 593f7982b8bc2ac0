using System.Reflection;
using System.Runtime.CompilerServices;
using DbUp;
using DbUp.Engine.Output;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace FinancialPipeline.ControlDb;

/// <summary>
/// Applies the versioned migrations of <c>sql/postgres/</c> (embedded) with DbUp. Several function instances may
/// start at once: a session advisory lock serialises them, so each script runs exactly once and the others
/// see the journal and do nothing. A database that already has every script is recognised with one query, without
/// loading DbUp: that is the common case of a function's cold start.
/// </summary>
/// <param name="dataSource">When given, the up-to-date check and the lock use its pool (a host's warm connection).</param>
public sealed partial class ControlDbMigrator(string connectionString, ILogger<ControlDbMigrator> logger, NpgsqlDataSource? dataSource = null)
{
    private const long MigrationLockKey = 0x46505f4d4947; // "FP_MIG"
    private const string Prefix = "migrations.";

    /// <summary>The embedded scripts, by the names DbUp journals them under.</summary>
    public static IReadOnlyList<string> ScriptNames { get; } =
        [.. Assembly.GetExecutingAssembly().GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal)];

    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        await using var conn = dataSource is null ? new NpgsqlConnection(connectionString) : dataSource.CreateConnection();
        await conn.OpenAsync(cancellationToken);
        if (await IsUpToDateAsync(conn, cancellationToken))
        {
            LogMigrated(logger, 0);
            return;
        }

        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", conn))
        {
            lockCmd.Parameters.AddWithValue("key", MigrationLockKey);
            await lockCmd.ExecuteNonQueryAsync(cancellationToken);
        }

        try
        {
            LogMigrated(logger, ApplyPendingScripts());
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", conn);
            unlock.Parameters.AddWithValue("key", MigrationLockKey);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    /// <summary>DbUp, in its own method so that a host whose database is up to date never loads it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int ApplyPendingScripts()
    {
        var upgrader = DeployChanges.To
            .PostgresqlDatabase(connectionString)
            .WithScriptsEmbeddedInAssembly(Assembly.GetExecutingAssembly(), name => name.StartsWith(Prefix, StringComparison.Ordinal))
            .WithTransactionPerScript()
            .LogTo(new UpgradeLog(logger))
            .Build();
        var result = upgrader.PerformUpgrade();
        if (!result.Successful)
        {
            throw new InvalidOperationException($"control DB migration {result.ErrorScript?.Name} failed: {result.Error?.Message}", result.Error);
        }

        return result.Scripts.Count();
    }

    private static async Task<bool> IsUpToDateAsync(NpgsqlConnection conn, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT to_regclass('public.schemaversions') IS NOT NULL
               AND (SELECT count(DISTINCT scriptname) FROM schemaversions WHERE scriptname = ANY(string_to_array(@names, E'\n')))
                   = cardinality(string_to_array(@names, E'\n'))
            """,
            conn);
        cmd.Parameters.AddWithValue("names", string.Join('\n', ScriptNames)); // resource names have no line breaks
        try
        {
            return await cmd.ExecuteScalarAsync(cancellationToken) is true;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return false; // no journal yet: a fresh database
        }
    }

    /// <summary>Inserts the local default job (dev and tests only).</summary>
    public async Task SeedLocalDefaultsAsync(CancellationToken cancellationToken = default)
    {
        await using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("seed.local_default_job.sql")
            ?? throw new InvalidOperationException("embedded seed script missing");
        using var reader = new StreamReader(stream);
        var sql = await reader.ReadToEndAsync(cancellationToken);
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(cancellationToken);
#pragma warning disable CA2100 // the script is this assembly's embedded sql/postgres/seed file, not input
        await using var cmd = new NpgsqlCommand(sql, conn);
#pragma warning restore CA2100
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "control DB up to date ({Applied} migration(s) applied now)")]
    private static partial void LogMigrated(ILogger logger, int applied);

    private sealed class UpgradeLog(ILogger logger) : IUpgradeLog
    {
#pragma warning disable CA2254 // DbUp hands us composite format strings.
        public void LogTrace(string format, params object[] args) => logger.LogTrace(format, args);

        public void LogDebug(string format, params object[] args) => logger.LogDebug(format, args);

        public void LogInformation(string format, params object[] args) => logger.LogDebug(format, args);

        public void LogWarning(string format, params object[] args) => logger.LogWarning(format, args);

        public void LogError(string format, params object[] args) => logger.LogError(format, args);

        public void LogError(Exception ex, string format, params object[] args) => logger.LogError(ex, format, args);
#pragma warning restore CA2254
    }
}
