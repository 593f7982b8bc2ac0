namespace FinancialPipeline.Storage.Gcs;

/// <summary>Settings of <see cref="GcsObjectStore"/>; the defaults talk to production GCS with Application Default Credentials.</summary>
public sealed class GcsOptions
{
    public const string EmulatorHostVariable = "STORAGE_EMULATOR_HOST";

    /// <summary>GCS requires every resumable chunk except the last to be a multiple of this (256 KiB).</summary>
    public const int ChunkGranularity = 256 * 1024;

    /// <summary>
    /// An emulator ("http://127.0.0.1:4443" or "127.0.0.1:4443"); when set, requests go there without credentials.
    /// Defaults to the STORAGE_EMULATOR_HOST environment variable; set it to null to ignore that variable.
    /// </summary>
    public string? EmulatorHost { get; set; } = Environment.GetEnvironmentVariable(EmulatorHostVariable);

    /// <summary>The authenticated endpoint, used when <see cref="EmulatorHost"/> is empty.</summary>
    public Uri Endpoint { get; set; } = new("https://storage.googleapis.com");

    /// <summary>OAuth scope requested when the ADC credential needs one (service-account keys do, metadata-server credentials do not).</summary>
    public string Scope { get; set; } = "https://www.googleapis.com/auth/devstorage.read_write";

    /// <summary>Returns a bearer token per request (null sends none); replaces ADC, e.g. in tests. Ignored against an emulator.</summary>
    public Func<CancellationToken, Task<string?>>? AccessTokenSource { get; set; }

    /// <summary>Objects up to this many bytes go in one simple upload; larger ones use a resumable session.</summary>
    public long ResumableThreshold { get; set; } = 8L * 1024 * 1024;

    /// <summary>Bytes per resumable PUT; a positive multiple of <see cref="ChunkGranularity"/>.</summary>
    public int ChunkSize { get; set; } = 8 * 1024 * 1024;

    /// <summary>Page size of objects.list (maxResults, ≤ 1000); null lets the server choose.</summary>
    public int? ListPageSize { get; set; }

    /// <summary>Attempts per request including the first; 429, 408, 5xx and network errors are retried.</summary>
    public int MaxAttempts { get; set; } = 6;

    /// <summary>First backoff delay; later ones grow exponentially, with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Upper bound of one backoff delay, and of an honoured Retry-After.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(32);

    internal void Validate()
    {
        if (ResumableThreshold < 0)
        {
            throw new ArgumentException($"ResumableThreshold must not be negative (was {ResumableThreshold}).", nameof(ResumableThreshold));
        }

        if (ChunkSize <= 0 || ChunkSize % ChunkGranularity != 0)
        {
            throw new ArgumentException($"ChunkSize must be a positive multiple of {ChunkGranularity} (was {ChunkSize}).", nameof(ChunkSize));
        }

        if (ListPageSize is < 1 or > 1000)
        {
            throw new ArgumentException($"ListPageSize must be within 1..1000 (was {ListPageSize}).", nameof(ListPageSize));
        }

        if (MaxAttempts < 1)
        {
            throw new ArgumentException($"MaxAttempts must be at least 1 (was {MaxAttempts}).", nameof(MaxAttempts));
        }

        if (RetryBaseDelay <= TimeSpan.Zero || RetryMaxDelay < RetryBaseDelay)
        {
            throw new ArgumentException($"Need 0 < RetryBaseDelay ({RetryBaseDelay}) <= RetryMaxDelay ({RetryMaxDelay}).", nameof(RetryBaseDelay));
        }

        if (string.IsNullOrWhiteSpace(EmulatorHost) && !Endpoint.IsAbsoluteUri)
        {
            throw new ArgumentException($"Endpoint must be an absolute URI (was {Endpoint}).", nameof(Endpoint));
        }
    }

    /// <summary>The base address requests go to, and whether they carry credentials.</summary>
    internal (Uri BaseAddress, bool Authenticated) ResolveEndpoint()
    {
        if (string.IsNullOrWhiteSpace(EmulatorHost))
        {
            return (new Uri(Endpoint.GetLeftPart(UriPartial.Authority)), true);
        }

        var host = EmulatorHost.Trim();
        var withScheme = host.Contains("://", StringComparison.Ordinal) ? host : "http://" + host;
        if (!Uri.TryCreate(withScheme, UriKind.Absolute, out var uri))
        {
            throw new ArgumentException($"{EmulatorHostVariable} '{EmulatorHost}' is neither host:port nor an absolute URL.", nameof(EmulatorHost));
        }

        return (new Uri(uri.GetLeftPart(UriPartial.Authority)), false);
    }
}
