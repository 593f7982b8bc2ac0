namespace FinancialPipeline.Warehouse.BigQuery;

/// <summary>Where and how patiently <see cref="BigQueryRestClient"/> runs query jobs.</summary>
public sealed class BigQueryOptions
{
    public const string DefaultScope = "https://www.googleapis.com/auth/bigquery";

    /// <summary>Project that owns (and is billed for) the jobs.</summary>
    public string ProjectId { get; set; } = "";

    /// <summary>Job location, e.g. <c>US</c>, <c>EU</c> or <c>us-east4</c>; must match the datasets the query touches.</summary>
    public string Location { get; set; } = "US";

    /// <summary>API root; the client appends <c>bigquery/v2/…</c>. Point it at a fake server in tests.</summary>
    public Uri BaseAddress { get; set; } = new("https://bigquery.googleapis.com/");

    /// <summary>Pause between two polls of an unfinished job (on top of the server-side wait of <see cref="ServerWait"/>).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one getQueryResults call may wait server-side for the job (<c>timeoutMs</c>).</summary>
    public TimeSpan ServerWait { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait for one job to finish before the client gives up on it (the job itself is not cancelled).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Retries after the first try, both for one HTTP call and for a job that failed transiently.</summary>
    public int MaxRetryAttempts { get; set; } = 5;

    /// <summary>First backoff delay; it doubles per retry (with jitter) up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Ceiling for one backoff delay, including one asked for by Retry-After.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Returns the OAuth access token for a request, or null to send none (emulators, tests).
    /// Null (the default) means Application Default Credentials with the BigQuery scope.
    /// </summary>
    public Func<CancellationToken, Task<string?>>? AccessTokenSource { get; set; }

    /// <summary>Every problem with these options, empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!BigQueryNames.IsValidProjectId(ProjectId))
        {
            errors.Add($"{nameof(ProjectId)} '{ProjectId}' is not a BigQuery project id (6-30 chars: lowercase letters, digits, hyphens; starts with a letter)");
        }

        if (!BigQueryNames.IsValidLocation(Location))
        {
            errors.Add($"{nameof(Location)} '{Location}' is not a BigQuery location such as US or us-east4");
        }

        if (!BaseAddress.IsAbsoluteUri)
        {
            errors.Add($"{nameof(BaseAddress)} '{BaseAddress}' must be absolute");
        }

        AddIfNotPositive(errors, nameof(PollInterval), PollInterval, allowZero: true);
        AddIfNotPositive(errors, nameof(ServerWait), ServerWait, allowZero: true);
        AddIfNotPositive(errors, nameof(Timeout), Timeout, allowZero: false);
        AddIfNotPositive(errors, nameof(RetryBaseDelay), RetryBaseDelay, allowZero: true);
        AddIfNotPositive(errors, nameof(MaxRetryDelay), MaxRetryDelay, allowZero: true);
        if (MaxRetryAttempts is < 0 or > 100)
        {
            errors.Add($"{nameof(MaxRetryAttempts)} {MaxRetryAttempts} must be between 0 and 100");
        }

        return errors;
    }

    internal void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid BigQueryOptions: " + string.Join("; ", errors));
        }
    }

    private static void AddIfNotPositive(List<string> errors, string name, TimeSpan value, bool allowZero)
    {
        if (value < TimeSpan.Zero || (!allowZero && value == TimeSpan.Zero))
        {
            errors.Add($"{name} {value} must be {(allowZero ? "zero or more" : "positive")}");
        }
    }
}
