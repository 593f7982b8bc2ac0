using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FinancialPipeline.DevServices;
using Microsoft.AspNetCore.Http;

namespace FinancialPipeline.Warehouse.Tests.Fakes;

/// <summary>How a fake job behaves: polls answered "not complete" first, then success or the error.</summary>
internal sealed record JobScript(
    int PendingPolls = 0,
    string? ErrorReason = null,
    string? ErrorMessage = null,
    string? ErrorLocation = null,
    long DmlAffectedRows = 0,
    long BytesProcessed = 0,
    long BytesBilled = 0,
    bool DoneOnInsert = false,
    IReadOnlyList<string?[]>? Rows = null)
{
    public static JobScript Success(long rows = 3, long processed = 1024, long billed = 10_485_760, int pendingPolls = 0) =>
        new(pendingPolls, DmlAffectedRows: rows, BytesProcessed: processed, BytesBilled: billed);

    public static JobScript Failure(string reason, string message, string? location = null, bool doneOnInsert = false) =>
        new(ErrorReason: reason, ErrorMessage: message, ErrorLocation: location, DoneOnInsert: doneOnInsert);
}

/// <summary>A canned HTTP failure; <see cref="AfterApplying"/> performs the request first and then loses the answer.</summary>
internal sealed record Fault(int Status, int? RetryAfterSeconds = null, string? Reason = null, bool AfterApplying = false);

internal sealed record RecordedRequest(
    string Method,
    string Kind,
    string? JobId,
    IReadOnlyDictionary<string, string> Query,
    string? Authorization,
    JsonNode? Body,
    int ResponseStatus);

/// <summary>
/// An in-process BigQuery REST v2 stand-in on 127.0.0.1: jobs.insert, jobs.get and getQueryResults with scripted
/// outcomes and faults, and tables.get over the tables it holds. A successful job's <c>CREATE TABLE IF NOT EXISTS</c>
/// creates its table with the column list, and <c>ALTER TABLE … ADD COLUMN IF NOT EXISTS</c> appends the column. It
/// rejects (HTTP 400, reason "fakeRejected") any request whose shape the real service would not accept or the client
/// promised to send, and records every request.
/// </summary>
internal sealed partial class FakeBigQueryServer : IAsyncDisposable
{
    private LoopbackHttpServer _http = null!;
    private readonly ConcurrentDictionary<string, FakeJob> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentQueue<string> _violations = new();
    private readonly ConcurrentDictionary<string, int> _successfulInserts = new(StringComparer.Ordinal);

    /// <summary>Tables by <c>dataset.table</c>: their top-level column names in order.</summary>
    private readonly ConcurrentDictionary<string, List<string>> _tables = new(StringComparer.Ordinal);

    /// <summary>tables.get answers given verbatim, by <c>dataset.table</c>, for malformed-answer tests.</summary>
    private readonly ConcurrentDictionary<string, JsonObject> _rawTables = new(StringComparer.Ordinal);

    private FakeBigQueryServer(string projectId, string location, string? expectedToken)
    {
        ProjectId = projectId;
        Location = location;
        ExpectedToken = expectedToken;
    }

    public string ProjectId { get; }

    public string Location { get; }

    public string? ExpectedToken { get; }

    public Uri BaseAddress => _http.BaseAddress;

    public Func<string, JobScript> ScriptFor { get; set; } = _ => JobScript.Success();

    public ConcurrentQueue<Fault> InsertFaults { get; } = new();

    public ConcurrentQueue<Fault> GetJobFaults { get; } = new();

    public ConcurrentQueue<Fault> PollFaults { get; } = new();

    public ConcurrentQueue<Fault> TableFaults { get; } = new();

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    public IReadOnlyList<string> Violations => [.. _violations];

    public static async Task<FakeBigQueryServer> StartAsync(string projectId = "fp-test-project", string location = "us-east4", string? expectedToken = "test-token")
    {
        var server = new FakeBigQueryServer(projectId, location, expectedToken);
        server._http = await LoopbackHttpServer.StartAsync(server.HandleAsync);
        return server;
    }

    public int SuccessfulInserts(string jobId) => _successfulInserts.GetValueOrDefault(jobId);

    public IReadOnlyList<RecordedRequest> RequestsOf(string kind) => [.. _requests.Where(r => r.Kind == kind)];

    /// <summary>A job that already exists, as if an earlier delivery had inserted it.</summary>
    public void SeedJob(string jobId, string sql, JobScript script)
    {
        _jobs[jobId] = new FakeJob(jobId, sql, script);
        _successfulInserts.AddOrUpdate(jobId, 1, (_, n) => n + 1);
    }

    /// <summary>A table that already exists with these columns, as if an earlier version had created it.</summary>
    public void SeedTable(string dataset, string table, params string[] columns) => _tables[$"{dataset}.{table}"] = [.. columns];

    /// <summary>Answers tables.get of that table with <paramref name="resource"/> as it is.</summary>
    public void SeedTableResource(string dataset, string table, JsonObject resource) => _rawTables[$"{dataset}.{table}"] = resource;

    /// <summary>The table's columns in order, or null when there is no such table.</summary>
    public IReadOnlyList<string>? ColumnsOf(string dataset, string table)
    {
        if (!_tables.TryGetValue($"{dataset}.{table}", out var columns))
        {
            return null;
        }

        lock (columns)
        {
            return [.. columns];
        }
    }

    public ValueTask DisposeAsync() => _http.DisposeAsync();

    private async Task HandleAsync(HttpContext context)
    {
        var segments = context.Request.Path.Value!.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var query = context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal);
        var authorization = context.Request.Headers.Authorization.Count > 0 ? context.Request.Headers.Authorization.ToString() : null;
        JsonNode? body = null;
        if (context.Request.ContentLength is > 0 || context.Request.Method == "POST")
        {
            body = await JsonNode.ParseAsync(context.Request.Body);
        }

        // bigquery/v2/projects/{p}/jobs[/{id}], bigquery/v2/projects/{p}/queries/{id} or
        // bigquery/v2/projects/{p}/datasets/{d}/tables/{t} (the table's "dataset.table" stands where a job id would)
        string kind;
        string? jobId = segments.Length == 6 ? segments[5] : null;
        if (segments.Length is < 5 or > 8 || segments[0] != "bigquery" || segments[1] != "v2" || segments[2] != "projects")
        {
            kind = "unknown";
        }
        else
        {
            kind = (context.Request.Method, segments[4], segments.Length) switch
            {
                ("POST", "jobs", 5) => "insert",
                ("GET", "jobs", 6) => "get",
                ("GET", "queries", 6) => "poll",
                ("GET", "datasets", 8) when segments[6] == "tables" => "table",
                _ => "unknown",
            };
            if (kind == "table")
            {
                jobId = $"{segments[5]}.{segments[7]}";
            }
        }

        var (status, response, retryAfter) = kind == "unknown"
            ? (404, Error(404, "notFound", $"fake: no route {context.Request.Method} {context.Request.Path}"), null)
            : Handle(kind, segments[3], jobId, query, authorization, body);

        _requests.Enqueue(new RecordedRequest(context.Request.Method, kind, jobId ?? body?["jobReference"]?["jobId"]?.GetValue<string>(), query, authorization, body, status));
        context.Response.StatusCode = status;
        if (retryAfter is { } seconds)
        {
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        await context.Response.WriteAsJsonAsync(response);
    }

    private (int Status, JsonNode Body, int? RetryAfter) Handle(
        string kind, string project, string? jobId, Dictionary<string, string> query, string? authorization, JsonNode? body)
    {
        var problems = new List<string>();
        if (project != ProjectId)
        {
            problems.Add($"project in path '{project}' is not '{ProjectId}'");
        }

        var expectedAuth = ExpectedToken is null ? null : "Bearer " + ExpectedToken;
        if (authorization != expectedAuth)
        {
            problems.Add($"Authorization '{authorization}' is not '{expectedAuth}'");
        }

        if (kind == "insert")
        {
            CheckInsertShape(body, problems);
            jobId = body?["jobReference"]?["jobId"]?.GetValue<string>();
        }
        else if (kind != "table")
        {
            if (query.GetValueOrDefault("location") != Location)
            {
                problems.Add($"{kind}: location query parameter '{query.GetValueOrDefault("location")}' is not '{Location}'");
            }

            if (kind == "poll" && !long.TryParse(query.GetValueOrDefault("timeoutMs"), CultureInfo.InvariantCulture, out _))
            {
                problems.Add("poll: timeoutMs missing");
            }
        }

        if (problems.Count > 0)
        {
            foreach (var p in problems)
            {
                _violations.Enqueue(p);
            }

            return (400, Error(400, "fakeRejected", string.Join("; ", problems)), null);
        }

        var faults = kind switch { "insert" => InsertFaults, "get" => GetJobFaults, "table" => TableFaults, _ => PollFaults };
        if (faults.TryDequeue(out var fault))
        {
            if (fault.AfterApplying && kind == "insert")
            {
                _ = Insert(body!, jobId!);
            }

            return (fault.Status, Error(fault.Status, fault.Reason ?? (fault.Status == 429 ? "rateLimitExceeded" : "backendError"), $"fake fault {fault.Status}"), fault.RetryAfterSeconds);
        }

        return kind switch
        {
            "insert" => Insert(body!, jobId!),
            "get" => GetJob(jobId!),
            "table" => GetTable(jobId!),
            _ => Poll(jobId!, int.TryParse(query.GetValueOrDefault("maxResults"), CultureInfo.InvariantCulture, out var max) ? max : 0),
        };
    }

    private (int, JsonNode, int?) Insert(JsonNode body, string jobId)
    {
        var sql = body["configuration"]!["query"]!["query"]!.GetValue<string>();
        var job = new FakeJob(jobId, sql, ScriptFor(jobId));
        if (!_jobs.TryAdd(jobId, job))
        {
            return (409, Error(409, "duplicate", $"Already Exists: Job {ProjectId}:{Location}.{jobId}"), null);
        }

        _successfulInserts.AddOrUpdate(jobId, 1, (_, n) => n + 1);
        if (job.Script.ErrorReason is null)
        {
            ApplyDdl(sql);
        }

        return (200, JobResource(job, done: job.Script.DoneOnInsert), null);
    }

    /// <summary>What a successful job's table DDL does to the tables (the fake runs it at insert).</summary>
    private void ApplyDdl(string sql)
    {
        if (CreateTable().Match(sql) is { Success: true } create && create.Groups["project"].Value == ProjectId)
        {
            var columns = ColumnLine().Matches(sql[create.Index..]).Select(m => m.Groups[1].Value.Trim('`')).ToList();
            _tables.TryAdd(create.Groups["table"].Value, columns);
        }

        foreach (Match alter in AddColumn().Matches(sql))
        {
            if (alter.Groups["project"].Value == ProjectId && _tables.TryGetValue(alter.Groups["table"].Value, out var columns))
            {
                lock (columns)
                {
                    if (!columns.Contains(alter.Groups["column"].Value, StringComparer.OrdinalIgnoreCase))
                    {
                        columns.Add(alter.Groups["column"].Value);
                    }
                }
            }
        }
    }

    /// <summary>tables.get: the table resource with <c>schema.fields</c>, or 404 notFound as BigQuery words it.</summary>
    private (int, JsonNode, int?) GetTable(string datasetTable)
    {
        if (_rawTables.TryGetValue(datasetTable, out var raw))
        {
            return (200, raw.DeepClone(), null);
        }

        var (dataset, table) = (datasetTable.Split('.')[0], datasetTable.Split('.')[1]);
        if (ColumnsOf(dataset, table) is not { } columns)
        {
            return (404, Error(404, "notFound", $"Not found: Table {ProjectId}:{datasetTable}"), null);
        }

        return (200, new JsonObject
        {
            ["kind"] = "bigquery#table",
            ["id"] = $"{ProjectId}:{datasetTable}",
            ["tableReference"] = new JsonObject { ["projectId"] = ProjectId, ["datasetId"] = dataset, ["tableId"] = table },
            ["schema"] = new JsonObject
            {
                ["fields"] = new JsonArray(columns.Select(c => (JsonNode)new JsonObject { ["name"] = c, ["type"] = "STRING", ["mode"] = "NULLABLE" }).ToArray()),
            },
            ["type"] = "TABLE",
            ["location"] = Location,
        }, null);
    }

    private (int, JsonNode, int?) GetJob(string jobId)
    {
        if (!_jobs.TryGetValue(jobId, out var job))
        {
            return (404, Error(404, "notFound", $"Not found: Job {ProjectId}:{jobId}"), null);
        }

        return (200, JobResource(job, done: job.PendingPolls == 0), null);
    }

    private (int, JsonNode, int?) Poll(string jobId, int maxResults)
    {
        if (!_jobs.TryGetValue(jobId, out var job))
        {
            return (404, Error(404, "notFound", $"Not found: Job {ProjectId}:{jobId}"), null);
        }

        var reference = new JsonObject { ["projectId"] = ProjectId, ["jobId"] = jobId, ["location"] = Location };
        if (job.TryConsumePendingPoll())
        {
            return (200, new JsonObject { ["kind"] = "bigquery#getQueryResultsResponse", ["jobReference"] = reference, ["jobComplete"] = false }, null);
        }

        if (job.Script.ErrorReason is { } reason)
        {
            // getQueryResults reports a failed job as an HTTP error carrying the job's error.
            return (400, Error(400, reason, job.Script.ErrorMessage!), null);
        }

        var result = new JsonObject
        {
            ["kind"] = "bigquery#getQueryResultsResponse",
            ["jobReference"] = reference,
            ["jobComplete"] = true,
            ["totalRows"] = (job.Script.Rows?.Count ?? 0).ToString(CultureInfo.InvariantCulture),
            ["totalBytesProcessed"] = job.Script.BytesProcessed.ToString(CultureInfo.InvariantCulture),
            ["cacheHit"] = false,
        };
        if (job.IsDml)
        {
            result["numDmlAffectedRows"] = job.Script.DmlAffectedRows.ToString(CultureInfo.InvariantCulture);
        }

        // Rows as getQueryResults sends them: {"f":[{"v":"text"|null}, …]}, at most maxResults of them.
        if (job.Script.Rows is { } rows && maxResults > 0)
        {
            result["rows"] = new JsonArray(rows.Take(maxResults)
                .Select(row => (JsonNode)new JsonObject { ["f"] = new JsonArray(row.Select(v => (JsonNode)new JsonObject { ["v"] = v }).ToArray()) })
                .ToArray());
        }

        return (200, result, null);
    }

    private JsonObject JobResource(FakeJob job, bool done)
    {
        var status = new JsonObject { ["state"] = done ? "DONE" : "RUNNING" };
        var statistics = new JsonObject { ["creationTime"] = "1704205800000" };
        if (done && job.Script.ErrorReason is { } reason)
        {
            var error = new JsonObject { ["reason"] = reason, ["message"] = job.Script.ErrorMessage };
            if (job.Script.ErrorLocation is { } location)
            {
                error["location"] = location;
            }

            status["errorResult"] = error;
            status["errors"] = new JsonArray(error.DeepClone());
        }
        else if (done)
        {
            statistics["totalBytesProcessed"] = job.Script.BytesProcessed.ToString(CultureInfo.InvariantCulture);
            var query = new JsonObject
            {
                ["totalBytesProcessed"] = job.Script.BytesProcessed.ToString(CultureInfo.InvariantCulture),
                ["totalBytesBilled"] = job.Script.BytesBilled.ToString(CultureInfo.InvariantCulture),
                ["statementType"] = job.StatementType,
            };
            if (job.IsDml)
            {
                query["numDmlAffectedRows"] = job.Script.DmlAffectedRows.ToString(CultureInfo.InvariantCulture);
            }

            statistics["query"] = query;
        }

        return new JsonObject
        {
            ["kind"] = "bigquery#job",
            ["id"] = $"{ProjectId}:{Location}.{job.JobId}",
            ["jobReference"] = new JsonObject { ["projectId"] = ProjectId, ["jobId"] = job.JobId, ["location"] = Location },
            ["configuration"] = new JsonObject
            {
                ["jobType"] = "QUERY",
                ["query"] = new JsonObject { ["query"] = job.Sql, ["useLegacySql"] = false },
            },
            ["status"] = status,
            ["statistics"] = statistics,
        };
    }

    private void CheckInsertShape(JsonNode? body, List<string> problems)
    {
        var reference = body?["jobReference"];
        if (reference?["projectId"]?.GetValue<string>() != ProjectId)
        {
            problems.Add("insert: jobReference.projectId missing or wrong");
        }

        if (reference?["location"]?.GetValue<string>() != Location)
        {
            problems.Add("insert: jobReference.location missing or wrong");
        }

        var jobId = reference?["jobId"]?.GetValue<string>();
        if (jobId is null || jobId.Length > 1024 || !jobId.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
        {
            problems.Add($"insert: jobReference.jobId '{jobId}' is not a valid job id");
        }

        var q = body?["configuration"]?["query"];
        if (q?["query"]?.GetValueKind() != JsonValueKind.String)
        {
            problems.Add("insert: configuration.query.query missing");
        }

        if (q?["useLegacySql"]?.GetValueKind() != JsonValueKind.False)
        {
            problems.Add("insert: configuration.query.useLegacySql must be false");
        }

        if (q?["parameterMode"]?.GetValue<string>() != "NAMED")
        {
            problems.Add("insert: configuration.query.parameterMode must be NAMED");
        }

        if (q?["queryParameters"] is not JsonArray parameters)
        {
            problems.Add("insert: configuration.query.queryParameters must be an array");
            return;
        }

        foreach (var p in parameters)
        {
            if (p?["name"]?.GetValueKind() != JsonValueKind.String || p["parameterType"]?["type"]?.GetValueKind() != JsonValueKind.String || p["parameterValue"] is not JsonObject)
            {
                problems.Add($"insert: malformed query parameter {p?.ToJsonString()}");
            }
        }
    }

    private static JsonObject Error(int code, string reason, string message) => new()
    {
        ["error"] = new JsonObject
        {
            ["code"] = code,
            ["message"] = message,
            ["errors"] = new JsonArray(new JsonObject { ["message"] = message, ["domain"] = "global", ["reason"] = reason }),
            ["status"] = code switch { 400 => "INVALID_ARGUMENT", 404 => "NOT_FOUND", 409 => "ALREADY_EXISTS", 429 => "RESOURCE_EXHAUSTED", _ => "UNAVAILABLE" },
        },
    };

    [GeneratedRegex(@"CREATE TABLE IF NOT EXISTS `(?<project>[a-z0-9-]+)\.(?<table>\w+\.\w+)`")]
    private static partial Regex CreateTable();

    /// <summary>A column line of a CREATE TABLE's list (four spaces, the name, a type in capitals).</summary>
    [GeneratedRegex(@"^\s{4}(`?[A-Za-z_]+`?)\s+[A-Z]", RegexOptions.Multiline)]
    private static partial Regex ColumnLine();

    [GeneratedRegex(@"ALTER TABLE `(?<project>[a-z0-9-]+)\.(?<table>\w+\.\w+)` ADD COLUMN IF NOT EXISTS (?<column>\w+)")]
    private static partial Regex AddColumn();

    private sealed class FakeJob(string jobId, string sql, JobScript script)
    {
        private int _pendingPolls = script.DoneOnInsert ? 0 : script.PendingPolls;

        public string JobId { get; } = jobId;

        public string Sql { get; } = sql;

        public JobScript Script { get; } = script;

        /// <summary>
        /// <c>statistics.query.statementType</c> from the statement's first keyword after comments; BigQuery sends
        /// <c>numDmlAffectedRows</c> only for DML (INSERT, UPDATE, DELETE, MERGE), never for a SELECT or DDL.
        /// </summary>
        public string StatementType { get; } = sql.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0 && !l.StartsWith("--", StringComparison.Ordinal))
            ?.Split(' ', '(')[0].ToUpperInvariant() switch
        {
            "SELECT" or "WITH" => "SELECT",
            "CREATE" => "CREATE_TABLE",
            "ALTER" => "ALTER_TABLE",
            { } keyword => keyword,
            null => "SCRIPT",
        };

        public bool IsDml => StatementType is "INSERT" or "UPDATE" or "DELETE" or "MERGE";

        public int PendingPolls => Volatile.Read(ref _pendingPolls);

        public bool TryConsumePendingPoll()
        {
            while (true)
            {
                var current = Volatile.Read(ref _pendingPolls);
                if (current == 0)
                {
                    return false;
                }

                if (Interlocked.CompareExchange(ref _pendingPolls, current - 1, current) == current)
                {
                    return true;
                }
            }
        }
    }
}
