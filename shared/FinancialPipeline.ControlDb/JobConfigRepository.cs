using FinancialPipeline.Core.Jobs;
using Npgsql;

namespace FinancialPipeline.ControlDb;

/// <summary>
/// Reads and writes <c>ingestion_job_config</c>. What the stages read is validated into a <see cref="JobConfig"/>; the
/// operator CLI also sees rows as stored, so a row breaking a rule can be listed and repaired.
/// </summary>
public sealed class JobConfigRepository(NpgsqlDataSource dataSource)
{
    private const string SelectColumns = """
        SELECT job_name, tickers, interval, overlap, bucket_name, silver_bucket_name, provider, bar_interval,
               lookback_seconds, active, updated_by, updated_at
        FROM ingestion_job_config
        """;

    /// <summary>The job's config, or null when no such job exists. Throws <see cref="JobConfigException"/> for a bad row.</summary>
    public async Task<JobConfig?> FindAsync(string jobName, CancellationToken cancellationToken) =>
        (await FindStoredAsync(jobName, cancellationToken))?.Validate();

    /// <summary>The job's row as stored, also when it breaks a rule; null when no such job exists.</summary>
    public async Task<StoredJobConfig?> FindStoredAsync(string jobName, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(SelectColumns + " WHERE job_name = @job_name");
        cmd.Parameters.AddWithValue("job_name", jobName);
        return (await ReadAsync(cmd, cancellationToken)).SingleOrDefault();
    }

    /// <summary>Every row as stored, by job name; a row that breaks a rule is returned like the others.</summary>
    public async Task<IReadOnlyList<StoredJobConfig>> ListStoredAsync(CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(SelectColumns + " ORDER BY job_name");
        return await ReadAsync(cmd, cancellationToken);
    }

    private static async Task<IReadOnlyList<StoredJobConfig>> ReadAsync(NpgsqlCommand cmd, CancellationToken cancellationToken)
    {
        var rows = new List<StoredJobConfig>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            rows.Add(new StoredJobConfig(
                r.GetString(0),
                r.GetString(1),
                r.IsDBNull(2) ? null : r.GetInt32(2),
                r.IsDBNull(3) ? null : r.GetInt32(3),
                r.GetString(4),
                r.IsDBNull(5) ? null : r.GetString(5),
                r.IsDBNull(6) ? null : r.GetString(6),
                r.IsDBNull(7) ? null : r.GetString(7),
                r.IsDBNull(8) ? null : r.GetInt32(8),
                r.GetBoolean(9),
                r.GetString(10),
                new DateTimeOffset(r.GetDateTime(11), TimeSpan.Zero)));
        }

        return rows;
    }

    /// <summary>Creates or replaces a job (operator CLI, tests, benchmarks). Values are validated first.</summary>
    public async Task UpsertAsync(JobConfig job, string updatedBy, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            INSERT INTO ingestion_job_config
                (job_name, tickers, interval, overlap, bucket_name, silver_bucket_name, provider, bar_interval,
                 lookback_seconds, active, updated_by, updated_at)
            VALUES (@job_name, @tickers, @interval, @overlap, @bucket, @silver, @provider, @bar, @lookback, @active, @by, now())
            ON CONFLICT (job_name) DO UPDATE SET
                tickers = EXCLUDED.tickers, interval = EXCLUDED.interval, overlap = EXCLUDED.overlap,
                bucket_name = EXCLUDED.bucket_name, silver_bucket_name = EXCLUDED.silver_bucket_name,
                provider = EXCLUDED.provider, bar_interval = EXCLUDED.bar_interval,
                lookback_seconds = EXCLUDED.lookback_seconds, active = EXCLUDED.active,
                updated_by = EXCLUDED.updated_by, updated_at = now()
            """);
        cmd.Parameters.AddWithValue("job_name", job.JobName);
        cmd.Parameters.AddWithValue("tickers", string.Join(',', job.Tickers));
        cmd.Parameters.AddWithValue("interval", job.IntervalSeconds);
        cmd.Parameters.AddWithValue("overlap", job.OverlapSeconds);
        cmd.Parameters.AddWithValue("bucket", job.BucketName);
        cmd.Parameters.AddWithValue("silver", job.SilverBucketName);
        cmd.Parameters.AddWithValue("provider", job.Provider);
        cmd.Parameters.AddWithValue("bar", job.BarInterval);
        cmd.Parameters.AddWithValue("lookback", job.LookbackSeconds);
        cmd.Parameters.AddWithValue("active", job.Active);
        cmd.Parameters.AddWithValue("by", updatedBy);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
