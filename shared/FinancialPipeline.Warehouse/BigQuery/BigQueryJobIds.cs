using System.Globalization;

namespace FinancialPipeline.Warehouse.BigQuery;

/// <summary>
/// Deterministic job ids: the same (execution, stage, attempt, purpose) always names the same job, so a
/// redelivered message or a retried HTTP call meets BigQuery's duplicate-job check (409) instead of running
/// a MERGE twice. Form: <c>fp-{stage}[-{purpose}]-{execution:N}-a{attempt}</c>, retries of a failed job add <c>-r{n}</c>.
/// </summary>
public static class BigQueryJobIds
{
    public const int MaxLength = 1024;

    /// <summary>Longest base id a caller may pass, leaving room for the <c>-r{n}</c> suffix of job retries.</summary>
    public const int MaxBaseLength = MaxLength - 8;

    private const int MaxSegmentLength = 100;

    /// <summary>Job id for one query of one stage attempt.</summary>
    /// <param name="stage">Letters, digits and underscores (no hyphen: it separates segments), at most 100.</param>
    /// <param name="attempt">The stage attempt (0 or more); a new attempt is a new job.</param>
    /// <param name="purpose">Distinguishes several queries in one stage attempt, same rules as <paramref name="stage"/>.</param>
    public static string For(Guid executionId, string stage, int attempt, string? purpose = null)
    {
        if (executionId == Guid.Empty)
        {
            throw new ArgumentException("execution id must not be empty", nameof(executionId));
        }

        ValidateSegment(stage, nameof(stage));
        if (purpose is not null)
        {
            ValidateSegment(purpose, nameof(purpose));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(attempt);

        var purposePart = purpose is null ? "" : "-" + purpose;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"fp-{stage}{purposePart}-{executionId:N}-a{attempt}");
    }

    /// <summary>The id for the <paramref name="retry"/>-th re-run (1-based) of a job that failed transiently.</summary>
    public static string ForRetry(string jobId, int retry)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(retry);
        return string.Create(CultureInfo.InvariantCulture, $"{jobId}-r{retry}");
    }

    public static bool IsValid(string? jobId) =>
        jobId is { Length: >= 1 and <= MaxLength }
        && jobId.All(c => char.IsAsciiLetterOrDigit(c) || c == '_' || c == '-');

    internal static void ValidateBase(string jobId)
    {
        if (!IsValid(jobId) || jobId.Length > MaxBaseLength)
        {
            throw new ArgumentException(
                $"BigQuery job id '{jobId}' must be 1-{MaxBaseLength} letters, digits, underscores or hyphens",
                nameof(jobId));
        }
    }

    private static void ValidateSegment(string value, string name)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        if (value.Length is 0 or > MaxSegmentLength || !value.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
        {
            throw new ArgumentException(
                $"'{value}' must be 1-{MaxSegmentLength} letters, digits or underscores to be part of a job id",
                name);
        }
    }
}
