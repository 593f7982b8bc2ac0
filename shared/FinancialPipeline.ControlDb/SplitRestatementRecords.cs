using System.Text.Json;
using System.Text.Json.Serialization;
using Npgsql;

namespace FinancialPipeline.ControlDb;

/// <summary>
/// A stock split a bronze run restated (table <c>split_restatement</c>, migration 0015). <paramref name="Complete"/>: no
/// bar of the ticker stays on the old basis; otherwise the next run that sees the split looks again.
/// </summary>
/// <param name="Bars">Bars before the run's window that the re-fetch returned (0 when silver held none on the old basis).</param>
public sealed record RestatedSplit(
    [property: JsonPropertyName("ticker")] string Ticker,
    [property: JsonPropertyName("split_ts")] DateTimeOffset SplitDate,
    [property: JsonPropertyName("numerator")] double Numerator,
    [property: JsonPropertyName("denominator")] double Denominator,
    [property: JsonPropertyName("bars")] long Bars,
    [property: JsonPropertyName("complete")] bool Complete);

/// <summary>A <c>split_restatement</c> row: which execution recorded it, and when.</summary>
public sealed record RestatedSplitRow(string JobName, RestatedSplit Split, Guid RestatedBy, DateTimeOffset RestatedAt);

public sealed partial class ExecutionLedger
{
    /// <summary>
    /// <paramref name="update"/> (the SUCCESS update) followed, in the same statement, by the insert of the restated
    /// splits (<c>@splits</c>, a jsonb array) for the row it updated: none when the lease was lost. A complete row stays
    /// as it is (the first execution to complete it stays its <c>restated_by</c>); an incomplete one takes the newer run's
    /// outcome. Two runs recording the same split meet on the primary key and the later one waits for the earlier's
    /// commit, then updates or skips: neither fails. Rows go in (ticker, split) order, so two runs recording several
    /// splits lock them in the same order and cannot deadlock. The statement answers the count of updated rows.
    /// </summary>
    private static string RecordingRestatedSplits(string update) => $"""
        WITH done AS ({update}
            RETURNING execution_id, job_name),
        recorded AS (
            INSERT INTO split_restatement AS r
                (job_name, ticker, split_ts, numerator, denominator, complete, bars, restated_by, restated_at)
            SELECT d.job_name, e.s->>'ticker', (e.s->>'split_ts')::timestamptz, (e.s->>'numerator')::double precision,
                   (e.s->>'denominator')::double precision, (e.s->>'complete')::boolean, (e.s->>'bars')::bigint,
                   d.execution_id, @now
            FROM done d CROSS JOIN jsonb_array_elements(@splits) WITH ORDINALITY AS e(s, n)
            ORDER BY e.n
            ON CONFLICT (job_name, ticker, split_ts) DO UPDATE
            SET numerator = EXCLUDED.numerator, denominator = EXCLUDED.denominator, complete = EXCLUDED.complete,
                bars = EXCLUDED.bars, restated_by = EXCLUDED.restated_by, restated_at = EXCLUDED.restated_at
            WHERE NOT r.complete)
        SELECT count(*) FROM done
        """;

    /// <summary>The splits as the jsonb array <see cref="RecordingRestatedSplits"/> reads, in (ticker, split) order.</summary>
    /// <exception cref="ArgumentException">The same (ticker, split) twice, or a ratio that is not a positive number.</exception>
    private static string RestatedSplitsJson(IReadOnlyList<RestatedSplit> splits)
    {
        var ordered = splits.OrderBy(s => s.Ticker, StringComparer.Ordinal).ThenBy(s => s.SplitDate).ToList();
        for (var i = 0; i < ordered.Count; i++)
        {
            var s = ordered[i];
            if (!(double.IsFinite(s.Numerator) && s.Numerator > 0 && double.IsFinite(s.Denominator) && s.Denominator > 0))
            {
                throw new ArgumentException($"restated split of {s.Ticker} at {s.SplitDate:O}: ratio {s.Numerator}:{s.Denominator} is not two positive numbers", nameof(splits));
            }

            if (i > 0 && ordered[i - 1].Ticker == s.Ticker && ordered[i - 1].SplitDate == s.SplitDate)
            {
                throw new ArgumentException($"restated split of {s.Ticker} at {s.SplitDate:O} given twice", nameof(splits));
            }
        }

        return JsonSerializer.Serialize(ordered, ControlDbJson.Default.ListRestatedSplit);
    }

    /// <summary>The recorded restatements of <paramref name="tickers"/>' splits in <paramref name="jobName"/>, by ticker then split.</summary>
    public async Task<IReadOnlyList<RestatedSplitRow>> RestatedSplitsAsync(string jobName, IReadOnlyCollection<string> tickers, CancellationToken cancellationToken)
    {
        if (tickers.Count == 0)
        {
            return [];
        }

        // Tickers hold no comma (JobConfig's ticker rule): one text parameter, split on the server.
        await using var cmd = dataSource.CreateCommand("""
            SELECT job_name, ticker, split_ts, numerator, denominator, bars, complete, restated_by, restated_at
            FROM split_restatement
            WHERE job_name = @job_name AND ticker = ANY(string_to_array(@tickers, ','))
            ORDER BY ticker, split_ts
            """);
        cmd.Parameters.AddWithValue("job_name", jobName);
        cmd.Parameters.AddWithValue("tickers", string.Join(',', tickers));
        var rows = new List<RestatedSplitRow>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RestatedSplitRow(
                reader.GetString(0),
                new RestatedSplit(reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2), reader.GetDouble(3), reader.GetDouble(4), reader.GetInt64(5), reader.GetBoolean(6)),
                reader.GetGuid(7),
                reader.GetFieldValue<DateTimeOffset>(8)));
        }

        return rows;
    }

    /// <summary>
    /// When the oldest bronze run of <paramref name="jobName"/> (other than <paramref name="excluding"/>) whose bars may
    /// still be on their way to silver started: bronze SUCCESS or RUNNING, and no SUCCESS of silver for its execution.
    /// Null when there is none. Bars such a run ingested before a split are on the old basis and silver does not show
    /// them yet, so a split dated after it cannot be recorded as completely restated.
    /// </summary>
    public async Task<DateTimeOffset?> OldestUnsettledBronzeAsync(string jobName, Guid excluding, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT min(b.started_at) FROM ingestion_job_execution b
            WHERE b.job_name = @job_name AND b.stage = 'bronze' AND b.status IN ('SUCCESS', 'RUNNING') AND b.execution_id <> @exclude
              AND NOT EXISTS (SELECT 1 FROM ingestion_job_execution s
                              WHERE s.execution_id = b.execution_id AND s.stage = 'silver' AND s.status = 'SUCCESS')
            """);
        cmd.Parameters.AddWithValue("job_name", jobName);
        cmd.Parameters.AddWithValue("exclude", excluding);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) && !reader.IsDBNull(0) ? reader.GetFieldValue<DateTimeOffset>(0) : null;
    }
}
