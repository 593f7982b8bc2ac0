using FinancialPipeline.Core.Jobs;

namespace FinancialPipeline.ControlDb;

/// <summary>
/// One row of <c>ingestion_job_config</c> as stored, before any rule is applied, with who changed it last: what
/// <c>fp jobs</c> lists (a row breaking a rule included) and what <c>fp jobs set</c> keeps of a row it updates.
/// </summary>
public sealed record StoredJobConfig(
    string JobName,
    string Tickers,
    int? Interval,
    int? Overlap,
    string BucketName,
    string? SilverBucketName,
    string? Provider,
    string? BarInterval,
    int? LookbackSeconds,
    bool Active,
    string UpdatedBy,
    DateTimeOffset UpdatedAt)
{
    /// <summary>The row under the rules Extract applies.</summary>
    /// <exception cref="JobConfigException">The row breaks a rule; the message names the column and the value.</exception>
    public JobConfig Validate() =>
        JobConfig.Create(JobName, Tickers, Interval, Overlap, BucketName, SilverBucketName, Provider, BarInterval, LookbackSeconds, Active);
}
