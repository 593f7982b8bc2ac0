using DuckDB.NET.Data;

namespace FinancialPipeline.Warehouse;

/// <summary>
/// How every DuckDB session here handles time: the session's time zone is UTC, so TIMESTAMPTZ values come back as UTC
/// clock times, which are read as UTC instants.
/// </summary>
internal static class DuckDbUtc
{
    public const string SessionSql = "SET TimeZone = 'UTC'";

    public static async Task SetSessionAsync(DuckDBConnection conn, CancellationToken cancellationToken)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = SessionSql;
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A timestamp read in a UTC session, as the instant it is.</summary>
    public static DateTimeOffset Instant(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
}
