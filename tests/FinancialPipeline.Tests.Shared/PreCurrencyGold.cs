namespace FinancialPipeline.Tests.Shared;

/// <summary>The gold table as versions before <c>currency</c> created it in DuckDB, to test its in-place migration.</summary>
public static class PreCurrencyGold
{
    /// <summary>Creates the table and inserts one MSFT hour (2026-11-20 14:00 UTC, close 1.5) merged by 'old-execution'.</summary>
    public const string CreateWithOneHourSql = """
        SET TimeZone = 'UTC';
        CREATE TABLE financial_data_hour (
            ticker VARCHAR NOT NULL, "hour" TIMESTAMPTZ NOT NULL, open DOUBLE NOT NULL, high DOUBLE NOT NULL,
            low DOUBLE NOT NULL, close DOUBLE NOT NULL, volume BIGINT NOT NULL, vwap DOUBLE, bar_count BIGINT NOT NULL,
            return_pct DOUBLE, range_pct DOUBLE, execution_id VARCHAR NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (ticker, "hour"));
        INSERT INTO financial_data_hour VALUES
            ('MSFT', TIMESTAMPTZ '2026-11-20 14:00:00+00', 1, 2, 0.5, 1.5, 10, 1.3, 1, NULL, 300, 'old-execution', TIMESTAMPTZ '2026-11-20 16:00:00+00');
        """;

    public static readonly DateTimeOffset Hour = new(2026, 11, 20, 14, 0, 0, TimeSpan.Zero);
}
