using System.Collections.Concurrent;
using System.Net;
using System.Text;
using CloudNative.CloudEvents;
using FinancialPipeline.Core.Contracts;
using FinancialPipeline.Hosting;
using Microsoft.Extensions.DependencyInjection;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Core.Tests;

/// <summary>
/// The host's own lines for a request (failed, rejected, handled) carry the identifiers the function parsed from the
/// payload, and a rejection records the body's execution id: over HTTP, against a real function host.
/// </summary>
public sealed class EventLogContextTests : IAsyncLifetime
{
    private const string ExecutionId = "6f0e8d7c-1111-4222-8333-944455556666";

    private readonly CapturingLoggerProvider _logs = new();
    private readonly RecordingSink _sink = new();
    private readonly HttpClient _http = new();
    private FunctionApp _host = null!;

    public async Task InitializeAsync()
    {
        var builder = FunctionHost.CreateBuilder([], port: 0);
        builder.Logging.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug);
        builder.Services.AddSingleton<IRejectionSink>(_sink);
        builder.Services.AddSingleton<DescribingFunction>();
        _host = builder.Build();
        _host.MapCloudEventFunction<DescribingFunction>("describing");
        await _host.StartAsync();
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task A_failure_is_logged_by_the_host_with_the_execution_id_and_stage_the_function_described()
    {
        var status = await PushAsync("fail", "m-fail");

        Assert.Equal(HttpStatusCode.InternalServerError, status);
        var failed = Assert.Single(_logs.Lines, l => l.Message.Contains("failed on message m-fail", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Error, failed.Level);
        Assert.Equal(ExecutionId, failed.Scope("execution_id"));
        Assert.Equal("silver", failed.Scope("stage"));
        var handled = Assert.Single(_logs.Lines, l => l.Message.Contains("answered 500 for message m-fail", StringComparison.Ordinal));
        Assert.Equal(ExecutionId, handled.Scope("execution_id"));
        Assert.All(new[] { failed, handled }, l => Assert.Equal("/projects/p/topics/fp-bronze-completed", l.Scope("RequestPath")));
        Assert.False(string.IsNullOrEmpty(failed.Scope("RequestId")?.ToString()));
        Assert.Equal(failed.Scope("RequestId"), handled.Scope("RequestId"));
    }

    [Fact]
    public async Task AspNetCores_own_request_lines_which_carry_no_execution_id_are_not_written_below_warning()
    {
        var status = await PushAsync("fail", "m-aspnet");

        Assert.Equal(HttpStatusCode.InternalServerError, status);
        Assert.DoesNotContain(_logs.Lines, l => l.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) && l.Level < LogLevel.Warning);
        Assert.All(
            _logs.Lines.Where(l => l.Message.Contains("m-aspnet", StringComparison.Ordinal)),
            l => Assert.Equal(ExecutionId, l.Scope("execution_id")));
    }

    [Fact]
    public async Task An_environment_failure_is_one_error_line_without_a_stack_trace_and_the_detail_is_at_debug()
    {
        var status = await PushAsync("outage", "m-outage");

        Assert.Equal(HttpStatusCode.InternalServerError, status);
        var failed = Assert.Single(_logs.Lines, l => l.Level >= LogLevel.Warning && l.Message.Contains("m-outage", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Error, failed.Level);
        Assert.Null(failed.Exception);
        Assert.Equal("describing could not finish message m-outage: the webhook answered 503 ServiceUnavailable; answering 500 so Pub/Sub redelivers", failed.Message);
        Assert.Equal(ExecutionId, failed.Scope("execution_id"));
        var detail = Assert.Single(_logs.Lines, l => l.Exception is not null && l.Message.Contains("m-outage", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Debug, detail.Level);
    }

    [Fact]
    public async Task A_rejection_after_parsing_records_the_bodys_execution_id_although_the_message_had_no_attribute()
    {
        var status = await PushAsync("reject", "m-reject");

        Assert.Equal(HttpStatusCode.OK, status);
        var rejected = Assert.Single(_sink.Recorded, r => r.MessageId == "m-reject");
        Assert.Equal(ExecutionId, rejected.ExecutionId);
        Assert.Equal("job_name", rejected.Field);
        var line = Assert.Single(_logs.Lines, l => l.Message.Contains("rejected message m-reject", StringComparison.Ordinal));
        Assert.Equal(ExecutionId, line.Scope("execution_id"));
    }

    [Fact]
    public async Task A_message_rejected_before_it_was_parsed_has_no_execution_id_and_no_scope()
    {
        var status = await PushAsync("not json", "m-poison");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Null(Assert.Single(_sink.Recorded, r => r.MessageId == "m-poison").ExecutionId);
        var line = Assert.Single(_logs.Lines, l => l.Message.Contains("rejected message m-poison", StringComparison.Ordinal));
        Assert.Null(line.Scope("execution_id"));
    }

    [Fact]
    public async Task Requests_do_not_share_a_context()
    {
        Assert.Equal(HttpStatusCode.InternalServerError, await PushAsync("fail", "m-first"));
        Assert.Equal(HttpStatusCode.OK, await PushAsync("not json", "m-second"));

        var second = Assert.Single(_logs.Lines, l => l.Message.Contains("answered 200 for message m-second", StringComparison.Ordinal));
        Assert.Null(second.Scope("execution_id"));
        Assert.Null(EventLogContext.Current);
    }

    private async Task<HttpStatusCode> PushAsync(string data, string messageId)
    {
        var base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(data));
        var body = $$$"""{"message":{"data":"{{{base64}}}","messageId":"{{{messageId}}}","attributes":{}},"subscription":"projects/p/subscriptions/fp-transform"}""";
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(new Uri(_host.BoundAddress(), "/projects/p/topics/fp-bronze-completed"), content);
        return response.StatusCode;
    }

    /// <summary>Parses like a stage: "fail", "outage" and "reject" are payloads it understood, anything else it cannot parse.</summary>
    private sealed class DescribingFunction : ICloudEventFunction<MessagePublishedData>
    {
        public Task HandleAsync(CloudEvent cloudEvent, MessagePublishedData data, CancellationToken cancellationToken)
        {
            var text = Encoding.UTF8.GetString(data.Message.Data.Span);
            if (text is not ("fail" or "reject" or "outage"))
            {
                throw new MessageRejectedException("data", "not JSON");
            }

            EventLogContext.Describe(new LogScope(("execution_id", ExecutionId), ("stage", "silver")));
            return text switch
            {
                "fail" => Task.FromException(new InvalidOperationException("the work failed")),
                "outage" => Task.FromException(new EnvironmentFailureException("the webhook answered 503 ServiceUnavailable", new HttpRequestException("inner"))),
                _ => Task.FromException(new MessageRejectedException("job_name", "unknown job 'x'")),
            };
        }
    }

    private sealed class RecordingSink : IRejectionSink
    {
        public ConcurrentQueue<RejectedMessage> Recorded { get; } = new();

        public Task RecordAsync(RejectedMessage rejected, CancellationToken cancellationToken)
        {
            Recorded.Enqueue(rejected);
            return Task.CompletedTask;
        }
    }
}
