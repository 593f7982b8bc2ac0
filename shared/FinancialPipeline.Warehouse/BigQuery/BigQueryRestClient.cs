using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FinancialPipeline.GoogleApis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace FinancialPipeline.Warehouse.BigQuery;

/// <summary>Runs GoogleSQL query jobs and reads table metadata; the part of Google.Cloud.BigQuery.V2.BigQueryClient the pipeline uses.</summary>
public interface IBigQueryJobClient
{
    /// <summary>
    /// Runs <paramref name="sql"/> as the job <paramref name="jobId"/> and waits for it. Re-sending the same job id
    /// never runs the query twice: an existing job with that id is adopted and awaited instead.
    /// </summary>
    /// <exception cref="BigQueryJobException">The job failed or could not be run.</exception>
    Task<BigQueryJobResult> ExecuteQueryAsync(
        string sql,
        IReadOnlyList<BigQueryParameter> parameters,
        string jobId,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// The first <paramref name="maxRows"/> rows of a finished query job's result (getQueryResults). Cells are
    /// BigQuery's strings (INT64 as text, TIMESTAMP as microseconds since the epoch); SQL NULL is null.
    /// </summary>
    /// <exception cref="BigQueryJobException">The result could not be read.</exception>
    Task<IReadOnlyList<IReadOnlyList<string?>>> ReadRowsAsync(
        BigQueryJobResult job,
        int maxRows,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// The table's metadata (tables.get) in the client's project, or null when BigQuery answers 404 (no such table or
    /// dataset; the official client's GetTableAsync throws instead). A read: no job, no slots, no table update.
    /// </summary>
    /// <exception cref="BigQueryJobException">The metadata could not be read.</exception>
    Task<BigQueryTable?> GetTableAsync(
        string datasetId,
        string tableId,
        CancellationToken cancellationToken = default);
}

/// <summary>
/// BigQuery REST v2 query jobs over HttpClient: jobs.insert with a caller-chosen id, getQueryResults long polls,
/// jobs.get for the final status and statistics. Transient HTTP failures are retried with the same job id;
/// a job that failed transiently is re-run under <c>{jobId}-r{n}</c>.
/// </summary>
public sealed partial class BigQueryRestClient : IBigQueryJobClient
{
    private static readonly HashSet<string> TransientReasons = new(StringComparer.Ordinal)
    {
        "rateLimitExceeded",
        "backendError",
        "internalError",
        "jobInternalError",
    };

    /// <summary>One credential lookup per process, shared by every client (the credential refreshes its own tokens).</summary>
    private static readonly AdcTokenSource ApplicationDefault = new(BigQueryOptions.DefaultScope);

    private readonly HttpClient _http;
    private readonly BigQueryOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<BigQueryRestClient> _logger;
    private readonly Func<CancellationToken, Task<string?>> _tokenSource;
    private readonly ResiliencePipeline<ApiResponse> _httpRetry;
    private readonly ResiliencePipeline _jobRetry;

    public BigQueryRestClient(
        HttpClient httpClient,
        IOptions<BigQueryOptions> options,
        TimeProvider timeProvider,
        ILogger<BigQueryRestClient> logger)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        _http = httpClient;
        _options = options.Value;
        _options.ThrowIfInvalid();
        _time = timeProvider;
        _logger = logger;
        _tokenSource = _options.AccessTokenSource ?? ApplicationDefault.GetAccessTokenAsync;
        _httpRetry = BuildHttpRetry();
        _jobRetry = BuildJobRetry();
    }

    public string ProjectId => _options.ProjectId;

    public async Task<BigQueryJobResult> ExecuteQueryAsync(
        string sql,
        IReadOnlyList<BigQueryParameter> parameters,
        string jobId,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sql);
        ArgumentNullException.ThrowIfNull(parameters);
        BigQueryJobIds.ValidateBase(jobId);
        var parameterJson = parameters.Select(p => p.ToJson()).ToArray();

        var run = 0;
        try
        {
            return await _jobRetry.ExecuteAsync(
                async ct =>
                {
                    var runJobId = run == 0 ? jobId : BigQueryJobIds.ForRetry(jobId, run);
                    run++;
                    return await RunJobAsync(sql, parameterJson, runJobId, ct);
                },
                cancellationToken);
        }
        catch (TransientJobFailure failure)
        {
            throw new BigQueryJobException(
                failure.Error.Message,
                failure.Error.Reason,
                failure.Error.Location,
                failure.JobId,
                isPermanent: false,
                errors: failure.Errors);
        }
    }

    public async Task<IReadOnlyList<IReadOnlyList<string?>>> ReadRowsAsync(
        BigQueryJobResult job,
        int maxRows,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRows);
        var path = string.Create(
            CultureInfo.InvariantCulture,
            $"bigquery/v2/projects/{_options.ProjectId}/queries/{Uri.EscapeDataString(job.JobId)}?location={Uri.EscapeDataString(job.Location)}&timeoutMs=0&maxResults={maxRows}&formatOptions.useInt64Timestamp=true");
        var response = await SendAsync(HttpMethod.Get, path, null, cancellationToken);
        if (!response.IsSuccess || response.Body is not { } body)
        {
            throw ApiFailure(response, job.JobId, "getQueryResults");
        }

        if (!body.TryGetProperty("jobComplete", out var complete) || complete.ValueKind != JsonValueKind.True)
        {
            throw new BigQueryJobException($"BigQuery job {job.JobId} has no result yet", "notComplete", null, job.JobId, isPermanent: false);
        }

        if (!body.TryGetProperty("rows", out var rows) || rows.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        return rows.EnumerateArray()
            .Select(row => (IReadOnlyList<string?>)row.GetProperty("f").EnumerateArray()
                .Select(cell => cell.TryGetProperty("v", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null)
                .ToList())
            .ToList();
    }

    public async Task<BigQueryTable?> GetTableAsync(
        string datasetId,
        string tableId,
        CancellationToken cancellationToken = default)
    {
        RequireId(datasetId, "dataset", nameof(datasetId));
        RequireId(tableId, "table", nameof(tableId));
        var table = $"{_options.ProjectId}.{datasetId}.{tableId}";
        var path = $"bigquery/v2/projects/{_options.ProjectId}/datasets/{datasetId}/tables/{tableId}";
        var response = await SendAsync(HttpMethod.Get, path, null, cancellationToken);
        if (response.Status == HttpStatusCode.NotFound)
        {
            return null;
        }

        if (!response.IsSuccess || response.Body is not { ValueKind: JsonValueKind.Object } body)
        {
            throw ApiFailure(response, table, "tables.get", resourceIsJob: false);
        }

        return new BigQueryTable(_options.ProjectId, datasetId, tableId, ReadColumnNames(body, table));
    }

    /// <summary>A dataset or table id goes into the request's path: anything but letters, digits and underscores is refused.</summary>
    private static void RequireId(string id, string kind, string parameter)
    {
        if (!BigQueryNames.IsValidDatasetOrTableId(id))
        {
            throw new ArgumentException($"BigQuery {kind} id '{id}' must be 1-{BigQueryNames.MaxDatasetOrTableLength} letters, digits or underscores", parameter);
        }
    }

    /// <summary>
    /// <c>schema.fields[].name</c>. BigQuery leaves out an empty schema, which reads as no columns; a field without a
    /// name is an error naming it.
    /// </summary>
    private static List<string> ReadColumnNames(JsonElement table, string tableName)
    {
        if (!table.TryGetProperty("schema", out var schema) || schema.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (schema.ValueKind != JsonValueKind.Object)
        {
            throw new BigQueryJobException($"BigQuery tables.get {tableName}: schema is {schema.ValueKind}, expected an object");
        }

        if (!schema.TryGetProperty("fields", out var fields) || fields.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (fields.ValueKind != JsonValueKind.Array)
        {
            throw new BigQueryJobException($"BigQuery tables.get {tableName}: schema.fields is {fields.ValueKind}, expected an array");
        }

        var names = new List<string>();
        var i = 0;
        foreach (var field in fields.EnumerateArray())
        {
            if (field.ValueKind != JsonValueKind.Object
                || !field.TryGetProperty("name", out var name)
                || name.ValueKind != JsonValueKind.String
                || name.GetString() is not { Length: > 0 } text)
            {
                throw new BigQueryJobException(string.Create(CultureInfo.InvariantCulture, $"BigQuery tables.get {tableName}: schema.fields[{i}].name is missing or not a non-empty string"));
            }

            names.Add(text);
            i++;
        }

        return names;
    }

    private async Task<BigQueryJobResult> RunJobAsync(string sql, JsonObject[] parameters, string jobId, CancellationToken ct)
    {
        var (job, reused) = await InsertJobAsync(sql, parameters, jobId, ct);
        var started = _time.GetTimestamp();
        while (!IsDone(job))
        {
            var remaining = _options.Timeout - _time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                LogJobTimedOut(jobId, _options.Timeout);
                throw new BigQueryJobException(
                    $"BigQuery job {jobId} did not finish within {_options.Timeout}; it may still be running",
                    "timeout",
                    null,
                    jobId,
                    isPermanent: false);
            }

            var poll = await PollQueryResultsAsync(jobId, remaining, ct);
            if (poll == PollOutcome.Pending)
            {
                await Task.Delay(_options.PollInterval, _time, ct);
                continue;
            }

            // Complete, or the poll itself failed: the job resource is the authority on status and statistics.
            job = await GetJobAsync(jobId, ct);
            if (!IsDone(job))
            {
                await Task.Delay(_options.PollInterval, _time, ct);
            }
        }

        return Finish(job, jobId, reused);
    }

    private async Task<(JsonElement Job, bool Reused)> InsertJobAsync(
        string sql, JsonObject[] parameters, string jobId, CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["jobReference"] = new JsonObject
            {
                ["projectId"] = _options.ProjectId,
                ["jobId"] = jobId,
                ["location"] = _options.Location,
            },
            ["configuration"] = new JsonObject
            {
                ["query"] = new JsonObject
                {
                    ["query"] = sql,
                    ["useLegacySql"] = false,
                    ["parameterMode"] = "NAMED",
                    ["queryParameters"] = new JsonArray(parameters.Select(p => (JsonNode)p.DeepClone()).ToArray()),
                },
            },
        };

        LogInsertingJob(jobId, _options.Location, parameters.Length);
        var response = await SendAsync(HttpMethod.Post, JobsPath(), body, ct);
        if (response.Status == HttpStatusCode.Conflict)
        {
            LogAdoptingExistingJob(jobId);
            var existing = await GetJobAsync(jobId, ct);
            EnsureSameQuery(existing, sql, jobId);
            return (existing, true);
        }

        if (!response.IsSuccess || response.Body is not { } job)
        {
            throw ApiFailure(response, jobId, "jobs.insert");
        }

        return (job, false);
    }

    private async Task<JsonElement> GetJobAsync(string jobId, CancellationToken ct)
    {
        var response = await SendAsync(HttpMethod.Get, $"{JobsPath()}/{Uri.EscapeDataString(jobId)}?location={Location()}", null, ct);
        if (!response.IsSuccess || response.Body is not { } job)
        {
            throw ApiFailure(response, jobId, "jobs.get");
        }

        return job;
    }

    /// <summary>
    /// One getQueryResults long poll, not retried: any failure (including a failed job, which this call reports
    /// as an HTTP error) is settled by the jobs.get that follows.
    /// </summary>
    private async Task<PollOutcome> PollQueryResultsAsync(string jobId, TimeSpan remaining, CancellationToken ct)
    {
        var wait = remaining < _options.ServerWait ? remaining : _options.ServerWait;
        var path = string.Create(
            CultureInfo.InvariantCulture,
            $"bigquery/v2/projects/{_options.ProjectId}/queries/{Uri.EscapeDataString(jobId)}?location={Location()}&timeoutMs={(long)wait.TotalMilliseconds}&maxResults=0");
        ApiResponse response;
        try
        {
            response = await SendOnceAsync(HttpMethod.Get, path, null, ct);
        }
        catch (Exception ex) when (IsTransientException(ex, ct))
        {
            LogPollFailed(jobId, ex.Message);
            return PollOutcome.Unknown;
        }

        if (!response.IsSuccess || response.Body is not { } body)
        {
            LogPollFailed(jobId, $"HTTP {(int)response.Status}");
            return PollOutcome.Unknown;
        }

        return body.TryGetProperty("jobComplete", out var complete) && complete.ValueKind == JsonValueKind.True
            ? PollOutcome.Complete
            : PollOutcome.Pending;
    }

    private BigQueryJobResult Finish(JsonElement job, string jobId, bool reused)
    {
        var status = job.GetProperty("status");
        var errors = ReadErrors(status, "errors");
        if (status.TryGetProperty("errorResult", out var errorResult) && errorResult.ValueKind == JsonValueKind.Object)
        {
            var error = ReadError(errorResult);
            if (IsTransientJobError(error, errors))
            {
                LogJobFailedTransiently(jobId, error.Reason, error.Message);
                throw new TransientJobFailure(jobId, error, errors);
            }

            LogJobFailed(jobId, error.Reason, error.Location, error.Message);
            throw new BigQueryJobException(error.Message, error.Reason, error.Location, jobId, isPermanent: true, errors: errors);
        }

        var statistics = job.TryGetProperty("statistics", out var s) ? s : default;
        var query = statistics.ValueKind == JsonValueKind.Object && statistics.TryGetProperty("query", out var q) ? q : default;
        var location = job.TryGetProperty("jobReference", out var reference) && reference.TryGetProperty("location", out var l)
            ? l.GetString() ?? _options.Location
            : _options.Location;
        var result = new BigQueryJobResult(
            jobId,
            location,
            ReadInt64(query, "numDmlAffectedRows"),
            ReadInt64(query, "totalBytesProcessed") ?? ReadInt64(statistics, "totalBytesProcessed"),
            ReadInt64(query, "totalBytesBilled"),
            reused);
        LogJobDone(jobId, result.NumDmlAffectedRows, result.TotalBytesProcessed, result.TotalBytesBilled);
        return result;
    }

    private static bool IsDone(JsonElement job) =>
        job.TryGetProperty("status", out var status)
        && status.TryGetProperty("state", out var state)
        && state.ValueEquals("DONE");

    private static void EnsureSameQuery(JsonElement job, string sql, string jobId)
    {
        if (job.TryGetProperty("configuration", out var configuration)
            && configuration.TryGetProperty("query", out var query)
            && query.TryGetProperty("query", out var existingSql)
            && existingSql.GetString() is { } text
            && !string.Equals(text, sql, StringComparison.Ordinal))
        {
            throw new BigQueryJobException(
                $"BigQuery job id {jobId} already exists for a different query; job ids must be unique per query",
                "duplicateJobIdMismatch",
                null,
                jobId,
                isPermanent: true);
        }
    }

    /// <summary>Transient reasons, or DML that lost a race with another DML on the same table.</summary>
    internal static bool IsTransientJobError(BigQueryError error, IReadOnlyList<BigQueryError> errors) =>
        (error.Reason is { } reason && TransientReasons.Contains(reason))
        || IsConcurrentUpdate(error.Message)
        || errors.Any(e => IsConcurrentUpdate(e.Message));

    private static bool IsConcurrentUpdate(string message) =>
        message.Contains("Could not serialize access to table", StringComparison.Ordinal)
        && message.Contains("due to concurrent update", StringComparison.Ordinal);

    private static bool IsTransientResponse(ApiResponse response)
    {
        var code = (int)response.Status;
        if (code == 429 || code >= 500)
        {
            return true;
        }

        // BigQuery reports some rate limits as 403 rateLimitExceeded.
        return code is 400 or 403 && ReadApiErrors(response.Body).Any(e => e.Reason is { } r && TransientReasons.Contains(r));
    }

    private static bool IsTransientException(Exception ex, CancellationToken ct) => HttpTransience.IsTransient(ex, ct);

    /// <param name="resource">The job id, or with <paramref name="resourceIsJob"/> false the table the call was about.</param>
    private BigQueryJobException ApiFailure(ApiResponse response, string resource, string operation, bool resourceIsJob = true)
    {
        var errors = ReadApiErrors(response.Body);
        var message = response.Body is { } body
            && body.TryGetProperty("error", out var error)
            && error.TryGetProperty("message", out var m)
            && m.GetString() is { Length: > 0 } text
                ? text
                : $"{operation} returned HTTP {(int)response.Status}: {response.RawText}";
        var first = errors.Count > 0 ? errors[0] : null;
        var permanent = !IsTransientResponse(response);
        LogApiFailed(operation, resource, (int)response.Status, first?.Reason, message);
        return new BigQueryJobException(message, first?.Reason, first?.Location, resourceIsJob ? resource : null, permanent, (int)response.Status, errors);
    }

    private async Task<ApiResponse> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken ct) =>
        await _httpRetry.ExecuteAsync(
            async token => await SendOnceAsync(method, path, body, token),
            ct);

    private async Task<ApiResponse> SendOnceAsync(HttpMethod method, string path, JsonNode? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(_options.BaseAddress, path));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        var token = await _tokenSource(ct);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await _http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        JsonElement? json = null;
        if (text.Length > 0)
        {
            try
            {
                using var document = JsonDocument.Parse(text);
                json = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                // Proxies and load balancers answer with HTML; keep the text for the error message.
            }
        }

        return new ApiResponse(response.StatusCode, json, RetryAfter(response), text.Length <= 512 ? text : text[..512]);
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - _time.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    private ResiliencePipeline<ApiResponse> BuildHttpRetry()
    {
        if (_options.MaxRetryAttempts == 0)
        {
            return ResiliencePipeline<ApiResponse>.Empty;
        }

        return new ResiliencePipelineBuilder<ApiResponse> { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions<ApiResponse>
            {
                MaxRetryAttempts = _options.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.RetryBaseDelay,
                MaxDelay = _options.MaxRetryDelay,
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } ex
                        ? IsTransientException(ex, args.Context.CancellationToken)
                        : IsTransientResponse(args.Outcome.Result!)),
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Result?.RetryAfter is { } retryAfter
                        ? (TimeSpan?)(retryAfter < _options.MaxRetryDelay ? retryAfter : _options.MaxRetryDelay)
                        : null),
                OnRetry = args =>
                {
                    LogHttpRetry(
                        args.AttemptNumber + 1,
                        args.RetryDelay,
                        args.Outcome.Result is { } r ? ((int)r.Status).ToString(CultureInfo.InvariantCulture) : args.Outcome.Exception?.GetType().Name);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    private ResiliencePipeline BuildJobRetry()
    {
        if (_options.MaxRetryAttempts == 0)
        {
            return ResiliencePipeline.Empty;
        }

        return new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = _options.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.RetryBaseDelay,
                MaxDelay = _options.MaxRetryDelay,
                ShouldHandle = new PredicateBuilder().Handle<TransientJobFailure>(),
                OnRetry = args =>
                {
                    LogJobRetry(args.AttemptNumber + 1, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    private string JobsPath() => $"bigquery/v2/projects/{_options.ProjectId}/jobs";

    private string Location() => Uri.EscapeDataString(_options.Location);

    private static BigQueryError ReadError(JsonElement e) => new(
        e.TryGetProperty("reason", out var reason) ? reason.GetString() : null,
        e.TryGetProperty("location", out var location) ? location.GetString() : null,
        e.TryGetProperty("message", out var message) ? message.GetString() ?? "" : "");

    private static List<BigQueryError> ReadErrors(JsonElement parent, string property) =>
        parent.ValueKind == JsonValueKind.Object
        && parent.TryGetProperty(property, out var array)
        && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.Object).Select(ReadError).ToList()
            : [];

    private static List<BigQueryError> ReadApiErrors(JsonElement? body) =>
        body is { ValueKind: JsonValueKind.Object } b && b.TryGetProperty("error", out var error)
            ? ReadErrors(error, "errors")
            : [];

    /// <summary>BigQuery sends int64 as JSON strings; accept numbers too.</summary>
    private static long? ReadInt64(JsonElement parent, string property)
    {
        if (parent.ValueKind != JsonValueKind.Object || !parent.TryGetProperty(property, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetInt64(out var n) => n,
            JsonValueKind.String when long.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => n,
            _ => null,
        };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Inserting BigQuery job {JobId} in {Location} with {ParameterCount} parameters")]
    private partial void LogInsertingJob(string jobId, string location, int parameterCount);

    [LoggerMessage(Level = LogLevel.Information, Message = "BigQuery job {JobId} already exists; waiting for it instead of running the query again")]
    private partial void LogAdoptingExistingJob(string jobId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Polling BigQuery job {JobId} failed ({Failure}); asking jobs.get")]
    private partial void LogPollFailed(string jobId, string failure);

    [LoggerMessage(Level = LogLevel.Information, Message = "BigQuery job {JobId} done: {NumDmlAffectedRows} rows affected, {TotalBytesProcessed} bytes processed, {TotalBytesBilled} bytes billed")]
    private partial void LogJobDone(string jobId, long? numDmlAffectedRows, long? totalBytesProcessed, long? totalBytesBilled);

    [LoggerMessage(Level = LogLevel.Warning, Message = "BigQuery job {JobId} failed transiently ({Reason}): {BigQueryMessage}")]
    private partial void LogJobFailedTransiently(string jobId, string? reason, string bigQueryMessage);

    [LoggerMessage(Level = LogLevel.Error, Message = "BigQuery job {JobId} failed ({Reason} at {ErrorLocation}): {BigQueryMessage}")]
    private partial void LogJobFailed(string jobId, string? reason, string? errorLocation, string bigQueryMessage);

    [LoggerMessage(Level = LogLevel.Error, Message = "BigQuery job {JobId} did not finish within {Timeout}")]
    private partial void LogJobTimedOut(string jobId, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Warning, Message = "BigQuery {Operation} of {Resource} failed with HTTP {StatusCode} ({Reason}): {BigQueryMessage}")]
    private partial void LogApiFailed(string operation, string resource, int statusCode, string? reason, string bigQueryMessage);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Retrying BigQuery HTTP call, retry {Retry} in {Delay} after {Failure}")]
    private partial void LogHttpRetry(int retry, TimeSpan delay, string? failure);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Re-running failed BigQuery job under a new id, retry {Retry} in {Delay}")]
    private partial void LogJobRetry(int retry, TimeSpan delay);

    private enum PollOutcome
    {
        Pending,
        Complete,
        Unknown,
    }

    private sealed record ApiResponse(HttpStatusCode Status, JsonElement? Body, TimeSpan? RetryAfter, string RawText)
    {
        public bool IsSuccess => (int)Status is >= 200 and <= 299;
    }

    /// <summary>A job that ended with a transient error: it changed nothing, so a new job may run the query again.</summary>
    private sealed class TransientJobFailure(string jobId, BigQueryError error, IReadOnlyList<BigQueryError> errors)
        : Exception(error.Message)
    {
        public string JobId { get; } = jobId;

        public BigQueryError Error { get; } = error;

        public IReadOnlyList<BigQueryError> Errors { get; } = errors;
    }
}
