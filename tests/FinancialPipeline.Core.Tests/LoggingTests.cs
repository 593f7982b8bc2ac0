using System.Text.Json;
using FinancialPipeline.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FinancialPipeline.Core.Tests;

/// <summary>What a stage's log lines carry: Cloud Logging's JSON fields on Cloud Run, readable scopes in text logs.</summary>
public sealed class LoggingTests
{
    private static readonly LogScope StageScope = new(("execution_id", "6f0e8d7c-1111-4222-8333-944455556666"), ("stage", "silver"), ("job_name", "financial_extract"));

    [Fact]
    public void JsonLine_HasSeverityMessageAndEveryScopeAndMessageValue_AsTopLevelFields()
    {
        var scopes = new LoggerExternalScopeProvider();
        using var scope = scopes.Push(StageScope);
        var state = new LogScope(("Rows", 5), ("Ratio", 0.5), ("{OriginalFormat}", "wrote {Rows} rows"));
        var entry = new LogEntry<LogScope>(LogLevel.Warning, "FinancialPipeline.Stages.Runner.StageRunner", new EventId(7), state, null, (_, _) => "wrote 5 rows");

        var line = Write(entry, scopes);

        Assert.DoesNotContain('\n', line.TrimEnd('\n'));
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        Assert.Equal("WARNING", root.GetProperty("severity").GetString());
        Assert.Equal("wrote 5 rows", root.GetProperty("message").GetString());
        Assert.Equal("FinancialPipeline.Stages.Runner.StageRunner", root.GetProperty("category").GetString());
        Assert.Equal("6f0e8d7c-1111-4222-8333-944455556666", root.GetProperty("execution_id").GetString());
        Assert.Equal("silver", root.GetProperty("stage").GetString());
        Assert.Equal("financial_extract", root.GetProperty("job_name").GetString());
        Assert.Equal(5, root.GetProperty("Rows").GetInt32());
        Assert.Equal(0.5, root.GetProperty("Ratio").GetDouble());
        Assert.False(root.TryGetProperty("{OriginalFormat}", out _));
        Assert.False(root.TryGetProperty("stack_trace", out _));
        Assert.True(DateTimeOffset.TryParse(root.GetProperty("time").GetString(), out var time) && time.Offset == TimeSpan.Zero);
    }

    [Theory]
    [InlineData(LogLevel.Debug, "DEBUG")]
    [InlineData(LogLevel.Information, "INFO")]
    [InlineData(LogLevel.Error, "ERROR")]
    [InlineData(LogLevel.Critical, "CRITICAL")]
    public void Severity_IsCloudLoggingsName(LogLevel level, string severity)
    {
        var line = Write(new LogEntry<LogScope>(level, "c", default, new LogScope(), null, (_, _) => "m"), new LoggerExternalScopeProvider());
        using var json = JsonDocument.Parse(line);
        Assert.Equal(severity, json.RootElement.GetProperty("severity").GetString());
    }

    [Fact]
    public void Exception_GoesUnderStackTrace_AndAMessageValueNeverOverridesTheScope()
    {
        var scopes = new LoggerExternalScopeProvider();
        using var scope = scopes.Push(StageScope);
        var error = new InvalidOperationException("boom\nsecond line");
        var line = Write(new LogEntry<LogScope>(LogLevel.Error, "c", default, new LogScope(("stage", "forged")), error, (_, _) => "failed"), scopes);

        using var json = JsonDocument.Parse(line);
        Assert.Contains("boom\nsecond line", json.RootElement.GetProperty("stack_trace").GetString(), StringComparison.Ordinal);
        Assert.Equal("silver", json.RootElement.GetProperty("stage").GetString());
    }

    [Fact]
    public void TextScope_ReadsAsNameValuePairs()
    {
        Assert.Equal("execution_id=6f0e8d7c-1111-4222-8333-944455556666 stage=silver job_name=financial_extract", StageScope.ToString());
        Assert.Equal(["execution_id", "stage", "job_name"], StageScope.Select(p => p.Key));
    }

    private static string Write(LogEntry<LogScope> entry, IExternalScopeProvider scopes)
    {
        using var text = new StringWriter();
        new CloudLoggingJsonFormatter().Write(entry, scopes, text);
        return text.ToString();
    }
}
